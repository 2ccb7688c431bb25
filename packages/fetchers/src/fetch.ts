/**
 * The two fetch jobs behind the handlers: decide which sessions to fetch,
 * fetch them from a `MarketSource`, and write the pages unchanged to the raw
 * zone. Plain functions of their dependencies, so the Lambda handlers, the
 * local engine and tests all call the same code.
 */
import { randomUUID } from 'node:crypto';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { RawZone, openStore, parseLakeUri } from '@fibbars/ohlcv-core/storage';
import type { OpenStoreOptions, RawKind } from '@fibbars/ohlcv-core/storage';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import type { MarketSource, SourceResult } from './source.js';
import { addDays, newYorkClock } from './time.js';

/** Input of both handlers (the Step Functions task payload). */
export interface FetchEvent {
  /** Session to fetch (`YYYY-MM-DD`); default: every session missing since the last fetch. */
  date?: string;
  /** Cap on the sessions one invocation fetches when no date is given (default 5). */
  maxBackfillSessions?: number;
  /** Lake URI overriding the configured one. */
  lake?: string;
}

/** Output of both handlers: pointers and counts, never rows. */
export interface FetchResult {
  status: 'ok' | 'no-session';
  lake: string;
  /** Sessions fetched, ascending. */
  sessions: string[];
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
}

export const DEFAULT_MAX_BACKFILL_SESSIONS = 5;
/** Minutes after midnight New York time from which today's session counts as fetchable (16:30). */
export const SESSION_READY_MINUTES = 16 * 60 + 30;

const EventSchema = z
  .object({
    date: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date in YYYY-MM-DD form')
      .refine((d) => {
        const t = Date.parse(`${d}T00:00:00Z`);
        return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === d;
      }, 'is not a real calendar date')
      .nullish(),
    maxBackfillSessions: z.number().int().min(1).max(10_000).nullish(),
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
  if (parsed.data?.lake != null) out.lake = parsed.data.lake;
  return out;
}

/** The latest session whose data can exist at `now`: today's counts from 16:30 New York time. */
export function latestFetchableSession(now: Date): string {
  const ny = newYorkClock(now);
  const cutoff = ny.minutes >= SESSION_READY_MINUTES ? ny.date : addDays(ny.date, -1);
  return nyse.latestSessionOnOrBefore(cutoff);
}

/**
 * Sessions to fetch when no date is given: every session after the last one
 * in `fetched` up to `latest`, oldest first, at most `cap`; on an empty raw
 * zone just `latest`.
 */
export function sessionsToFetch(fetched: readonly string[], latest: string, cap: number): string[] {
  const last = fetched.at(-1);
  if (last === undefined) return [latest];
  if (last >= latest) return [];
  return nyse.sessionsBetween(nyse.nextSession(last), latest).slice(0, cap);
}

interface Plan {
  lake: string;
  raw: RawZone;
  /** `undefined` when the event names a non-session date. */
  sessions: string[] | undefined;
}

async function plan(deps: FetchDeps, event: FetchEvent, kind: RawKind): Promise<Plan> {
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
    return { lake, raw, sessions: nyse.isSession(event.date) ? [event.date] : undefined };
  }
  const latest = latestFetchableSession(now);
  const cap = event.maxBackfillSessions ?? DEFAULT_MAX_BACKFILL_SESSIONS;
  return { lake, raw, sessions: sessionsToFetch(await raw.sessions(kind), latest, cap) };
}

const noSession = (lake: string): FetchResult => ({ status: 'no-session', lake, sessions: [], rows: 0, rawKeys: [] });

/** Runs every task, lets the others finish, then rethrows the first failure. */
async function settleAll<T>(tasks: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

async function writeRaw(
  deps: FetchDeps,
  raw: RawZone,
  kind: RawKind,
  session: string,
  result: SourceResult,
  log: FetchLogger,
): Promise<string> {
  const fetchedAt = (deps.now ?? (() => new Date()))();
  const written = await raw.write(kind, session, result.pages, {
    requests: result.requests,
    rows: result.rows,
    source: deps.source.name,
    fetchedAt,
  });
  log.info('raw fetch written', { kind, session, rows: result.rows, pages: result.pages.length, key: written.key });
  return written.key;
}

/**
 * Fetches grouped daily bars for the planned sessions and writes each to
 * `raw/ohlcv`. Throws the source's named errors; sessions fetched before a
 * failure stay written (a retry fetches only what is still missing).
 */
export async function fetchOhlcv(deps: FetchDeps, event: FetchEvent, log: FetchLogger = silentLogger): Promise<FetchResult> {
  const { lake, raw, sessions } = await plan(deps, event, 'ohlcv');
  if (sessions === undefined) {
    log.info('not an NYSE session: nothing to fetch', { date: event.date });
    return noSession(lake);
  }
  log.info('fetching daily bars', { sessions, source: deps.source.name });
  const done = await settleAll(
    sessions.map(async (session) => {
      const result = await deps.source.groupedDaily(session);
      return { session, rows: result.rows, key: await writeRaw(deps, raw, 'ohlcv', session, result, log) };
    }),
  );
  return {
    status: 'ok',
    lake,
    sessions: done.map((d) => d.session),
    rows: done.reduce((n, d) => n + d.rows, 0),
    rawKeys: done.map((d) => d.key),
  };
}

/**
 * Fetches the splits executed on each planned session (to `raw/splits`) and a
 * ticker snapshot stored under the latest of them (to `raw/tickers`).
 */
export async function fetchMeta(deps: FetchDeps, event: FetchEvent, log: FetchLogger = silentLogger): Promise<FetchResult> {
  const { lake, raw, sessions } = await plan(deps, event, 'splits');
  if (sessions === undefined) {
    log.info('not an NYSE session: nothing to fetch', { date: event.date });
    return noSession(lake);
  }
  const snapshotSession = sessions.at(-1);
  log.info('fetching reference data', { sessions, snapshot: snapshotSession, source: deps.source.name });
  const tasks: Promise<{ session: string; rows: number; key: string }>[] = sessions.map(async (session) => {
    const result = await deps.source.splits(session);
    return { session, rows: result.rows, key: await writeRaw(deps, raw, 'splits', session, result, log) };
  });
  if (snapshotSession !== undefined) {
    tasks.push(
      (async () => {
        const result = await deps.source.tickers(snapshotSession);
        return { session: snapshotSession, rows: result.rows, key: await writeRaw(deps, raw, 'tickers', snapshotSession, result, log) };
      })(),
    );
  }
  const done = await settleAll(tasks);
  return {
    status: 'ok',
    lake,
    sessions: [...sessions],
    rows: done.reduce((n, d) => n + d.rows, 0),
    rawKeys: done.map((d) => d.key).sort(),
  };
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
