// A real S3-protocol server on loopback (fauxqs), with the one thing it lacks:
// `If-None-Match: *` on PutObject answers 412 when the key exists, as S3 does.
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  client: S3Client;
  /** What the SDK (ours and ohlcv-core's default client) needs to reach it. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

function headStatus(port: number, objectPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'HEAD', path: objectPath, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function startS3(): Promise<TestS3> {
  const app = buildApp({ logger: false });
  const bucket = `lake-${randomBytes(4).toString('hex')}`;
  let port = 0;
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'PUT' || request.headers['if-none-match'] !== '*' || request.url.includes('uploadId=')) return;
    const objectPath = decodeURIComponent(request.url.split('?')[0] ?? request.url);
    if ((await headStatus(port, objectPath)) === 200) {
      reply
        .code(412)
        .header('content-type', 'application/xml')
        .send('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>');
      return reply;
    }
    return;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('fauxqs did not bind a TCP port');
  port = address.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    env: { AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_MAX_ATTEMPTS: '1' },
    async stop() {
      client.destroy();
      await app.close();
    },
  };
}
