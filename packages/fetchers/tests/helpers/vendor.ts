/**
 * A local HTTP server that speaks the vendor's JSON, with a per-test route
 * function so each test can inject its faults (429s, 5xx, hangs, cut bodies).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  url: URL;
  authorization: string | undefined;
}

export type Route = (req: SeenRequest, res: ServerResponse, n: number) => void | Promise<void>;

export interface VendorServer {
  baseUrl: string;
  requests: SeenRequest[];
  route: Route;
  close(): Promise<void>;
}

export async function startVendor(route: Route = notFound): Promise<VendorServer> {
  const sockets = new Set<import('node:net').Socket>();
  const state: VendorServer = {
    baseUrl: '',
    requests: [],
    route,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', state.baseUrl);
    const seen: SeenRequest = { method: req.method ?? 'GET', path: url.pathname, url, authorization: req.headers.authorization };
    state.requests.push(seen);
    Promise.resolve(state.route(seen, res, state.requests.length)).catch((error: unknown) => {
      res.statusCode = 599;
      res.end(String(error));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

export function json(res: ServerResponse, body: unknown, status = 200, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

export function notFound(_req: SeenRequest, res: ServerResponse): void {
  json(res, { status: 'NOT_FOUND', request_id: 'x', message: 'no route' }, 404);
}

/** A grouped-daily payload in the vendor's shape. */
export function groupedDaily(results: Record<string, unknown>[]): Record<string, unknown> {
  return {
    queryCount: results.length,
    resultsCount: results.length,
    adjusted: false,
    ...(results.length > 0 && { results }),
    status: 'OK',
    request_id: '6a7e466379af0a71039d60cc78e72282',
    count: results.length,
  };
}

/** One bar as the vendor sends it (16:00 New York on 2024-03-15 as `t`). */
export function bar(T: string, close: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { T, v: 120_345, vw: close * 0.999, o: close * 0.99, c: close, h: close * 1.01, l: close * 0.98, t: 1710532800000, n: 1_234, ...extra };
}

export function tickerRow(ticker: string, active = true): Record<string, unknown> {
  return {
    ticker,
    name: `${ticker} Inc.`,
    market: 'stocks',
    locale: 'us',
    primary_exchange: 'XNYS',
    type: 'CS',
    active,
    currency_name: 'usd',
    cik: '0001090872',
    last_updated_utc: '2024-03-15T00:00:00Z',
    ...(!active && { delisted_utc: '2023-01-05T00:00:00Z' }),
  };
}
