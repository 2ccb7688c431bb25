/**
 * A fake vendor on loopback (node:http) speaking the Polygon/Massive JSON of
 * the five endpoints the fetchers call: grouped daily bars, the ticker
 * reference (active and delisted, paged with `next_url`), the splits and
 * the cash dividends of a session or a range of sessions (paged with
 * `next_url`), and the ticker events of an id (404 for an id the market does
 * not know). The data behind it is the seeded synthetic market (its pages are
 * already in the vendor's shape); a scenario injects faults per endpoint
 * (429 bursts with Retry-After, 500/503, resets, hangs, bodies cut off,
 * truncated JSON, an empty session) and rewrites rows (duplicates, conflicts,
 * garbage tickers, absurd prices, corrections). Every fault served is counted.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SyntheticSource, sourceFromEnv, type MarketSource } from '@fibbars/fetchers';

export type Endpoint = 'grouped' | 'tickers' | 'splits' | 'dividends' | 'ticker_events';

export type Fault =
  | { kind: '429'; retryAfter?: string }
  | { kind: '500' | '503' }
  | { kind: 'reset' }
  | { kind: 'hang' }
  | { kind: 'cut' }
  | { kind: 'truncated-json' }
  | { kind: 'empty' }
  | { kind: 'status'; status: number; body: string };

export type Bar = Record<string, unknown> & { T: string };
export type Rewrite = (session: string, results: Bar[]) => Bar[];

export interface SeenRequest {
  endpoint: Endpoint | 'unknown';
  url: string;
  authorization: string | undefined;
}

export interface FakeVendorOptions {
  market?: SyntheticSource;
  /** As-of date of the ticker snapshot served. */
  tickersAsOf?: string;
  /** Split the active ticker listing into this many pages (default 2). */
  tickerPages?: number;
  /** Echo the caller's key in `next_url` (as the vendor does for `apiKey=` callers). */
  echoKeyInNextUrl?: boolean;
}

