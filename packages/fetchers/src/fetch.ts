/**
 * The two fetch jobs behind the handlers: decide which sessions to fetch,
 * fetch them from a `MarketSource`, and write the pages unchanged to the raw
 * zone. Plain functions of their dependencies, so the Lambda handlers, the
 * local engine and tests all call the same code.
 */
import { randomUUID } from 'node:crypto';
import { latestClosedSession, newYorkClock, nyse } from '@fibbars/ohlcv-core/calendar';
import { isIsoDate } from '@fibbars/ohlcv-core/dates';
import { RawZone, listingCoverage, openStore, parseLakeUri } from '@fibbars/ohlcv-core/storage';
import type { OpenStoreOptions, RawFetch, RawKind, RawMeta } from '@fibbars/ohlcv-core/storage';
import pLimit from 'p-limit';
import { z } from 'zod';
import { ConfigError, InvalidResponseError, RateLimitedError, UpstreamUnavailableError } from './errors.js';
import type { MarketSource, SourceResult } from './source.js';

/** Input of both handlers (the Step Functions task payload). */
export interface FetchEvent {
  /** Session to fetch (`YYYY-MM-DD`); default: every session missing since the last fetch. */
  date?: string;
  /** Cap on the sessions one invocation fetches when no date is given (default 5). */
  maxBackfillSessions?: number;
  /** Sessions, ending at the latest fetchable one, searched for holes when no date is given (default 20). */
  lookbackSessions?: number;
  /** Lake URI overriding the configured one. */
  lake?: string;
}

/** Output of both handlers: pointers and counts, never rows. */
export interface FetchResult {
  status: 'ok' | 'no-session';
  lake: string;
  /** Sessions fetched, ascending. */
  sessions: string[];
  /**
   * The sessions of `sessions` that lie before the newest one already fetched:
   * holes left by an earlier run (a session that failed while a later one
   * succeeded), caught up by this one. The state machine carries it into the
   * run record (the fetch states' ResultSelector).
   */
  caughtUp: string[];
  /** Result rows over every page written. */
  rows: number;
  /** Keys of the raw data files written (`raw/<kind>/date=.../<fetchId>.json.gz`). */
  rawKeys: string[];
}

/** The structured logger the jobs write to (Powertools' Logger fits). */
export interface FetchLogger {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

/** What a fetch job needs. */
export interface FetchDeps {
  source: MarketSource;
  /** Default lake URI (an event's `lake` overrides it). */
  lake: string;
  logger?: FetchLogger;
  /** Clock (decides "today in New York"); default the system clock. */
  now?: () => Date;
  /** Passed to `openStore` (an S3 client for `s3://` lakes). */
  store?: OpenStoreOptions;
  /** Default lookback window of the planning without a date (an event's `lookbackSessions` overrides it). */
  lookbackSessions?: number;
  /** How much of a run the ticker-events backfill may take (`EventsBackfill`). */
  eventsBackfill?: EventsBackfill;
}

/**
 * The budget of the ticker-events backfill: the securities of a snapshot
 * whose events were never asked (all of them on a new lake, some ten
 * thousand) are asked over several runs, a run asking them in chunks of
 * `EVENTS_CHUNK` until its budget is spent. The securities new in the
 * snapshot (a (ticker, FIGI) pair the previous snapshot lacks: a listing or
 * a rename, a few a day) are always asked, outside the budget.
 */
export interface EventsBackfill {
  /**
   * No backfill chunk starts once this many seconds have passed since the
   * events step began (default `DEFAULT_EVENTS_BACKFILL_SECONDS`; 0 asks
   * only the new securities).
   */
  seconds?: number;
  /** At most this many backfill ids per run (default: no cap beyond the time). */
  maxIds?: number;
}

/**
 * Five minutes: the meta Lambda has 15 (its timeout), and the snapshot's
 * pages, the splits and the dividends come first through the same rate
 * limiter (at the vendor's free tier of 5 requests a minute the snapshot of
 * ~12 pages alone takes about 2.5 minutes).
 */
export const DEFAULT_EVENTS_BACKFILL_SECONDS = 300;
/** Backfill ids asked between two looks at the clock. */
export const EVENTS_CHUNK = 10;

export const DEFAULT_MAX_BACKFILL_SESSIONS = 5;
/** Four weeks of sessions: how far back a run without a date looks for sessions never fetched. */
export const DEFAULT_LOOKBACK_SESSIONS = 20;
/** Largest lookback window (about four years of sessions). */
export const MAX_LOOKBACK_SESSIONS = 1000;

const EventSchema = z
  .object({
    date: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date in YYYY-MM-DD form')
      .refine(isIsoDate, 'is not a real calendar date')
      .nullish(),
    maxBackfillSessions: z.number().int().min(1).max(10_000).nullish(),
    lookbackSessions: z.number().int().min(1).max(MAX_LOOKBACK_SESSIONS).nullish(),
    lake: z.string().min(1).nullish(),
  })
  .nullish();

/** Validates a handler event; `ConfigError` naming the field on anything else. */
export function parseEvent(event: unknown): FetchEvent {
  const parsed = EventSchema.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `event.${issue.path.join('.')}` : 'event';
    throw new ConfigError(`${where}: ${issue?.message ?? 'invalid'}`);
  }
  const out: FetchEvent = {};
  if (parsed.data?.date != null) out.date = parsed.data.date;
  if (parsed.data?.maxBackfillSessions != null) out.maxBackfillSessions = parsed.data.maxBackfillSessions;
  if (parsed.data?.lookbackSessions != null) out.lookbackSessions = parsed.data.lookbackSessions;
  if (parsed.data?.lake != null) out.lake = parsed.data.lake;
  return out;
}

