export { s3ClientFor, startS3Server } from './s3-server.js';
export type { ConditionalPutHook, TestS3Server } from './s3-server.js';
export { mulberry32, seedFromEnv } from './random.js';
export { readGzipText, readSp500Rows, repoRoot, requireSharedData, sharedDataPath, sp500, SP500_FILE } from './shared-data.js';
export type { Sp500Row } from './shared-data.js';
export * from './aws-control-plane.js';
export * from './process.js';
