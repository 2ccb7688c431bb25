import { latestClosedSession, nyse } from '@fibbars/ohlcv-core/calendar';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { positiveInt } from '../config.js';
import { parseIsoDate } from '../dates.js';
import { UsageError } from '../errors.js';
import { duration } from '../format.js';
import { consolidate, fetchSessions, newRunId, parseShare, resampleAll, type FetchReport } from '../jobs.js';
import { committedDatasets, intervalsIn } from '../lake-access.js';
import { example, jsonOption, lakeOption, sourceOption } from '../options.js';
import { describeConsolidate, describeResample, type ConsolidateSummary, type ResampleSummary } from '../reports.js';
import { DEFAULT_INTERVALS, loadCore, loadFetchers, type LakeLike, type MarketSourceLike } from '../seams.js';
import { chooseSource, type SourceFlags } from '../source.js';
import type { Logger } from '../output.js';
import { RecordedExecution } from '../recorded.js';
import type { RunRecord } from '@fibbars/ohlcv-core/storage';

export interface BackfillResult {
  /** The execution it was recorded as (`fibbars describe <runId>`). */
  runId: string;
  from: string;
  to: string;
  fetch: FetchReport;
  consolidate: ConsolidateSummary;
  resample: ResampleSummary[];
  elapsedMs: number;
}

/**
 * Fetch a list of sessions, then consolidate and resample once; recorded as
 * an execution (`_runs/<runId>.json`, kind `backfill`) with its three stages.
 */
export async function backfillSessions(
  lake: LakeLike,
  source: MarketSourceLike,
  sessions: string[],
  options: {
    refetch: boolean;
    concurrency: number;
    log: Logger;
    now: () => Date;
    runId: string;
    intervals: readonly number[];
    maxRejectedShare?: number;
    /** The record of the backfill this one redrives (same run id, next attempt). */
    redrive?: RunRecord;
    /** The environment (`FIBBARS_EVENTS_BACKFILL_SECONDS`); default none, the fetchers' defaults. */
    env?: Record<string, string | undefined>;
  },
): Promise<Omit<BackfillResult, 'runId' | 'from' | 'to' | 'elapsedMs'>> {
  const first = sessions[0] as string;
  const last = sessions[sessions.length - 1] as string;
  const execution = await RecordedExecution.start(
    lake.runs,
    {
      runId: options.runId,
      kind: 'backfill',
      input: { from: first, to: last, sessions: sessions.length, refetch: options.refetch, intervals: [...options.intervals] },
      lake: lake.store.uri,
      source: source.name,
      ...(options.redrive ? { previous: options.redrive } : {}),
    },
    options.now(),
  );
  const fetch = await execution.stage(
    'FetchSessions',
    () =>
      fetchSessions(lake, source, sessions, {
        refetch: options.refetch,
        concurrency: options.concurrency,
        snapshotSession: last,
        log: options.log,
        now: options.now,
        env: options.env ?? {},
      }),
    (f) => ({ requested: f.requested, fetched: f.fetched.length, skipped: f.skipped.length, rows: f.rows }),
  );
  const cons = await execution.stage(
    'Consolidate',
    async () => {
      options.log.info(`consolidating ...`);
      return describeConsolidate(await consolidate(lake, options.runId, options.maxRejectedShare, options.log));
    },
    (c) => ({ accepted: c.accepted, collapsed: c.collapsed, quarantined: c.quarantined }),
  );
  const resample = await execution.stage(
    'Resample',
    async () => {
      options.log.info(`resampling ${options.intervals.map((d) => `${d}d`).join(', ')} ...`);
      return (await resampleAll(lake, options.runId, options.intervals)).map(describeResample);
    },
    (r) => Object.fromEntries(r.map((x) => [`${x.days}d`, x.bars])),
  );
  await execution.succeed();
  return { fetch, consolidate: cons, resample };
}

/**
 * Sessions fetched at once: `--concurrency`, else `POLYGON_CONCURRENCY`, else 4.
 * On a paid plan (`POLYGON_RPM` high) more sessions in flight fill the rate
 * limit; on the free plan the limiter spaces the requests whatever the count.
 */
export function sessionConcurrency(flag: string | undefined, env: Record<string, string | undefined>): number {
  if (flag !== undefined) return positiveInt('--concurrency', flag, { max: 64 });
  const fromEnv = env.POLYGON_CONCURRENCY?.trim();
  return fromEnv ? positiveInt('POLYGON_CONCURRENCY', fromEnv, { max: 64 }) : 4;
}

