/**
 * Local jobs built from ohlcv-core and the sources: fetch raw sessions into
 * the raw zone, consolidate, resample. Shared by `run`, `backfill`,
 * `consolidate` and `resample`.
 */
import { randomBytes } from 'node:crypto';
import { UsageError } from './errors.js';
import type { Logger } from './output.js';
import { mapLimit, ProgressBar } from './progress.js';
import {
  DEFAULT_INTERVALS,
  loadCore,
  type ConsolidateLakeReport,
  type LakeLike,
  type MarketSourceLike,
  type ResampleIntervalReport,
} from './seams.js';

export function newRunId(kind: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${kind}-${stamp}-${randomBytes(3).toString('hex')}`;
}

export interface FetchReport {
  requested: number;
  fetched: string[];
  skipped: string[];
  rows: number;
  splitRows: number;
  tickerRows: number;
}

/**
 * Fetches one ticker snapshot dated `snapshotSession` and the daily bars and
 * splits of each session (bounded concurrency), into the raw zone.
 */
export async function fetchSessions(
  lake: LakeLike,
  source: MarketSourceLike,
  sessions: string[],
  options: { refetch: boolean; concurrency: number; snapshotSession: string; log: Logger },
): Promise<FetchReport> {
  const have = new Set(options.refetch ? [] : await lake.raw.sessions('ohlcv'));
  const todo = sessions.filter((s) => !have.has(s));
  const skipped = sessions.filter((s) => have.has(s));
  // The ticker snapshot first: a run killed after its last session but before
  // the snapshot would leave nothing to fetch on the re-run, and no snapshot.
  let tickerRows = 0;
  if (todo.length > 0) {
    const tickers = await source.tickers(options.snapshotSession);
    await lake.raw.write('tickers', options.snapshotSession, tickers.pages, {
      requests: tickers.requests,
      rows: tickers.rows,
      source: source.name,
    });
    tickerRows = tickers.rows;
  }
  const bar = new ProgressBar(options.log.stderr, todo.length, 'fetching sessions');
  let rows = 0;
  let splitRows = 0;
  await mapLimit(todo, options.concurrency, async (session) => {
    const daily = await source.groupedDaily(session);
    const splits = await source.splits(session);
    // Splits first: a daily file without its splits would be adjusted wrongly.
    await lake.raw.write('splits', session, splits.pages, { requests: splits.requests, rows: splits.rows, source: source.name });
    await lake.raw.write('ohlcv', session, daily.pages, { requests: daily.requests, rows: daily.rows, source: source.name });
    rows += daily.rows;
    splitRows += splits.rows;
    bar.tick(session);
  });
  return { requested: sessions.length, fetched: todo, skipped, rows, splitRows, tickerRows };
}

export async function consolidate(lake: LakeLike, runId: string, maxRejectedShare?: number): Promise<ConsolidateLakeReport> {
  const core = await loadCore();
  return core.consolidateLake(lake, { runId, ...(maxRejectedShare === undefined ? {} : { maxRejectedShare }) });
}

/** `--max-rejected-share` (or MAX_REJECTED_SHARE): the quality gate's largest quarantined share of a session. */
export function parseShare(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    throw new UsageError(`--max-rejected-share must be a fraction from 0 to 1, got "${value}": e.g. --max-rejected-share 0.05`);
  }
  return n;
}

export async function resampleAll(
  lake: LakeLike,
  runId: string,
  intervals: readonly number[] = DEFAULT_INTERVALS,
): Promise<ResampleIntervalReport[]> {
  const core = await loadCore();
  return (await core.resampleLake(lake, { days: intervals, runId })).intervals;
}
