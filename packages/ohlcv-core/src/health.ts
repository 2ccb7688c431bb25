/**
 * Data health of a lake's daily history, after qlib's `check_data_health`:
 * sessions missing from the lake, per-ticker holes, close-to-close price
 * jumps above a threshold that no split explains, streaks of zero-volume
 * sessions, active tickers with no recent data, and the rows the validation
 * put in quarantine. Everything is read through the lake API, so it sees
 * exactly the committed data; nothing is written.
 */
import pl from 'nodejs-polars';
import { nyse } from './calendar.js';
import { ConfigError } from './errors.js';
import { findGapsInFrame, type GapReport } from './gaps.js';
import type { Lake } from './lake.js';

type DataFrame = pl.DataFrame;

export interface HealthOptions {
  /** A close-to-close move larger than this share (after any split that day) is a jump. Default 0.5 (50 %), qlib's default. */
  jumpThreshold?: number;
  /** Consecutive zero-volume sessions of one ticker that make a streak. Default 3. */
  zeroVolumeSessions?: number;
  /** An active ticker whose last row is more than this many sessions before the lake's latest session is stale. Default 5. */
  staleSessions?: number;
}

export const DEFAULT_HEALTH_OPTIONS: Required<HealthOptions> = Object.freeze({
  jumpThreshold: 0.5,
  zeroVolumeSessions: 3,
  staleSessions: 5,
});

export interface PriceJump {
  ticker: string;
  date: string;
  previousDate: string;
  previousClose: number;
  close: number;
  /** close / (previous close adjusted by that day's split) - 1. */
  change: number;
  /** The split ratio (split_to / split_from) executed that day, 1 when none. */
  splitRatio: number;
}

export interface ZeroVolumeStreak {
  ticker: string;
  from: string;
  to: string;
  sessions: number;
}

export interface StaleTicker {
  ticker: string;
  name: string | null;
  /** The ticker's last session in the lake, null when it has no rows at all. */
  lastSession: string | null;
  /** Lake sessions after its last row (all of them when it has none). */
  sessionsBehind: number;
}

export interface QuarantineSummary {
  rows: number;
  sessions: number;
  byReason: Record<string, number>;
}

export interface HealthReport {
  from: string | null;
  to: string | null;
  rows: number;
  options: Required<HealthOptions>;
  gaps: GapReport;
  jumps: PriceJump[];
  zeroVolume: ZeroVolumeStreak[];
  stale: StaleTicker[];
  quarantine: QuarantineSummary;
  /** Findings of every kind; 0 means healthy. */
  problems: number;
}

export interface HealthInput {
  daily: DataFrame;
  splits?: DataFrame;
  tickers?: DataFrame;
  quarantine?: DataFrame;
}

const DAY_MS = 86_400_000;
const isoOfDay = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);
const day = (column: string) => pl.col(column).cast(pl.Int32);

function resolveOptions(options: HealthOptions): Required<HealthOptions> {
  const o = { ...DEFAULT_HEALTH_OPTIONS, ...options };
  if (!(Number.isFinite(o.jumpThreshold) && o.jumpThreshold > 0)) {
    throw new ConfigError(`jumpThreshold ${String(o.jumpThreshold)} is not a positive share (0.5 means a 50 % move)`);
  }
  for (const [key, value] of [['zeroVolumeSessions', o.zeroVolumeSessions], ['staleSessions', o.staleSessions]] as const) {
    if (!(Number.isInteger(value) && value >= 1)) throw new ConfigError(`${key} ${String(value)} is not a whole number of sessions >= 1`);
  }
  return o;
}

/**
 * Close-to-close moves above `threshold` that the day's split does not
 * explain: the previous close is divided by the split ratio executed that
 * day (a 4-for-1 split turns 400 into 100) before comparing.
 */
export function findPriceJumps(daily: DataFrame, splits: DataFrame | undefined, threshold: number): PriceJump[] {
  if (daily.height < 2) return [];
  let lf = daily
    .lazy()
    .select('ticker', 'date', 'close')
    .sort(['ticker', 'date'])
    .withColumns(
      pl.col('close').shift(1).over('ticker').alias('previousClose'),
      pl.col('date').shift(1).over('ticker').alias('previousDate'),
    )
    .filter(pl.col('previousClose').isNotNull());
  if (splits && splits.height > 0) {
    const ratios = splits
      .lazy()
      .filter(pl.col('split_from').gt(0).and(pl.col('split_to').gt(0)))
      // One row per (ticker, execution_date) in the splits dataset, so the day's ratio is that row's.
      .select(pl.col('ticker'), pl.col('execution_date').alias('date'), pl.col('split_to').div(pl.col('split_from')).alias('splitRatio'))
      .unique({ subset: ['ticker', 'date'], keep: 'first' });
    lf = lf.join(ratios, { on: ['ticker', 'date'], how: 'left' }).withColumns(pl.col('splitRatio').fillNull(1));
  } else {
    lf = lf.withColumns(pl.lit(1).cast(pl.Float64).alias('splitRatio'));
  }
  const found = lf
    .withColumns(pl.col('close').div(pl.col('previousClose').div(pl.col('splitRatio'))).minus(1).alias('change'))
    .filter(pl.col('change').abs().gt(threshold))
    .select('ticker', day('date').alias('d'), day('previousDate').alias('pd'), 'previousClose', 'close', 'change', 'splitRatio')
    .sort(['ticker', 'd'])
    .collectSync();
  return (found.toRecords() as { ticker: string; d: number; pd: number; previousClose: number; close: number; change: number; splitRatio: number }[]).map(
    (r) => ({
      ticker: r.ticker,
      date: isoOfDay(Number(r.d)),
      previousDate: isoOfDay(Number(r.pd)),
      previousClose: r.previousClose,
      close: r.close,
      change: r.change,
      splitRatio: r.splitRatio,
    }),
  );
}