export function registerBackfill(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('backfill')
    .description('fetch a range of sessions (daily bars, splits, a ticker snapshot), then consolidate and resample once')
    .requiredOption('--from <date>', 'first date (YYYY-MM-DD)')
    .requiredOption('--to <date>', 'last date (YYYY-MM-DD, not in the future)')
    .option('--refetch', 'fetch sessions again even when the raw zone already has them (the latest fetch wins)')
    .option('--concurrency <n>', 'sessions fetched in parallel, under the vendor rate limit (env POLYGON_CONCURRENCY, default 4)')
    .option('--max-rejected-share <fraction>', 'quality gate: largest quarantined share of a session (env MAX_REJECTED_SHARE, default 0.01)');
  lakeOption(cmd);
  sourceOption(cmd);
  jsonOption(cmd);
  example(
    cmd,
    'fibbars backfill --from 2025-01-02 --to 2025-12-31',
    'fibbars backfill --from 2026-11-02 --to 2026-11-06 --refetch --concurrency 2',
    'fibbars describe latest      # a backfill is recorded as an execution (stop / redrive it too)',
  );
  cmd.action(
    async (
      opts: SourceFlags & { from: string; to: string; refetch?: boolean; concurrency?: string; maxRejectedShare?: string; lake?: string; json?: boolean },
    ) => {
      // Every date is checked before anything is fetched or written.
      const from = parseIsoDate('--from', opts.from, ctx.now());
      const to = parseIsoDate('--to', opts.to, ctx.now());
      const concurrency = sessionConcurrency(opts.concurrency, ctx.env);
      const maxRejectedShare = parseShare(opts.maxRejectedShare ?? ctx.env.MAX_REJECTED_SHARE);
      (await loadFetchers()).eventsBackfillFromEnv(ctx.env); // FIBBARS_EVENTS_BACKFILL_SECONDS, checked before anything is written
      if (from > to) throw new UsageError(`--from ${from} is after --to ${to}: swap them`);
      const latest = latestClosedSession(ctx.now());
      if (to > latest) {
        throw new UsageError(`--to ${to} is after the latest closed session ${latest}: pass --to ${latest} or earlier`);
      }
      const sessions = nyse.sessionsBetween(from, to);
      if (sessions.length === 0) throw new UsageError(`no NYSE session between ${from} and ${to}: widen the range`);
      const cfg = ctx.config({ lake: opts.lake });
      const chosen = chooseSource(opts, cfg, ctx.env);
      ctx.log.info(chosen.banner);
      const started = Date.now();
      const core = await loadCore();
      const lake = await core.openLake(cfg.lake);
      const source = await chosen.create(ctx.now, { concurrency });
      // The default intervals plus any other the lake already holds: a run killed after some
      // intervals were committed must not shrink what the re-run builds (DESIGN 3.2).
      const configured = intervalsIn(await committedDatasets(lake.store)).filter((d) => d > 1);
      const intervals = [...new Set([...DEFAULT_INTERVALS, ...configured])].sort((a, b) => a - b);
      const runId = newRunId('backfill', ctx.now());
      const result = await backfillSessions(lake, source, sessions, {
        refetch: Boolean(opts.refetch),
        concurrency,
        log: ctx.log,
        now: ctx.now,
        env: ctx.env,
        runId,
        intervals,
        ...(maxRejectedShare === undefined ? {} : { maxRejectedShare }),
      });
      const full: BackfillResult = { runId, from, to, ...result, elapsedMs: Date.now() - started };
      if (opts.json) {
        ctx.log.json(full);
        return;
      }
      const f = full.fetch;
      ctx.log.out(`sessions: ${f.requested} in range, ${f.fetched.length} fetched, ${f.skipped.length} already in the raw zone`);
      ctx.log.out(`rows fetched: ${f.rows} daily, ${f.splitRows} splits, ${f.dividendRows} dividends, ${f.tickerRows} tickers, ${f.tickerEventRows} ticker events (${f.requests} vendor requests)`);
      if (f.tickerEventsPending > 0) {
        ctx.log.out(`ticker events: ${f.tickerEventsPending} securities not asked yet (each run asks more within its budget, FIBBARS_EVENTS_BACKFILL_SECONDS)`);
      }
      ctx.log.out(full.consolidate.text);
      for (const r of full.resample) ctx.log.out(r.text);
      ctx.log.out(`elapsed ${duration(full.elapsedMs)}`);
      ctx.log.out(`recorded as execution ${runId}: see it with "fibbars describe ${runId}"`);
    },
  );
}
