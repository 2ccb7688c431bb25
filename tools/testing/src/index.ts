export { s3ClientFor, startS3Server } from './s3-server.js';
export type { TestS3Server } from './s3-server.js';