/** Runs of at least `minSessions` consecutive rows of one ticker with volume 0. */
export function findZeroVolumeStreaks(daily: DataFrame, minSessions: number): ZeroVolumeStreak[] {
  if (daily.height === 0) return [];
  const zeros = daily
    .lazy()
    .select('ticker', 'date', 'volume')
    .sort(['ticker', 'date'])
    .withColumns(pl.col('date').cumCount().over('ticker').alias('i'))
    .filter(pl.col('volume').eq(0))
    .select('ticker', day('date').alias('d'), 'i')
    .collectSync();
  const rows = zeros.toRecords() as { ticker: string; d: number; i: number }[];
  const out: ZeroVolumeStreak[] = [];
  let start = 0;
  for (let k = 1; k <= rows.length; k++) {
    const prev = rows[k - 1] as (typeof rows)[number];
    const cur = rows[k];
    if (cur && cur.ticker === prev.ticker && Number(cur.i) === Number(prev.i) + 1) continue;
    const first = rows[start] as (typeof rows)[number];
    const sessions = k - start;
    if (sessions >= minSessions) out.push({ ticker: first.ticker, from: isoOfDay(Number(first.d)), to: isoOfDay(Number(prev.d)), sessions });
    start = k;
  }
  return out;
}

/**
 * Tickers the snapshot lists as active whose last row in the daily history
 * is more than `staleSessions` sessions before `latest` (or that have none).
 */
export function findStaleTickers(daily: DataFrame, tickers: DataFrame | undefined, latest: string | null, staleSessions: number): StaleTicker[] {
  if (!tickers || tickers.height === 0 || latest === null) return [];
  const lastSeen = new Map<string, number>();
  if (daily.height > 0) {
    const per = daily.groupBy('ticker').agg(day('date').max().alias('last'));
    for (const r of per.toRecords() as { ticker: string; last: number }[]) lastSeen.set(r.ticker, Number(r.last));
  }
  const first = daily.height > 0 ? isoOfDay(Number(daily.select(day('date').min().alias('d')).getColumn('d').get(0))) : latest;
  const active = tickers.filter(pl.col('active').eq(true)).select('ticker', 'name').sort('ticker').toRecords() as { ticker: string; name: string | null }[];
  const out: StaleTicker[] = [];
  for (const t of active) {
    const last = lastSeen.get(t.ticker);
    const lastSession = last === undefined ? null : isoOfDay(last);
    const behind = lastSession === null ? nyse.sessionsBetween(first, latest).length : nyse.sessionsBetween(lastSession, latest).length - 1;
    if (behind > staleSessions) out.push({ ticker: t.ticker, name: t.name ?? null, lastSession, sessionsBehind: behind });
  }
  return out;
}

export function summariseQuarantine(quarantine: DataFrame | undefined): QuarantineSummary {
  if (!quarantine || quarantine.height === 0) return { rows: 0, sessions: 0, byReason: {} };
  const byReason: Record<string, number> = {};
  const counts = quarantine.groupBy('reason').agg(pl.col('ticker').count().alias('n')).sort('reason');
  for (const r of counts.toRecords() as { reason: string; n: number }[]) byReason[String(r.reason)] = Number(r.n);
  return { rows: quarantine.height, sessions: quarantine.select('date').unique().height, byReason };
}

/** The health report of frames shaped like the lake's datasets (for notebooks and tests). */
export async function checkDailyHealth(input: HealthInput, options: HealthOptions = {}): Promise<HealthReport> {
  const o = resolveOptions(options);
  const gaps = await findGapsInFrame(input.daily);
  const jumps = findPriceJumps(input.daily, input.splits, o.jumpThreshold);
  const zeroVolume = findZeroVolumeStreaks(input.daily, o.zeroVolumeSessions);
  const stale = findStaleTickers(input.daily, input.tickers, gaps.to, o.staleSessions);
  const quarantine = summariseQuarantine(input.quarantine);
  return {
    from: gaps.from,
    to: gaps.to,
    rows: input.daily.height,
    options: o,
    gaps,
    jumps,
    zeroVolume,
    stale,
    quarantine,
    problems: gaps.missingSessions.length + gaps.holes + jumps.length + zeroVolume.length + stale.length + quarantine.rows,
  };
}

/**
 * The health report of a lake's committed daily history, splits, ticker
 * snapshot and quarantine.
 *
 * @example
 * const report = await checkHealth(openLake('./lake'), { jumpThreshold: 0.3 });
 * if (report.problems > 0) console.table(report.jumps);
 */
export async function checkHealth(lake: Lake, options: HealthOptions = {}): Promise<HealthReport> {
  resolveOptions(options);
  const datasets = new Set(await lake.datasets());
  const read = async (name: 'splits' | 'tickers') => (datasets.has(name) ? lake.read(name) : undefined);
  // Only the columns the checks use, scanned: a fraction of the daily history's memory.
  const daily = (await lake.scan('ohlcv_1d')).select('ticker', 'date', 'close', 'volume').collect();
  const [dailyFrame, splits, tickers, quarantine] = await Promise.all([daily, read('splits'), read('tickers'), lake.readQuarantine()]);
  return checkDailyHealth(
    { daily: dailyFrame, ...(splits ? { splits } : {}), ...(tickers ? { tickers } : {}), quarantine },
    options,
  );
}
