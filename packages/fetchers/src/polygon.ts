/**
 * The Polygon.io (Massive) REST API as a `MarketSource`: grouped daily bars
 * (unadjusted), the ticker reference (active and delisted, every page), the
 * splits and cash dividends of a session or a range of sessions, and the
 * ticker-change events of securities by id. Every response is checked
 * against a zod schema of the vendor's JSON and stored exactly as received.
 */
import { createHash } from 'node:crypto';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { isIsoDate } from '@fibbars/ohlcv-core/dates';
import { z } from 'zod';
import { ConfigError, InvalidResponseError } from './errors.js';
import { HttpClient, redactKey } from './http.js';
import type { HttpResponse, Sleep } from './http.js';
import type { MarketSource, SourceRequest, SourceResult } from './source.js';
import { EMPTY_RESULT } from './source.js';

export const DEFAULT_POLYGON_BASE_URL = 'https://api.polygon.io';

/** Options of the vendor source. */
export interface PolygonOptions {
  apiKey: string;
  /** Default `https://api.polygon.io`. */
  baseUrl?: string;
  /** Requests per minute (default 5, the free plan). */
  rpm?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 4). */
  maxRetries?: number;
  /** Requests in flight at once during backfills (default 2). */
  concurrency?: number;
  /** First backoff step (default 1 s) and cap (default 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  fetch?: typeof globalThis.fetch;
  sleep?: Sleep;
  now?: () => number;
  random?: () => number;
}

const num = z.number().nullish();

/** `/v2/aggs/grouped/...`: the bar fields are loose on purpose (odd rows are validated downstream). */
export const GroupedDailySchema = z.object({
  status: z.enum(['OK', 'DELAYED']),
  adjusted: z.boolean().optional(),
  queryCount: z.number().optional(),
  resultsCount: z.number().optional(),
  request_id: z.string().optional(),
  results: z
    .array(z.looseObject({ T: z.string(), o: num, h: num, l: num, c: num, v: num, vw: num, n: num, t: num }))
    .nullish(),
});

/** `/v3/reference/tickers`. */
export const TickersPageSchema = z.object({
  status: z.enum(['OK', 'DELAYED']),
  request_id: z.string().optional(),
  count: z.number().optional(),
  next_url: z.string().nullish(),
  results: z.array(z.looseObject({ ticker: z.string(), active: z.boolean().optional() })).nullish(),
});

/** `/v3/reference/splits`. */
export const SplitsPageSchema = z.object({
  status: z.enum(['OK', 'DELAYED']),
  request_id: z.string().optional(),
  next_url: z.string().nullish(),
  results: z
    .array(
      z.looseObject({
        ticker: z.string(),
        execution_date: z.string().refine(isIsoDate, 'must be a calendar date YYYY-MM-DD'),
        split_from: z.number().positive(),
        split_to: z.number().positive(),
      }),
    )
    .nullish(),
});

/**
 * `/v3/reference/dividends`, as documented at
 * https://polygon.io/docs/stocks/get_v3_reference_dividends: `ticker`,
 * `ex_dividend_date` and `cash_amount` are what a dividend needs; the other
 * fields (`currency`, `dividend_type` CD / SC / LT / ST, `frequency`,
 * `declaration_date`, `record_date`, `pay_date`, `id`) are optional and kept
 * as received, like any field the vendor adds.
 */
export const DividendsPageSchema = z.object({
  status: z.enum(['OK', 'DELAYED']),
  request_id: z.string().optional(),
  next_url: z.string().nullish(),
  results: z
    .array(
      z.looseObject({
        ticker: z.string(),
        ex_dividend_date: z.string().refine(isIsoDate, 'must be a calendar date YYYY-MM-DD'),
        cash_amount: z.number(),
      }),
    )
    .nullish(),
});

