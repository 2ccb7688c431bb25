// A real S3-protocol server on loopback (fauxqs) for jobs run as child
// processes, with the one thing the emulator lacks: `If-None-Match: *` on
// PutObject answers 412 when the key exists, as S3 does. Optionally a rival
// writer moves a dataset's head just before each of the job's commits lands,
// the race the commit protocol exists for.
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  client: S3Client;
  /** Environment that points the SDK of a child process at this server. */
  env: Record<string, string>;
  /** Datasets whose commits a rival writer beats, each time (e.g. `ohlcv_1d`). */
  rivalFor: Set<string>;
  /** Commit keys the rival published. */
  rivalCommits: string[];
  /** Conditional PUTs answered with 412. */
  rejected: string[];
  /** Holds the next request whose path matches until `release()`; `reached` resolves when it arrives. */
  hold(path: RegExp): { reached: Promise<void>; release(): void };
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

const PRECONDITION_FAILED =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code>' +
  '<Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>';

export async function startS3(): Promise<TestS3> {
  const app = buildApp({ logger: false });
  const bucket = `lake-${randomBytes(4).toString('hex')}`;
  const rivalFor = new Set<string>();
  const rivalCommits: string[] = [];
  const rejected: string[] = [];
  let port = 0;
  // Set once the server listens; the hook only runs after that.
  const sdk = {} as { client: S3Client };

  // The rival publishes version v as a copy of version v-1 (same files, its own
  // run id): the head moves, the data does not, so the job's retry meets the same race.
  async function publishRival(key: string, dataset: string, version: number): Promise<void> {
    let parent: Record<string, unknown> = { dataset, files: [], quarantine: [], meta: {} };
    if (version > 1) {
      const parentKey = key.replace(/\d{20}\.json$/, `${String(version - 1).padStart(20, '0')}.json`);
      const object = await sdk.client.send(new GetObjectCommand({ Bucket: bucket, Key: parentKey }));
      parent = JSON.parse(await object.Body!.transformToString()) as Record<string, unknown>;
    }
    const rival = { ...parent, version, parent: version - 1, runId: 'rival-writer', createdAt: new Date().toISOString() };
    await sdk.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${JSON.stringify(rival, null, 2)}\n` }));
    rivalCommits.push(key);
  }

  let held: { path: RegExp; arrived: () => void; released: Promise<void> } | undefined;
  app.addHook('onRequest', async (request) => {
    const current = held;
    if (current === undefined || !current.path.test(decodeURIComponent(request.url))) return;
    held = undefined;
    current.arrived();
    await current.released;
  });

  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'PUT' || request.headers['if-none-match'] !== '*' || request.url.includes('uploadId=')) return;
    const objectPath = decodeURIComponent(request.url.split('?')[0] ?? request.url);
    const commit = /^\/[^/]+\/(.*_commits\/([^/]+)\/(\d{20})\.json)$/.exec(objectPath);
    if (commit && rivalFor.has(commit[2] ?? '') && (await headStatus(port, objectPath)) !== 200) {
      await publishRival(commit[1] ?? '', commit[2] ?? '', Number(commit[3]));
    }
    if ((await headStatus(port, objectPath)) === 200) {
      rejected.push(objectPath);
      reply.code(412).header('content-type', 'application/xml').send(PRECONDITION_FAILED);
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
  sdk.client = client;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));

  return {
    endpoint,
    bucket,
    client,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_MAX_ATTEMPTS: '1',
    },
    rivalFor,
    rivalCommits,
    rejected,
    hold(path) {
      let arrived!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((resolve) => (arrived = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      held = { path, arrived, released };
      return { reached, release };
    },
    async stop() {
      client.destroy();
      await app.close();
    },
  };
}
