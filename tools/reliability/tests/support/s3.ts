/**
 * A real S3-protocol server on loopback (fauxqs 1.9.2) with the request hook
 * S3's conditional writes need (`If-None-Match: *` on an existing key answers
 * 412, which the emulator ignores), behind a small fault-injecting proxy: the
 * SDK in the tests, the fetchers and the batch-runner processes all talk to
 * the proxy, which fails the requests a scenario chooses (500, 503, a reset
 * before the request reaches the server, or a reset after the server has
 * applied it, so the client never hears the answer).
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';

export type StorageFault = '500' | '503' | 'reset' | 'lost-response';
/** Which request (1-based count through the proxy) gets which fault; undefined passes. */
export type FaultPlan = (n: number, method: string, path: string) => StorageFault | undefined;

export interface FaultyS3 {
  /** The proxy: what every client uses. */
  endpoint: string;
  bucket: string;
  /** A client with the SDK's default retries (3 attempts). */
  client: S3Client;
  /** Environment for the batch-runner processes. */
  env: Record<string, string>;
  plan: FaultPlan | undefined;
  /** Faults served so far, by kind. */
  injected: Record<StorageFault, number>;
  requests: number;
  /** Conditional PUTs the server refused with 412 (a commit race lost). */
  preconditionFailures(): number;
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

async function startServer(): Promise<{ port: number; refused: () => number; close: () => Promise<void> }> {
  const app = buildApp({ logger: false });
  const locks = new Map<string, Promise<void>>();
  let port = 0;
  let refused = 0;
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'PUT' || request.headers['if-none-match'] !== '*' || request.url.includes('uploadId=')) return;
    const objectPath = request.url.split('?')[0] ?? request.url;
    // Conditional PUTs of one key are serialised, so two racing writers see one winner.
    const previous = locks.get(objectPath) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => mine);
    locks.set(objectPath, chained);
    reply.raw.once('close', () => {
      release();
      if (locks.get(objectPath) === chained) locks.delete(objectPath);
    });
    await previous;
    if ((await headStatus(port, objectPath)) === 200) {
      refused += 1;
      reply
        .code(412)
        .header('content-type', 'application/xml')
        .send('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>');
      return reply;
    }
    return;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as AddressInfo;
  port = address.port;
  return { port, refused: () => refused, close: () => app.close() };
}

export async function startFaultyS3(): Promise<FaultyS3> {
  const upstream = await startServer();
  const sockets = new Set<Socket>();
  const state = {
    plan: undefined as FaultPlan | undefined,
    injected: { '500': 0, '503': 0, reset: 0, 'lost-response': 0 } as Record<StorageFault, number>,
    requests: 0,
  };
  const xmlError = (code: string, message: string) =>
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  const proxy = http.createServer((req, res) => {
    state.requests += 1;
    const fault = state.plan?.(state.requests, req.method ?? 'GET', req.url ?? '/');
    if (fault) state.injected[fault] += 1;
    if (fault === '500' || fault === '503') {
      req.resume();
      res.writeHead(Number(fault), { 'content-type': 'application/xml' });
      res.end(fault === '500' ? xmlError('InternalError', 'We encountered an internal error. Please try again.') : xmlError('SlowDown', 'Please reduce your request rate.'));
      return;
    }
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    const forward = http.request(
      { host: '127.0.0.1', port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        if (fault === 'lost-response') {
          // The server applied the request; the client never hears it.
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => req.socket.destroy());
    req.pipe(forward);
  });
  proxy.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const bucket = `lake-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    env: { AWS_ENDPOINT_URL_S3: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    get plan() {
      return state.plan;
    },
    set plan(p: FaultPlan | undefined) {
      state.plan = p;
    },
    get injected() {
      return state.injected;
    },
    get requests() {
      return state.requests;
    },
    preconditionFailures: () => upstream.refused(),
    async stop() {
      client.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await upstream.close();
    },
  };
}
