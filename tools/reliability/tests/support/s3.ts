/**
 * The workspace's S3 test server (`startS3Server` of @fibbars/testing: fauxqs
 * on loopback, with the request hook S3's conditional writes need), behind a
 * small fault-injecting proxy: the SDK in the tests, the fetchers and the
 * batch-runner processes all talk to the proxy, which fails the requests a
 * scenario chooses (500, 503, a reset before the request reaches the server,
 * or a reset after the server has applied it, so the client never hears the
 * answer).
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { startS3Server } from '@fibbars/testing';

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

export async function startFaultyS3(): Promise<FaultyS3> {
  const upstream = await startS3Server();
  const upstreamPort = Number(new URL(upstream.endpoint).port);
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
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent: false },
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
  const bucket = upstream.bucket;
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
    preconditionFailures: () => upstream.rejectedConditionalPuts(),
    async stop() {
      client.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await upstream.stop();
    },
  };
}