/**
 * The latest session whose data can exist at `now`: today's counts from 16:30
 * New York time. ohlcv-core's `latestClosedSession`, under the name this
 * package has always exported.
 */
export const latestFetchableSession: (now: Date) => string = latestClosedSession;

/**
 * Sessions to fetch when no date is given, oldest first, at most `cap`:
 * every session after the newest one in `fetched` (ascending) up to `latest`,
 * and every session of the lookback window (the `lookback` sessions ending at
 * `latest`) that has no fetch yet, from the first fetched session on. On an
 * empty raw zone just `latest`. A session that failed while a later one
 * succeeded is therefore fetched again by the next runs, until it leaves the
 * window: no global "last fetched" watermark hides it.
 */
export function sessionsToFetch(
  fetched: readonly string[],
  latest: string,
  cap: number,
  lookback: number = DEFAULT_LOOKBACK_SESSIONS,
): string[] {
  const first = fetched[0];
  const newest = fetched.at(-1);
  if (first === undefined || newest === undefined) return [latest];
  if (!nyse.isSession(latest)) throw new ConfigError(`latest session ${latest} is not an NYSE session`);
  const have = new Set(fetched);
  const end = nyse.sessionIndex(latest);
  const windowStart = Math.max(0, end - Math.max(1, lookback) + 1);
  const afterNewest = newest < latest ? nyse.sessionIndex(nyse.nextSession(newest)) : end + 1;
  const out: string[] = [];
  for (let i = Math.min(windowStart, afterNewest); i <= end && out.length < cap; i++) {
    const session = nyse.sessionAt(i);
    if (session >= first && !have.has(session)) out.push(session);
  }
  return out;
}

/** The first session of the lookback window ending at `latest`. */
function windowStart(latest: string, lookback: number): string {
  return nyse.sessionAt(Math.max(0, nyse.sessionIndex(latest) - Math.max(1, lookback) + 1));
}

type Coverage = (meta: Pick<RawMeta, 'session' | 'requests'>) => { from: string; to: string };

/** The dates a fetch's first request names (ohlcv-core's `listingCoverage`), or its own session. */
function coverage(meta: Pick<RawMeta, 'session' | 'requests'>, field: string): { from: string; to: string } {
  return listingCoverage(meta, field) ?? { from: meta.session, to: meta.session };
}

/**
 * The sessions `[from, to]` a splits fetch covers: one session, or the range
 * of a range listing (`execution_date.gte` / `.lte` in its first request).
 */
export function splitsCoverage(meta: Pick<RawMeta, 'session' | 'requests'>): { from: string; to: string } {
  return coverage(meta, 'execution_date');
}

/**
 * The sessions `[from, to]` a dividends fetch covers: one session, or the
 * range of a range listing (`ex_dividend_date.gte` / `.lte` in its first
 * request).
 */