/**
 * `/vX/reference/tickers/{id}/events?types=ticker_change`, as documented at
 * https://massive.com/docs/rest/stocks/corporate-actions/ticker-events
 * (formerly https://polygon.io/docs/stocks/get_vx_reference_tickers__id__events):
 * an experimental endpoint, not paginated, one page per id (a ticker, CUSIP
 * or composite FIGI). `results` holds `name`, `composite_figi`, `cik` and
 * `events`, each event `{ type: 'ticker_change', date: 'YYYY-MM-DD',
 * ticker_change: { ticker } }`. Lenient, as the endpoint is experimental:
 * every field is optional and unknown ones pass through; only an object
 * whose `results` is not an object, or whose `events` is not an array, is
 * refused. ohlcv-core's `parseTickerEvents` drops the events it cannot use.
 */
export const TickerEventsPageSchema = z.looseObject({
  status: z.string().optional(),
  request_id: z.string().optional(),
  results: z
    .looseObject({
      name: z.string().nullish(),
      composite_figi: z.string().nullish(),
      cik: z.string().nullish(),
      events: z.array(z.unknown()).nullish(),
    })
    .nullish(),
});

/** Events of a ticker-events page that are ticker changes. */
function tickerChanges(page: z.infer<typeof TickerEventsPageSchema>): number {
  const events = page.results?.events ?? [];
  return events.filter((e) => typeof e === 'object' && e !== null && (e as { type?: unknown }).type === 'ticker_change').length;
}

/** The listings by date: their path under `/v3/reference/`, date field and page schema. */
const BY_DATE = {
  splits: { field: 'execution_date', schema: SplitsPageSchema },
  dividends: { field: 'ex_dividend_date', schema: DividendsPageSchema },
} as const;

type PageSchema = typeof TickersPageSchema | typeof SplitsPageSchema | typeof DividendsPageSchema;

/** Pages one listing may span before it is taken for a loop. */
const MAX_PAGES = 500;

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The vendor's REST API.
 *
 * @example
 * const source = new PolygonSource({ apiKey: process.env.POLYGON_API_KEY!, rpm: 5 });
 * const { pages, requests, rows } = await source.groupedDaily('2024-03-15');
 */
export class PolygonSource implements MarketSource {
  readonly name = 'polygon';
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly http: HttpClient;
  private readonly apiKey: string;
  private readonly concurrency: number;

