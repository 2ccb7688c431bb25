/**
 * A real S3-protocol server on loopback for tests: fauxqs, plus a request hook
 * that enforces `If-None-Match: *` on PutObject the way S3 does (412 when the
 * key exists), which the emulator itself ignores. Conditional PUTs of one key
 * are serialised until the previous one has answered, so two racing writers
 * see exactly one winner. The workspace's one such server: suites with extra
 * needs build on it (batch-runner's rival writer through `onConditionalPut`,
 * the reliability suite's fault-injecting proxy in front of `endpoint`).
 *
 * @example
 * import { startS3Server } from '@fibbars/testing';
 * const s3 = await startS3Server();
 * const store = openStore(`s3://${s3.bucket}/lake`, { s3Client: s3.client });
 * ...
 * await s3.stop();
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';

export interface TestS3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** A bucket created for this server. */
  bucket: string;
  /** A path-style client pointed at the server with dummy credentials. */
  client: S3Client;
  /** Environment for a child process using the SDK's standard settings. */
  env: Record<string, string>;
  /** Number of PUTs the hook answered with 412. */
  rejectedConditionalPuts(): number;
  /**
   * Runs `hook` on every `If-None-Match: *` PUT (multipart parts aside) that
   * the server enforces, once the PUTs of the same key before it have
   * answered and before the server looks for the key: a test can make
   * another writer win the race there. `undefined` removes it.
   */
  onConditionalPut(hook: ConditionalPutHook | undefined): void;
  /**
   * Holds the next request whose decoded path (with query) matches `path`
   * until `release()`; `reached` resolves when it arrives.
   */
  hold(path: RegExp): { reached: Promise<void>; release(): void };
  /**
   * How the server treats `If-None-Match: *` from now on: `enforce` (as S3,
   * the default), `ignore` (as the bare emulator and some S3-compatible
   * stores: the PUT overwrites), `refuse` (as OpenStack Swift: 501 NotImplemented).
   */
  setConditionalWrites(mode: 'enforce' | 'ignore' | 'refuse'): void;
  createBucket(name?: string): Promise<string>;
  stop(): Promise<void>;
}

/** What `onConditionalPut` hooks get: the object's decoded `/bucket/key` path, and whether the key exists now. */
export type ConditionalPutHook = (put: { path: string; exists(): Promise<boolean> }) => Promise<void>;

export function s3ClientFor(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    // Our own retries are part of what is tested; no hidden SDK retries of PUTs.
    maxAttempts: 1,
  });
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

/** S3's answer to If-None-Match where conditional writes are not implemented. */
const NOT_IMPLEMENTED_XML =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>' +
  '<Message>A header you provided implies functionality that is not implemented</Message><Header>If-None-Match</Header></Error>';
/** S3's answer to a create-only PUT of a key that exists. */
const PRECONDITION_FAILED_XML =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code>' +
  '<Message>At least one of the pre-conditions you specified did not hold</Message>' +
  '<Condition>If-None-Match</Condition></Error>';

/**
 * Takes the per-key lock of a conditional PUT: resolves once every earlier
 * conditional PUT of the same key has finished; the lock is released when
 * this request's connection closes.
 */
function lockKey(locks: Map<string, Promise<void>>, objectPath: string, onClose: (release: () => void) => void): Promise<void> {
  const previous = locks.get(objectPath) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => mine);
  locks.set(objectPath, chained);
  onClose(() => {
    release();
    if (locks.get(objectPath) === chained) locks.delete(objectPath);
  });
  return previous;
}

export async function startS3Server(): Promise<TestS3Server> {
  const app = buildApp({ logger: false });
  const locks = new Map<string, Promise<void>>();
  let rejected = 0;
  let port = 0;
  let mode: 'enforce' | 'ignore' | 'refuse' = 'enforce';
  let conditionalPutHook: ConditionalPutHook | undefined;
  let held: { path: RegExp; arrived: () => void; released: Promise<void> } | undefined;

  app.addHook('onRequest', async (request) => {
    const current = held;
    if (current === undefined || !current.path.test(decodeURIComponent(request.url))) return;
    held = undefined;
    current.arrived();
    await current.released;
  });

  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'PUT' || request.headers['if-none-match'] !== '*') return;
    if (mode === 'ignore') return;
    if (mode === 'refuse') {
      reply.code(501).header('content-type', 'application/xml').send(NOT_IMPLEMENTED_XML);
      return reply;
    }
    const objectPath = request.url.split('?')[0] ?? request.url;
    if (request.url.includes('uploadId=')) return; // a multipart part
    // Wait for any conditional PUT of the same key to finish, then hold the key.
    await lockKey(locks, objectPath, (release) => reply.raw.once('close', release));
    // Real HEADs over loopback (fastify's inject cannot load under Jest's ESM VM).
    const exists = async () => (await headStatus(port, objectPath)) === 200;
    if (conditionalPutHook) await conditionalPutHook({ path: decodeURIComponent(objectPath), exists });
    if (await exists()) {
      rejected += 1;
      reply.code(412).header('content-type', 'application/xml').send(PRECONDITION_FAILED_XML);
      return reply;
    }
    return;
  });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('fauxqs did not bind a TCP port');
  port = address.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = s3ClientFor(endpoint);

  const createBucket = async (name = `lake-${randomBytes(4).toString('hex')}`): Promise<string> => {
    await client.send(new CreateBucketCommand({ Bucket: name }));
    return name;
  };
  const bucket = await createBucket();

  return {
    endpoint,
    bucket,
    client,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    rejectedConditionalPuts: () => rejected,
    setConditionalWrites: (m) => {
      mode = m;
    },
    onConditionalPut: (hook) => {
      conditionalPutHook = hook;
    },
    hold(path) {
      let arrived!: () => void;
      let release!: () => void;
      const reached = new Promise<void>((resolve) => (arrived = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      held = { path, arrived, released };
      return { reached, release };
    },
    createBucket,
    async stop() {
      client.destroy();
      await app.close();
    },
  };
}