export function dividendsCoverage(meta: Pick<RawMeta, 'session' | 'requests'>): { from: string; to: string } {
  return coverage(meta, 'ex_dividend_date');
}

/**
 * Sessions whose splits (or dividends) the raw zone holds, ascending: the
 * session of every fetch, plus every session of a range fetch's range.
 * Metadata records are read only where they can matter: for fetches in the
 * window after the earliest session that would otherwise look missing.
 */
async function rangeFetched(raw: RawZone, kind: 'splits' | 'dividends', covers: Coverage, from: string, latest: string): Promise<string[]> {
  const fetches = await raw.list(kind);
  const have = new Set(fetches.map((f) => f.session));
  const first = fetches[0]?.session;
  if (first === undefined) return [];
  const lo = from > first ? from : first;
  const holes = lo <= latest ? nyse.sessionsBetween(lo, latest).filter((s) => !have.has(s)) : [];
  const earliestHole = holes[0];
  if (earliestHole !== undefined) {
    const ranged = fetches.filter((f) => f.session > earliestHole && f.session <= latest);
    for (const f of ranged) {
      const { from: a, to: b } = covers(await raw.readMeta(f));
      for (const s of nyse.sessionsBetween(a, b)) have.add(s);
    }
  }
  return [...have].sort();
}

/**
 * The fetched sessions of each kind a job writes, ascending: the daily bars'
 * for `ohlcv`; the splits' and the dividends' for `meta` (fetched together,
 * so a run where one of them failed is planned again for the other).
 */
async function fetchedByKind(raw: RawZone, job: 'ohlcv' | 'meta', from: string, latest: string): Promise<string[][]> {
  if (job === 'ohlcv') return [await raw.sessions('ohlcv')];
  return Promise.all([rangeFetched(raw, 'splits', splitsCoverage, from, latest), rangeFetched(raw, 'dividends', dividendsCoverage, from, latest)]);
}

/**
 * The newest session whose splits or dividends are fetched, when no ticker
 * snapshot is stored under it or a later session: a meta run that failed
 * after its listings were written, before its snapshot (its ticker events
 * failed, say). Planned again, so the retry of that run fetches the
 * snapshot and asks the same ticker events again.
 */
async function withoutSnapshot(raw: RawZone, byKind: readonly string[][], latest: string): Promise<string | undefined> {
  let newest: string | undefined;
  for (const fetched of byKind) {
    const last = fetched.at(-1);
    if (last !== undefined && (newest === undefined || last > newest)) newest = last;
  }
  if (newest === undefined || newest > latest || !nyse.isSession(newest)) return undefined;
  return (await raw.list('tickers', { from: newest })).length === 0 ? newest : undefined;
}

interface Plan {
  lake: string;
  raw: RawZone;
  /** `undefined` when the event names a non-session date. */
  sessions: string[] | undefined;
  caughtUp: string[];
}

async function plan(deps: FetchDeps, event: FetchEvent, job: 'ohlcv' | 'meta'): Promise<Plan> {
  const lake = event.lake ?? deps.lake;
  parseLakeUri(lake); // ConfigError on a bad URI before anything else happens
  const raw = new RawZone(openStore(lake, deps.store));
  const now = (deps.now ?? (() => new Date()))();
  if (event.date !== undefined) {
    const { from, to } = nyse.range;
    if (event.date < from || event.date > to) {
      throw new ConfigError(`event.date ${event.date} is outside the NYSE calendar (${from} to ${to})`);
    }
    const today = newYorkClock(now).date;
    if (event.date > today) throw new ConfigError(`event.date ${event.date} is in the future (today is ${today} in New York)`);
    return { lake, raw, sessions: nyse.isSession(event.date) ? [event.date] : undefined, caughtUp: [] };
  }
  const latest = latestFetchableSession(now);
  const cap = event.maxBackfillSessions ?? DEFAULT_MAX_BACKFILL_SESSIONS;
  const lookback = event.lookbackSessions ?? deps.lookbackSessions ?? DEFAULT_LOOKBACK_SESSIONS;
  // The sessions any kind of the job misses (the oldest `cap` of them), each kind planned on its own.
  const wanted = new Set<string>();
  const behind = new Set<string>();
  const byKind = await fetchedByKind(raw, job, windowStart(latest, lookback), latest);
  for (const fetched of byKind) {
    const newest = fetched.at(-1);
    for (const s of sessionsToFetch(fetched, latest, cap, lookback)) {
      wanted.add(s);
      if (newest !== undefined && s < newest) behind.add(s);
    }
  }
  const unsnapped = job === 'meta' ? await withoutSnapshot(raw, byKind, latest) : undefined;
  if (unsnapped !== undefined) wanted.add(unsnapped);
  const sessions = [...wanted].sort().slice(0, cap);
  return { lake, raw, sessions, caughtUp: sessions.filter((s) => behind.has(s)) };
}