  constructor(options: PolygonOptions) {
    if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') {
      throw new ConfigError('POLYGON_API_KEY is not set: the polygon source needs an API key (or use the synthetic source)');
    }
    this.apiKey = options.apiKey.trim();
    const base = options.baseUrl ?? DEFAULT_POLYGON_BASE_URL;
    let parsed: URL;
    try {
      parsed = new URL(base);
    } catch {
      throw new ConfigError(`POLYGON_BASE_URL ${JSON.stringify(base)} is not a URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new ConfigError(`POLYGON_BASE_URL ${JSON.stringify(base)} must be an http(s) URL`);
    }
    this.origin = parsed.origin;
    this.baseUrl = base.replace(/\/+$/, '');
    const positive = (name: string, value: number | undefined, fallback: number, min = 1) => {
      const v = value ?? fallback;
      if (!Number.isFinite(v) || v < min) throw new ConfigError(`polygon ${name} must be a number >= ${min}, got ${String(value)}`);
      return v;
    };
    this.concurrency = positive('concurrency', options.concurrency, 2);
    this.http = new HttpClient({
      apiKey: this.apiKey,
      rpm: positive('rpm', options.rpm, 5),
      timeoutMs: positive('timeoutMs', options.timeoutMs, 30_000),
      maxRetries: positive('maxRetries', options.maxRetries, 4, 0),
      concurrency: this.concurrency,
      ...(options.baseDelayMs !== undefined && { baseDelayMs: options.baseDelayMs }),
      ...(options.maxDelayMs !== undefined && { maxDelayMs: options.maxDelayMs }),
      ...(options.fetch && { fetch: options.fetch }),
      ...(options.sleep && { sleep: options.sleep }),
      ...(options.now && { now: options.now }),
      ...(options.random && { random: options.random }),
    });
  }

  async groupedDaily(session: string): Promise<SourceResult> {
    if (!isSession(session)) return EMPTY_RESULT;
    const what = `grouped daily ${session}`;
    const url = `${this.baseUrl}/v2/aggs/grouped/locale/us/market/stocks/${session}?adjusted=false`;
    const { body, request, json } = await this.getJson(url, what);
    const page = check(GroupedDailySchema, json, what);
    const rows = page.results?.length ?? 0;
    if (rows === 0) {
      throw new InvalidResponseError(`${what}: the vendor returned no bars for a session the NYSE calendar says was open (resultsCount ${String(page.resultsCount ?? 0)})`);
    }
    if (page.adjusted === true) throw new InvalidResponseError(`${what}: the vendor returned split-adjusted prices although adjusted=false was asked`);
    return { pages: [body], requests: [request], rows };
  }

  async tickers(): Promise<SourceResult> {
    const out: SourceResult = { pages: [], requests: [], rows: 0 };
    for (const active of ['true', 'false']) {
      const what = `tickers active=${active}`;
      const first = `${this.baseUrl}/v3/reference/tickers?market=stocks&active=${active}&limit=1000`;
      const listed = await this.paginate(first, what, TickersPageSchema);
      if (active === 'true' && listed.rows === 0) throw new InvalidResponseError(`${what}: the vendor listed no active tickers`);
      out.pages.push(...listed.pages);
      out.requests.push(...listed.requests);
      out.rows += listed.rows;
    }
    return out;
  }

  async splits(from: string, to: string = from): Promise<SourceResult> {
    return this.byDate('splits', from, to);
  }

  async dividends(from: string, to: string = from): Promise<SourceResult> {
    return this.byDate('dividends', from, to);
  }

  /**
   * One request per id (`concurrency` in flight, through the rate limiter),
   * pages in the order of `ids`; an id the vendor answers 404 for gives no
   * page, but its request is recorded (status 404, after the pages' requests:
   * the first `pages.length` requests describe the pages), so the audit
   * trail and the request count hold every id asked. After a failure no new
   * request starts; the ones in flight finish, then the first failure is
   * thrown.
   */
  async tickerEvents(ids: readonly string[]): Promise<SourceResult> {
    for (const id of ids) {
      if (typeof id !== 'string' || id.trim() === '') throw new ConfigError(`ticker events id ${JSON.stringify(id)} must be a non-empty string`);
    }
    const answers: ({ body: string; request: SourceRequest; rows: number } | { notFound: SourceRequest })[] = new Array<never>(ids.length);
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async () => {
      while (failure === undefined && next < ids.length) {
        const i = next++;
        try {
          answers[i] = await this.tickerEventsOf(ids[i]!);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, ids.length) }, worker));
    if (failure) throw failure.error;
    const out: SourceResult = { pages: [], requests: [], rows: 0 };
    const notFound: SourceRequest[] = [];
    for (const answer of answers) {
      if ('notFound' in answer) {
        notFound.push(answer.notFound);
        continue;
      }
      out.pages.push(answer.body);
      out.requests.push(answer.request);
      out.rows += answer.rows;
    }
    out.requests.push(...notFound);
    return out;
  }

  /** The events page of one id, or the request the vendor answered 404 for (it does not know the id). */
  private async tickerEventsOf(id: string): Promise<{ body: string; request: SourceRequest; rows: number } | { notFound: SourceRequest }> {
    const what = `ticker events ${id}`;
    const url = `${this.baseUrl}/vX/reference/tickers/${encodeURIComponent(id)}/events?types=ticker_change`;
    const answer = await this.getJsonOrNotFound(url, what);
    if ('notFound' in answer) return answer;
    const page = check(TickerEventsPageSchema, answer.json, what);
    return { body: answer.body, request: answer.request, rows: tickerChanges(page) };
  }

  /** One session (`<field>=`) or a range (`<field>.gte` / `.lte`, oldest first) of a listing by date, every page. */
  private async byDate(dataset: keyof typeof BY_DATE, from: string, to: string): Promise<SourceResult> {
    const { field, schema } = BY_DATE[dataset];
    if (to === from) {
      if (!isSession(from)) return EMPTY_RESULT;
      const url = `${this.baseUrl}/v3/reference/${dataset}?${field}=${from}&limit=1000`;
      return this.paginate(url, `${dataset} ${from}`, schema);
    }
    if (!hasSession(dataset, from, to)) return EMPTY_RESULT;
    // One listing for the whole range, oldest first, every page (next_url).
    const url = `${this.baseUrl}/v3/reference/${dataset}?${field}.gte=${from}&${field}.lte=${to}&sort=${field}&order=asc&limit=1000`;
    return this.paginate(url, `${dataset} ${from}..${to}`, schema);
  }

  private async paginate(firstUrl: string, what: string, schema: PageSchema): Promise<SourceResult> {
    const out: SourceResult = { pages: [], requests: [], rows: 0 };
    const seen = new Set<string>();
    let url: string | undefined = firstUrl;
    while (url !== undefined) {
      if (seen.has(url) || seen.size >= MAX_PAGES) {
        throw new InvalidResponseError(`${what}: pagination does not end (page ${seen.size + 1}, next_url repeats or exceeds ${MAX_PAGES} pages)`);
      }
      seen.add(url);
      const pageWhat = `${what} page ${seen.size}`;
      const { body, request, json } = await this.getJson(url, pageWhat);
      const page = check(schema, json, pageWhat);
      out.pages.push(body);
      out.requests.push(request);
      out.rows += page.results?.length ?? 0;
      url = page.next_url ? this.followNextUrl(page.next_url, pageWhat) : undefined;
    }
    return out;
  }

  /**
   * The vendor's `next_url` on our base URL's origin, without any key the
   * vendor may have appended: the key only ever travels in the header, and
   * only to the configured host.
   */
  private followNextUrl(nextUrl: string, what: string): string {
    let next: URL;
    try {
      next = new URL(nextUrl, this.origin);
    } catch {
      throw new InvalidResponseError(`${what}: next_url is not a URL`);
    }
    for (const name of [...next.searchParams.keys()]) {
      if (/^api_?key$/i.test(name)) next.searchParams.delete(name);
    }
    return `${this.origin}${next.pathname}${next.search}`;
  }

  private async getJson(url: string, what: string): Promise<{ body: string; request: SourceRequest; json: unknown }> {
    return this.parseBody(url, await this.http.get(url, what), what);
  }

  /** `getJson`, except an HTTP 404 is the request it answered (no page) instead of an `InvalidResponseError`. */
  private async getJsonOrNotFound(url: string, what: string): Promise<{ body: string; request: SourceRequest; json: unknown } | { notFound: SourceRequest }> {
    const response = await this.http.get(url, what, { notFoundOk: true });
    if (response.status !== 404) return this.parseBody(url, response, what);
    const body = redactKey(response.body, this.apiKey);
    return { notFound: { url: redactKey(url, this.apiKey), status: 404, bytes: Buffer.byteLength(body, 'utf8'), sha256: sha256(body) } };
  }

  private parseBody(url: string, response: HttpResponse, what: string): { body: string; request: SourceRequest; json: unknown } {
    // Stored as received, except a key the vendor may have echoed (in next_url) is blanked.
    const body = redactKey(response.body, this.apiKey);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch (cause) {
      throw new InvalidResponseError(`${what}: the body is not JSON (${body.length} bytes, truncated or garbled)`, { cause });
    }
    const request: SourceRequest = { url: redactKey(url, this.apiKey), status: response.status, bytes: Buffer.byteLength(body, 'utf8'), sha256: sha256(body) };
    return { body, request, json };
  }
}

function isSession(session: string): boolean {
  if (!isIsoDate(session) || session < nyse.range.from || session > nyse.range.to) {
    throw new ConfigError(`session ${JSON.stringify(session)} is not a date the NYSE calendar covers`);
  }
  return nyse.isSession(session);
}

/** Whether `[from, to]` (both dates the calendar covers, `from` <= `to`) holds an NYSE session. */
function hasSession(dataset: string, from: string, to: string): boolean {
  isSession(from);
  isSession(to);
  if (from > to) throw new ConfigError(`${dataset} range ${from}..${to} ends before it starts`);
  return nyse.sessionsBetween(from, to).length > 0;
}

function check<S extends z.ZodType>(schema: S, json: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'body';
  const status = typeof json === 'object' && json !== null && 'status' in json ? ` (status ${JSON.stringify((json as { status: unknown }).status)})` : '';
  throw new InvalidResponseError(`${what}: unexpected payload at ${where}: ${issue?.message ?? 'invalid'}${status}`);
}
