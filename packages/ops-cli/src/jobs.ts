/**
 * Local jobs built from ohlcv-core and the sources: fetch raw sessions into
 * the raw zone, consolidate, resample. Shared by `run`, `backfill`,
 * `consolidate` and `resample`.
 */
import { newRunId as newSortableRunId } from '@fibbars/asl-definition';
import type { FetchSessionsReport } from '@fibbars/fetchers';
import { UsageError } from './errors.js';
import type { Logger } from './output.js';
import { ProgressBar } from './progress.js';
import {
  DEFAULT_INTERVALS,
  loadCore,
  loadFetchers,
  type ConsolidateLakeReport,
  type LakeLike,
  type MarketSourceLike,
  type ResampleIntervalReport,
} from './seams.js';

/** A job's run id, `<kind>-YYYYMMDDTHHmmssZ-<6 hex>` (run ids have one home: `newRunId` of @fibbars/asl-definition). */
export function newRunId(kind: string, now: Date): string {
  return newSortableRunId(now, kind);
}

export type FetchReport = FetchSessionsReport;

/**
 * The fetch of a backfill, done by `@fibbars/fetchers` (`fetchSessions`): the
 * daily bars of each session not fetched yet (bounded concurrency, under the
 * source's rate limiter), the splits executed over them in one range listing
 * and one ticker snapshot dated `snapshotSession`, into the raw zone. This
 * command only draws the progress bar.
 */
export async function fetchSessions(
  lake: LakeLike,
  source: MarketSourceLike,
  sessions: string[],
  options: { refetch: boolean; concurrency: number; snapshotSession: string; log: Logger; now: () => Date; env?: Record<string, string | undefined> },
): Promise<FetchReport> {
  const fetchers = await loadFetchers();
  const eventsBackfill = fetchers.eventsBackfillFromEnv(options.env ?? {});
  const have = new Set(options.refetch ? [] : await lake.raw.sessions('ohlcv'));
  const bar = new ProgressBar(options.log.stderr, sessions.filter((s) => !have.has(s)).length, 'fetching sessions');
  return fetchers.fetchSessions(
    { source, raw: lake.raw, now: options.now, eventsBackfill },
    {
      sessions,
      refetch: options.refetch,
      concurrency: options.concurrency,
      snapshotSession: options.snapshotSession,
      onSession: (session) => bar.tick(session),
    },
  );
}

/**
 * Consolidates the raw zone into the daily history. With a logger, draws a
 * progress bar over the sessions parsed and says when the files are written,
 * so a long backfill's consolidation does not look stuck.
 */
export async function consolidate(lake: LakeLike, runId: string, maxRejectedShare?: number, log?: Logger): Promise<ConsolidateLakeReport> {
  const core = await loadCore();
  let bar: ProgressBar | undefined;
  return core.consolidateLake(lake, {
    runId,
    ...(maxRejectedShare === undefined ? {} : { maxRejectedShare }),
    ...(log
      ? {
          onProgress: (p) => {
            if (p.phase === 'parse') (bar ??= new ProgressBar(log.stderr, p.total, 'consolidating sessions')).tick(p.session);
            else log.info(`consolidating: validated, writing ${p.rows.toLocaleString('en-US')} rows of the daily history ...`);
          },
        }
      : {}),
  });
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
  // A full build's windows are large Polars frames V8 cannot see: exposing gc lets the
  // job collect each one as it drops it (ohlcv-core's memory.ts).
  core.exposeGc();
  return (await core.resampleLake(lake, { days: intervals, runId })).intervals;
}