export class FakeVendor {
  baseUrl = '';
  readonly requests: SeenRequest[] = [];
  /** Faults served so far. */
  injected = 0;
  /** Faults still to serve, per endpoint, one per request in order. */
  readonly queue: Record<Endpoint, Fault[]> = { grouped: [], tickers: [], splits: [], dividends: [], ticker_events: [] };
  /** A fault served on every request of the endpoint once its queue is empty. */
  readonly always: Partial<Record<Endpoint, Fault>> = {};
  /** Rows rewritten before serving a grouped-daily page. */
  rewrite: Rewrite | undefined;
  readonly market: SyntheticSource;
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: FakeVendorOptions = {}) {
    this.market = options.market ?? new SyntheticSource({ seed: 11, tickers: 300 });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.sockets) s.destroy();
      this.server.close(() => resolve());
    });
  }

  /** Forget faults, rewrites and requests between scenarios. */
  reset(): void {
    for (const e of ['grouped', 'tickers', 'splits', 'dividends', 'ticker_events'] as const) {
      this.queue[e].length = 0;
      delete this.always[e];
    }
    this.rewrite = undefined;
    this.requests.length = 0;
    this.injected = 0;
  }

  /** The bars the vendor serves for a session, after the scenario's rewrite (the reference input). */
  async bars(session: string): Promise<Bar[]> {
    const { pages } = await this.market.groupedDaily(session);
    const results = pages.flatMap((p) => ((JSON.parse(p) as { results?: Bar[] }).results ?? []));
    return this.rewrite ? this.rewrite(session, results) : results;
  }

  /**
   * The fetchers' Polygon source configured from environment variables, as a
   * deployment would: key, base URL pointing here, short timeout, generous
   * rate; backoff waits scaled down through the jitter seam.
   */
  source(apiKey: string, env: Record<string, string> = {}): MarketSource {
    return sourceFromEnv(
      {
        FIBBARS_SOURCE: 'polygon',
        POLYGON_API_KEY: apiKey,
        POLYGON_BASE_URL: this.baseUrl,
        POLYGON_RPM: '100000',
        POLYGON_TIMEOUT_MS: '1500',
        POLYGON_MAX_RETRIES: '3',
        ...env,
      },
      { random: () => 0.01 },
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const endpoint: Endpoint | 'unknown' = url.pathname.startsWith('/v2/aggs/grouped/')
      ? 'grouped'
      : url.pathname === '/v3/reference/tickers'
        ? 'tickers'
        : url.pathname === '/v3/reference/splits'
          ? 'splits'
          : url.pathname === '/v3/reference/dividends'
            ? 'dividends'
            : /^\/vX\/reference\/tickers\/[^/]+\/events$/.test(url.pathname)
              ? 'ticker_events'
              : 'unknown';
    this.requests.push({ endpoint, url: url.toString(), authorization: req.headers.authorization });
    try {
      if (endpoint === 'unknown') return send(res, 404, { status: 'NOT_FOUND', message: 'no route' });
      const fault = this.queue[endpoint].shift() ?? this.always[endpoint];
      const found = await this.body(endpoint, url, req.headers.authorization, fault?.kind === 'empty');
      const body = found ?? NOT_FOUND;
      if (fault === undefined || fault.kind === 'empty') {
        if (fault) this.injected += 1;
        return send(res, found === undefined ? 404 : 200, body);
      }
      this.injected += 1;
      switch (fault.kind) {
        case '429':
          return send(res, 429, { status: 'ERROR', error: 'You have exceeded the maximum requests per minute' }, fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter });
        case '500':
        case '503':
          return send(res, Number(fault.kind), { status: 'ERROR', error: 'upstream trouble' });
        case 'status':
          return send(res, fault.status, fault.body);
        case 'reset':
          req.socket.destroy();
          return;
        case 'hang':
          // Headers never come: the client's per-request timeout must fire.
          return;
        case 'cut': {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
          res.write(body.slice(0, Math.floor(body.length / 2)));
          setTimeout(() => req.socket.destroy(), 20);
          return;
        }
        case 'truncated-json':
          return send(res, 200, body.slice(0, Math.floor(body.length / 2)));
      }
    } catch (error) {
      send(res, 599, String(error));
    }
  }

  private async body(endpoint: Endpoint, url: URL, authorization: string | undefined, empty: boolean): Promise<string | undefined> {
    if (endpoint === 'ticker_events') {
      // One page per id, as the market answers it; an id it does not know is a 404.
      const id = decodeURIComponent(url.pathname.split('/')[4] ?? '');
      return (await this.market.tickerEvents([id])).pages[0];
    }
    if (endpoint === 'grouped') {
      const session = url.pathname.split('/').pop() ?? '';
      const results = empty ? [] : await this.bars(session);
      return JSON.stringify({
        queryCount: results.length,
        resultsCount: results.length,
        adjusted: false,
        ...(results.length > 0 && { results }),
        status: 'OK',
        request_id: `req-${session}`,
        count: results.length,
      });
    }
    if (endpoint === 'splits' || endpoint === 'dividends') {
      // One session (execution_date / ex_dividend_date) or a range (.gte / .lte), 1,000 per page, next_url to the next.
      const q = url.searchParams;
      const field = endpoint === 'splits' ? 'execution_date' : 'ex_dividend_date';
      const session = q.get(field);
      const from = session ?? q.get(`${field}.gte`) ?? '';
      const to = session ?? q.get(`${field}.lte`) ?? '';
      const { pages } = endpoint === 'splits' ? await this.market.splits(from, to) : await this.market.dividends(from, to);
      const all = pages.flatMap((p) => ((JSON.parse(p) as { results?: unknown[] }).results ?? []));
      const page = Number(q.get('cursor') ?? '0');
      const out: Record<string, unknown> = { status: 'OK', request_id: `${endpoint}-${from}-${to}-${page}`, results: all.slice(page * 1000, (page + 1) * 1000) };
      if ((page + 1) * 1000 < all.length) {
        const next = new URL(url.toString().replace(/^http:\/\/[^/]+/, 'https://api.polygon.io'));
        next.searchParams.set('cursor', String(page + 1));
        out.next_url = next.toString();
      }
      return JSON.stringify(out);
    }
    const active = url.searchParams.get('active') !== 'false';
    const { pages } = await this.market.tickers(this.options.tickersAsOf ?? '2024-03-08');
    const all = pages.flatMap((p) => ((JSON.parse(p) as { results?: { active?: boolean }[] }).results ?? []));
    const results = all.filter((t) => (t.active !== false) === active);
    const pageCount = active ? (this.options.tickerPages ?? 2) : 1;
    const page = Number(url.searchParams.get('cursor') ?? '0');
    const size = Math.ceil(results.length / pageCount);
    const out: Record<string, unknown> = { status: 'OK', request_id: `tickers-${page}`, count: 0, results: results.slice(page * size, (page + 1) * size) };
    out.count = (out.results as unknown[]).length;
    if (page + 1 < pageCount) {
      const next = new URL(`https://api.polygon.io/v3/reference/tickers?market=stocks&active=${active}&limit=1000&cursor=${page + 1}`);
      const key = authorization?.replace(/^Bearer /, '');
      if (this.options.echoKeyInNextUrl && key) next.searchParams.set('apiKey', key);
      out.next_url = next.toString();
    }
    return JSON.stringify(out);
  }
}

/** The vendor's answer to an id it does not know (ticker events). */
const NOT_FOUND = JSON.stringify({ status: 'NOT_FOUND', request_id: 'not-found', message: 'Ticker not found.' });

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}