const noSession = (lake: string): FetchResult => ({ status: 'no-session', lake, sessions: [], caughtUp: [], rows: 0, rawKeys: [] });

/** Runs every task, lets the others finish, then rethrows the first failure. */
async function settleAll<T extends readonly unknown[]>(tasks: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * Runs `task` over `items` with at most `concurrency` in flight (p-limit),
 * results in the order of `items`. After the first failure no new item
 * starts; the ones in flight finish, then the first failure is thrown (so no
 * write is still running when the caller sees the error).
 */
async function mapLimited<T, R>(items: readonly T[], concurrency: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const limit = pLimit(concurrency);
  let failure: { error: unknown } | undefined;
  const out = await Promise.all(
    items.map((item) =>
      limit(async () => {
        if (failure !== undefined) return undefined;
        try {
          return await task(item);
        } catch (error) {
          failure ??= { error };
          return undefined;
        }
      }),
    ),
  );
  if (failure) throw failure.error;
  return out as R[];
}

interface Written {
  session: string;
  rows: number;
  requests: number;
  key: string;
}

async function writeRaw(
  deps: { source: MarketSource; now?: () => Date },
  raw: RawZone,
  kind: RawKind,
  session: string,
  result: SourceResult,
  log: FetchLogger,
): Promise<Written> {
  const fetchedAt = (deps.now ?? (() => new Date()))();
  const written = await raw.write(kind, session, result.pages, {
    requests: result.requests,
    rows: result.rows,
    source: deps.source.name,
    fetchedAt,
  });
  log.info('raw fetch written', { kind, session, rows: result.rows, pages: result.pages.length, key: written.key });
  return { session, rows: result.rows, requests: result.requests.length, key: written.key };
}

/** Fetches one session's grouped daily bars into `raw/ohlcv`. */
async function fetchDaily(deps: { source: MarketSource; now?: () => Date }, raw: RawZone, session: string, log: FetchLogger): Promise<Written> {
  return writeRaw(deps, raw, 'ohlcv', session, await deps.source.groupedDaily(session), log);
}

/**
 * Fetches the splits executed from `from` to `to` in one listing (every page)
 * and keeps it whole under `raw/splits/date=<to>/`. When the latest fetch
 * already stored under `to` covered an earlier start, the listing starts
 * there: the latest fetch of a session wins whole downstream, so a refetch
 * must not narrow what the folder said.
 */
async function fetchSplits(
  deps: { source: MarketSource; now?: () => Date },
  raw: RawZone,
  from: string,
  to: string,
  log: FetchLogger,
): Promise<Written> {
  const previous = await raw.latest('splits', to);
  const start = previous ? splitsCoverage(await raw.readMeta(previous)).from : to;
  const first = start < from ? start : from;
  return writeRaw(deps, raw, 'splits', to, await deps.source.splits(first, to), log);
}

/**
 * Fetches the cash dividends whose ex-dividend date lies from `from` to `to`
 * in one listing (every page) and keeps it whole under
 * `raw/dividends/date=<to>/`, as `fetchSplits` does the splits: a refetch
 * starts where the latest fetch already stored under `to` started, when
 * that is earlier.
 */
async function fetchDividends(
  deps: { source: MarketSource; now?: () => Date },
  raw: RawZone,
  from: string,
  to: string,
  log: FetchLogger,
): Promise<Written> {
  const previous = await raw.latest('dividends', to);
  const start = previous ? dividendsCoverage(await raw.readMeta(previous)).from : to;
  const first = start < from ? start : from;
  return writeRaw(deps, raw, 'dividends', to, await deps.source.dividends(first, to), log);
}

/** The rows of a ticker snapshot's pages (bodies as text, or parsed) that name a ticker. */
function snapshotRows(pages: readonly unknown[]): { ticker: string; active: boolean; figi: string | undefined }[] {
  const out: { ticker: string; active: boolean; figi: string | undefined }[] = [];
  for (const raw of pages) {
    const page: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
    const results = typeof page === 'object' && page !== null ? (page as { results?: unknown }).results : undefined;
    if (!Array.isArray(results)) continue;
    for (const row of results as unknown[]) {
      if (typeof row !== 'object' || row === null) continue;
      const { ticker, active, composite_figi: figi } = row as { ticker?: unknown; active?: unknown; composite_figi?: unknown };
      if (typeof ticker !== 'string') continue;
      out.push({ ticker, active: active === true, figi: typeof figi === 'string' && figi.trim() !== '' ? figi : undefined });
    }
  }
  return out;
}

/** The id in a ticker-events request URL (`/vX/reference/tickers/{id}/events`). */
const EVENTS_ID_RE = /\/vX\/reference\/tickers\/([^/?]+)\/events/;

/**
 * The ids whose ticker-change events the raw zone holds an answer for (a
 * page, or a 404 recorded as a request): the requests of the latest fetch of
 * every session but `session`, whose own fetches this run replaces (the
 * latest fetch of a session wins whole downstream, so a re-run of a session
 * asks its ids again).
 */
async function askedIds(raw: RawZone, session: string): Promise<Set<string>> {
  const fetches = [...(await raw.latestBySession('ticker_events')).values()].filter((f) => f.session !== session);
  const metas = await mapLimited(fetches, 8, (f) => raw.readMeta(f));
  const asked = new Set<string>();
  for (const meta of metas) {
    for (const r of meta.requests) {
      const m = EVENTS_ID_RE.exec(r.url);
      if (m) asked.add(decodeURIComponent(m[1]!));
    }
  }
  return asked;
}

/**
 * The ids whose ticker-change events a new snapshot (stored under `session`)
 * asks for, each once, in snapshot order, among the composite FIGIs of its
 * active tickers: `fresh`, those whose (ticker, FIGI) pair the previous
 * snapshot does not hold (asked whatever the budget); `backfill`, the others
 * never asked (`askedIds`), every one on a lake without an earlier snapshot.
 * The previous snapshot is the latest fetch (by fetch id) of an earlier
 * session, never one of the same session: a re-run of a session (a retry, or
 * an event naming its date) compares with what was known before that
 * session, not with its own earlier snapshot, and so asks the same ids again.
 */
async function tickerEventIds(raw: RawZone, session: string, pages: readonly string[]): Promise<{ fresh: string[]; backfill: string[]; previous: RawFetch | undefined }> {
  let previous: RawFetch | undefined;
  for (const f of await raw.list('tickers')) {
    if (f.session < session && (previous === undefined || f.fetchId > previous.fetchId)) previous = f;
  }
  const known = new Set(previous ? snapshotRows(await raw.read(previous)).map((r) => `${r.ticker}\u0000${r.figi ?? ''}`) : []);
  const asked = await askedIds(raw, session);
  const fresh = new Set<string>();
  const backfill = new Set<string>();
  for (const row of snapshotRows(pages)) {
    if (!row.active || row.figi === undefined) continue;
    if (previous !== undefined && !known.has(`${row.ticker}\u0000${row.figi}`)) fresh.add(row.figi);
    else if (!asked.has(row.figi)) backfill.add(row.figi);
  }
  return { fresh: [...fresh], backfill: [...backfill].filter((id) => !fresh.has(id)), previous };
}

/** Results of several `tickerEvents` calls as one: the pages' requests first, then the 404s. */
function joinEvents(results: readonly SourceResult[]): SourceResult {
  const pages = results.flatMap((r) => r.pages);
  const paged = results.flatMap((r) => r.requests.slice(0, r.pages.length));
  const notFound = results.flatMap((r) => r.requests.slice(r.pages.length));
  return { pages, requests: [...paged, ...notFound], rows: results.reduce((n, r) => n + r.rows, 0) };
}

/**
 * The events of the new securities, then backfill chunks until the budget
 * is spent (`EventsBackfill`). Returns what was asked and how many backfill
 * ids are left for later runs. A vendor failure of a backfill chunk
 * (`RateLimitedError`, `UpstreamUnavailableError`, `InvalidResponseError`)
 * ends the backfill with a warning and keeps what was answered: the
 * backfill is what later runs can redo, and it must not cost the run its
 * snapshot. The new securities' own failure is the run's.
 */
async function askTickerEvents(
  deps: { source: MarketSource; now?: () => Date; eventsBackfill?: EventsBackfill },
  fresh: readonly string[],
  backfill: readonly string[],
  log: FetchLogger,
): Promise<{ result: SourceResult; backfilled: number; pending: number }> {
  const now = deps.now ?? (() => new Date());
  const seconds = deps.eventsBackfill?.seconds ?? DEFAULT_EVENTS_BACKFILL_SECONDS;
  const cap = Math.min(backfill.length, deps.eventsBackfill?.maxIds ?? Number.POSITIVE_INFINITY);
  const started = now().getTime();
  const results: SourceResult[] = fresh.length > 0 ? [await deps.source.tickerEvents(fresh)] : [];
  let backfilled = 0;
  while (backfilled < cap && now().getTime() - started < seconds * 1000) {
    const chunk = backfill.slice(backfilled, backfilled + Math.min(EVENTS_CHUNK, cap - backfilled));
    try {
      results.push(await deps.source.tickerEvents(chunk));
    } catch (error) {
      if (!(error instanceof RateLimitedError || error instanceof UpstreamUnavailableError || error instanceof InvalidResponseError)) throw error;
      log.warn('ticker events backfill stopped by a vendor failure: the next runs ask the rest', { error: error.name, detail: error.message, asked: backfilled });
      break;
    }
    backfilled += chunk.length;
  }
  return { result: joinEvents(results), backfilled, pending: backfill.length - backfilled };
}

/**
 * Writes the ticker snapshot `snapshot` (fetched as of `session`) to
 * `raw/tickers`, after the ticker-change events of the securities new in it
 * and a budgeted part of those never asked (`tickerEventIds`,
 * `askTickerEvents`: one request per id, one
 * `raw/ticker_events/date=<session>/` fetch; nothing asked nor written when
 * there is no id to ask). The events go first so that a snapshot in the raw
 * zone always had its new securities' events fetched: when they fail, no
 * snapshot is written, the session is planned again, and the next snapshot
 * is compared with the same previous one, so the same ids are asked again.
 * The backfill carries over: an id stays "never asked" until a fetch that
 * asked it is the latest of its session.
 */
async function writeSnapshot(
  deps: { source: MarketSource; now?: () => Date; eventsBackfill?: EventsBackfill },
  raw: RawZone,
  session: string,
  snapshot: SourceResult,
  log: FetchLogger,
): Promise<{ tickers: Written; events: Written | undefined; eventsPending: number }> {
  const { fresh, backfill, previous } = await tickerEventIds(raw, session, snapshot.pages);
  let events: Written | undefined;
  let eventsPending = 0;
  if (fresh.length === 0 && backfill.length === 0) {
    log.info('no new security in the ticker snapshot and none left to backfill: no ticker events to fetch', { session, previous: previous?.fetchId ?? null });
  } else {
    log.info('fetching ticker events', { session, newSecurities: fresh.length, toBackfill: backfill.length, previous: previous?.fetchId ?? null });
    const asked = await askTickerEvents(deps, fresh, backfill, log);
    eventsPending = asked.pending;
    if (asked.result.requests.length > 0) events = await writeRaw(deps, raw, 'ticker_events', session, asked.result, log);
    if (backfill.length > 0) {
      log.info('ticker events backfill', { session, asked: asked.backfilled, pending: asked.pending, ...(asked.pending > 0 && { next: 'the next runs ask the rest' }) });
    }
  }
  return { tickers: await writeRaw(deps, raw, 'tickers', session, snapshot, log), events, eventsPending };
}

/**
 * Fetches grouped daily bars for the planned sessions and writes each to
 * `raw/ohlcv`. Throws the source's named errors; sessions fetched before a
 * failure stay written (a retry fetches only what is still missing).
 */
export async function fetchOhlcv(deps: FetchDeps, event: FetchEvent, log: FetchLogger = silentLogger): Promise<FetchResult> {
  const { lake, raw, sessions, caughtUp } = await plan(deps, event, 'ohlcv');
  if (sessions === undefined) {
    log.info('not an NYSE session: nothing to fetch', { date: event.date });
    return noSession(lake);
  }
  log.info('fetching daily bars', { sessions, caughtUp, source: deps.source.name });
  const done = await settleAll(sessions.map((session) => fetchDaily(deps, raw, session, log)));
  return {
    status: 'ok',
    lake,
    sessions: done.map((d) => d.session),
    caughtUp,
    rows: done.reduce((n, d) => n + d.rows, 0),
    rawKeys: done.map((d) => d.key),
  };
}

/**
 * Fetches the splits executed over the planned sessions and the cash
 * dividends going ex over them (one range listing each, to `raw/splits` and
 * `raw/dividends` under the latest of them) and a ticker snapshot as of the
 * latest of them; then the ticker-change events of the securities new in
 * that snapshot (to `raw/ticker_events`, when any is new) and the snapshot
 * itself (to `raw/tickers`), both under the latest session. The sessions
 * planned are those whose splits or dividends are missing, and the newest
 * fetched one when no snapshot covers it (`withoutSnapshot`).
 */
export async function fetchMeta(deps: FetchDeps, event: FetchEvent, log: FetchLogger = silentLogger): Promise<FetchResult> {
  const { lake, raw, sessions, caughtUp } = await plan(deps, event, 'meta');
  if (sessions === undefined) {
    log.info('not an NYSE session: nothing to fetch', { date: event.date });
    return noSession(lake);
  }
  const first = sessions[0];
  const last = sessions.at(-1);
  log.info('fetching reference data', { sessions, caughtUp, snapshot: last, source: deps.source.name });
  const done: Written[] = [];
  if (first !== undefined && last !== undefined) {
    const [splits, dividends, snapshot] = await settleAll([
      fetchSplits(deps, raw, first, last, log),
      fetchDividends(deps, raw, first, last, log),
      deps.source.tickers(last),
    ]);
    const { tickers, events } = await writeSnapshot(deps, raw, last, snapshot, log);
    done.push(splits, dividends, tickers, ...(events ? [events] : []));
  }
  return {
    status: 'ok',
    lake,
    sessions: [...sessions],
    caughtUp,
    rows: done.reduce((n, d) => n + d.rows, 0),
    rawKeys: done.map((d) => d.key).sort(),
  };
}

/** What `fetchSessions` needs: a source and an open raw zone. */
export interface FetchSessionsDeps {
  source: MarketSource;
  raw: RawZone;
  /** Clock (decides the latest fetchable session); default the system clock. */
  now?: () => Date;
  logger?: FetchLogger;
  /** How much of the run the ticker-events backfill may take (`EventsBackfill`). */
  eventsBackfill?: EventsBackfill;
}

export interface FetchSessionsOptions {
  /** NYSE sessions, ascending, none after the latest fetchable session. */
  sessions: readonly string[];
  /** Fetch sessions the raw zone already holds again (default false: skip them). */
  refetch?: boolean;
  /** Sessions fetched at once (default 4); the source's own limiter and rate limit still apply. */
  concurrency?: number;
  /** Date of the one ticker snapshot (default the last session). */
  snapshotSession?: string;
  /** Called after each session's daily bars are written. */
  onSession?: (session: string) => void;
}

export interface FetchSessionsReport {
  /** Sessions asked for. */
  requested: number;
  /** Sessions fetched (ascending). */
  fetched: string[];
  /** Sessions skipped: already in the raw zone. */
  skipped: string[];
  /** Daily rows, then split, ticker, dividend and ticker-change event rows fetched. */
  rows: number;
  splitRows: number;
  tickerRows: number;
  dividendRows: number;
  /** Ticker changes fetched for the securities new in the snapshot (0 when none is new). */
  tickerEventRows: number;
  /** Securities whose ticker events are still to ask: later runs ask them (`EventsBackfill`). */
  tickerEventsPending: number;
  /** HTTP requests behind the fetches (every page, and every ticker-events 404): the vendor's bill. */
  requests: number;
  /** Raw data files written. */
  rawKeys: string[];
}

/**
 * A backfill's fetch: the daily bars of every session not fetched yet (or
 * every session with `refetch`), the splits executed over them and the cash
 * dividends going ex over them in one range listing each, and one ticker
 * snapshot, into the raw zone, then the ticker-change events of the
 * securities new in that snapshot (`raw/ticker_events`, one request per new
 * security; none when none is new). The snapshot, the splits, the dividends
 * and the events are written before any daily file, so a run killed part
 * way leaves no daily bars without their splits and dividends and no fetched
 * range without a snapshot; its re-run fetches what is still missing. Every
 * session is checked (`ConfigError`) before anything is fetched.
 *
 * About one request per session: the grouped daily of each session, plus the
 * pages of one splits listing, one dividends listing and one ticker snapshot
 * for the whole range, plus one request per security new in the snapshot
 * (every active one on a lake without an earlier snapshot).
 */
export async function fetchSessions(deps: FetchSessionsDeps, options: FetchSessionsOptions): Promise<FetchSessionsReport> {
  const log = deps.logger ?? silentLogger;
  const latest = latestFetchableSession((deps.now ?? (() => new Date()))());
  const sessions = [...options.sessions];
  sessions.forEach((s, i) => {
    if (!isIsoDate(s) || s < nyse.range.from || s > nyse.range.to || !nyse.isSession(s)) {
      throw new ConfigError(`session ${JSON.stringify(s)} is not an NYSE session`);
    }
    if (s > latest) throw new ConfigError(`session ${s} is after the latest closed session ${latest}: its data does not exist yet`);
    if (i > 0 && s <= sessions[i - 1]!) throw new ConfigError(`sessions must be ascending and distinct (${sessions[i - 1]} then ${s})`);
  });
  const snapshot = options.snapshotSession ?? sessions.at(-1);
  if (snapshot !== undefined && (!isIsoDate(snapshot) || snapshot > latest)) {
    throw new ConfigError(`snapshot session ${JSON.stringify(snapshot)} is not a date on or before the latest closed session ${latest}`);
  }
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`concurrency must be an integer >= 1, got ${String(concurrency)}`);

  const have = new Set(options.refetch ? [] : await deps.raw.sessions('ohlcv'));
  const todo = sessions.filter((s) => !have.has(s));
  const skipped = sessions.filter((s) => have.has(s));
  const report: FetchSessionsReport = { requested: sessions.length, fetched: todo, skipped, rows: 0, splitRows: 0, tickerRows: 0, dividendRows: 0, tickerEventRows: 0, tickerEventsPending: 0, requests: 0, rawKeys: [] };
  const first = todo[0];
  const last = todo.at(-1);
  if (first === undefined || last === undefined || snapshot === undefined) return report;
  log.info('fetching sessions', { from: first, to: last, sessions: todo.length, concurrency, source: deps.source.name });
  // The snapshot, the splits, the dividends and the events first: a daily file without its splits would be
  // adjusted wrongly, and a run killed after its last session but before the snapshot would leave no snapshot.
  const [splits, dividends, pages] = await settleAll([
    fetchSplits(deps, deps.raw, first, last, log),
    fetchDividends(deps, deps.raw, first, last, log),
    deps.source.tickers(snapshot),
  ]);
  const { tickers, events, eventsPending } = await writeSnapshot(deps, deps.raw, snapshot, pages, log);
  report.tickerEventsPending = eventsPending;
  report.splitRows = splits.rows;
  report.tickerRows = tickers.rows;
  report.dividendRows = dividends.rows;
  report.requests += splits.requests + tickers.requests + dividends.requests;
  report.rawKeys.push(tickers.key, splits.key, dividends.key);
  if (events) {
    report.tickerEventRows = events.rows;
    report.requests += events.requests;
    report.rawKeys.push(events.key);
  }
  const daily = await mapLimited(todo, concurrency, async (session) => {
    const written = await fetchDaily(deps, deps.raw, session, log);
    report.rows += written.rows;
    report.requests += written.requests;
    options.onSession?.(session);
    return written;
  });
  report.rawKeys.push(...daily.map((d) => d.key));
  return report;
}

/** A logger that drops everything. */
export const silentLogger: FetchLogger = { info() {}, warn() {}, error() {} };

/** Adds a correlation id to every line of `logger`. */
export function withCorrelation(logger: FetchLogger, correlationId: string | undefined): FetchLogger {
  const id = correlationId ?? randomUUID();
  const extra = (e?: Record<string, unknown>) => ({ correlation_id: id, ...e });
  return {
    info: (m, e) => logger.info(m, extra(e)),
    warn: (m, e) => logger.warn(m, extra(e)),
    error: (m, e) => logger.error(m, extra(e)),
  };
}
