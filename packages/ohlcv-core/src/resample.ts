// N-session bars from daily rows (DESIGN §3.1, §3.4), as one lazy Polars
// plan: the session index comes from a join with the calendar frame (no
// per-row JS), split adjustment from an as-of join against a small factor
// table, and one group-by per interval. Several intervals share one cached
// scan (`resampleMany`).
import pl from 'nodejs-polars';
import type { DataFrame, Expr, LazyDataFrame } from 'nodejs-polars';
import { DEFAULT_INTERVALS, bucketBounds, latestSessionOnOrBefore, nyse, sessionIndex } from './calendar.js';
import type { BucketBounds } from './calendar.js';
import { epochDayToIso, isoToEpochDay } from './dates.js';
import { ConfigError } from './errors.js';
import { dailyArrays, kernelBars, type DailyArrays } from './kernel.js';
import { once } from './memo.js';
import { applyDividendFactors, dividendFactorFrame, parseAdjust, type Adjust } from './adjust.js';
import { BAR_SCHEMA, SILVER_DAILY_SCHEMA, SPLITS_SCHEMA, conform } from './schemas.js';

/**
 * How bars are aligned:
 * - `calendar` (default, stored): bucket = floor(sessionIndex / N), shared by every ticker, stable forever;
 * - `ticker`: each ticker's own rows numbered 1, 2, ...; bucket = floor((row - 1) / N);
 * - `latest`: buckets counted backwards from `asOf`, so the newest bar ends on it (bucket 0, then -1, ...).
 */
export type Anchor = 'calendar' | 'ticker' | 'latest';

/** Options of `resample`. */
export interface ResampleOptions {
  /** Sessions per bar (a positive integer). */
  days: number;
  anchor?: Anchor;
  /** Splits table (`ticker, execution_date, split_from, split_to`); bars are adjusted to the latest split. */
  splits?: DataFrame | null;
  /** Dividends table (`DIVIDENDS_SCHEMA`), for `adjust: 'total-return'`. */
  dividends?: DataFrame | null;
  /**
   * `splits` (default: adjusted with `splits` when given), `total-return`
   * (splits, then the cash `dividends` reinvested; LAKE.md, "Dividends and
   * total return") or `none` (the rows as given, `splits` ignored).
   */
  adjust?: Adjust;
  /**
   * The latest session the data is complete for (`YYYY-MM-DD`; a non-session
   * means the session before it). Rows after it are ignored. Default: the
   * latest date in the frame.
   */
  asOf?: string;
  /**
   * Set when the rows are already sorted by (ticker, date), one per pair, to
   * skip the sort (`resample` finds this out by itself with one linear pass;
   * `resampleLazy` cannot look at its input and sorts unless told).
   */
  sorted?: boolean;
}

const SIDX = '__sidx';
const BUCKET = '__bucket';
// The daily columns resample reads, with their dtypes: the silver daily schema.
const DAILY = Object.entries(SILVER_DAILY_SCHEMA);
const DAILY_COLUMNS = DAILY.map(([c]) => c);

let calendarFrameCache: DataFrame | undefined;

/**
 * The NYSE sessions as a frame (`date` Date, `session_index` Int32), for
 * joining a date column to its session index.
 *
 * @example
 * import { calendarFrame } from '@fibbars/ohlcv-core';
 * calendarFrame().head(1); // 1990-01-02 | 0
 */
export function calendarFrame(): DataFrame {
  calendarFrameCache ??= pl.DataFrame([
    pl.Series('date', Array.from(nyse.sessionEpochDays), pl.Int32).cast(pl.Date),
    pl.Series('session_index', Array.from({ length: nyse.sessions.length }, (_, i) => i), pl.Int32),
  ]);
  return calendarFrameCache;
}

function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1) {
    throw new ConfigError(`resample: days must be a positive integer, got ${String(days)}`);
  }
}

function checkAnchor(anchor: string): asserts anchor is Anchor {
  if (!['calendar', 'ticker', 'latest'].includes(anchor)) {
    throw new ConfigError(`resample: unknown anchor "${anchor}" (expected calendar, ticker or latest)`);
  }
}

/** Select the daily columns with their dtypes; `vwap` and `transactions` may be absent. */
function dailyColumns(lf: LazyDataFrame, columns: readonly string[]): LazyDataFrame {
  const required = ['ticker', 'date', 'open', 'high', 'low', 'close', 'volume'];
  const missing = required.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw new ConfigError(`resample: daily frame is missing column(s) ${missing.join(', ')}`);
  }
  const key = `daily:${DAILY.map(([c]) => (columns.includes(c) ? 1 : 0)).join('')}`;
  return lf.select(...once(key, () => DAILY.map(([c, type]) => (columns.includes(c) ? pl.col(c) : pl.lit(null)).cast(type).alias(c))));
}

/** Each ticker's splits as cumulative factors, by execution day (see `splitFactorTable`). */
export interface TickerFactors {
  /** Execution days (epoch days), ascending, one per day. */
  day: number[];
  /** factor[k]: the product of the ratios of split k and every later split. */
  factor: number[];
}

/**
 * Cumulative adjustment factors: for each split, the product of its ratio
 * and every later split's ratio of the same ticker. A daily row before a
 * split's execution date (and on or after the previous one) takes that
 * split's factor. Computed in JS: the splits table is small.
 * @internal
 */
export function splitFactorTable(splits: DataFrame): Map<string, TickerFactors> {
  const s = conform(splits, SPLITS_SCHEMA).select(
    pl.col('ticker'),
    pl.col('execution_date').cast(pl.Int32).alias('d'),
    pl.col('split_from'),
    pl.col('split_to'),
  );
  const byTicker = new Map<string, { d: number; ratio: number }[]>();
  for (const r of s.toRecords()) {
    const ticker = r['ticker'] as string | null;
    const d = r['d'] as number | null;
    const from = r['split_from'] as number | null;
    const to = r['split_to'] as number | null;
    if (ticker === null || d === null) continue;
    if (from === null || to === null || !(from > 0) || !(to > 0) || !Number.isFinite(from) || !Number.isFinite(to)) {
      throw new ConfigError(`resample: split of ${ticker} on ${epochDayToIso(d)} has an unusable ratio ${String(to)}/${String(from)}`);
    }
    const list = byTicker.get(ticker) ?? [];
    list.push({ d, ratio: to / from });
    byTicker.set(ticker, list);
  }
  const out = new Map<string, TickerFactors>();
  for (const [t, list] of [...byTicker.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    list.sort((a, b) => a.d - b.d);
    const unique = list.filter((x, i) => i === 0 || x.d !== list[i - 1]!.d);
    const f: number[] = new Array(unique.length);
    let acc = 1;
    for (let k = unique.length - 1; k >= 0; k--) {
      acc *= unique[k]!.ratio;
      f[k] = acc;
    }
    out.set(t, { day: unique.map((x) => x.d), factor: f });
  }
  return out;
}

function splitFactors(splits: DataFrame): DataFrame {
  const ticker: string[] = [];
  const day: number[] = [];
  const factor: number[] = [];
  const seq: number[] = [];
  for (const [t, f] of splitFactorTable(splits)) {
    f.day.forEach((d, k) => {
      ticker.push(t);
      day.push(d);
      factor.push(f.factor[k]!);
      seq.push(k + 1);
    });
  }
  return pl.DataFrame([
    pl.Series('ticker', ticker, pl.Utf8),
    pl.Series('__exec', day, pl.Int32).cast(pl.Date),
    pl.Series('__factor', factor, pl.Float64),
    // Which split of its ticker this is (1 = the first): two rows took the same split factor only if they share it.
    pl.Series('__fseq', seq, pl.Int32),
  ]);
}

function adjustLazy(lf: LazyDataFrame, splits: DataFrame): LazyDataFrame {
  const factors = splitFactors(splits);
  if (factors.height === 0) return lf;
  const f = pl.col('__factor').fillNull(1);
  return lf
    .sort(['ticker', 'date'])
    .joinAsof(factors.lazy(), {
      leftOn: 'date',
      rightOn: '__exec',
      by: 'ticker',
      strategy: 'forward',
      allowExactMatches: false,
      checkSortedness: false,
    })
    .withColumns(
      pl.col('open').div(f).alias('open'),
      pl.col('high').div(f).alias('high'),
      pl.col('low').div(f).alias('low'),
      pl.col('close').div(f).alias('close'),
      pl.col('vwap').div(f).alias('vwap'),
      pl.col('volume').mul(f).alias('volume'),
    )
    .select(...DAILY_COLUMNS);
}

/**
 * Adjust daily prices and volumes for splits, backwards from the latest
 * known split: for sessions before a split's execution date, prices (and
 * vwap) are divided and volume multiplied by the cumulative ratio
 * `split_to / split_from` of every later split. Rows on or after the last
 * split are unchanged. Other columns pass through.
 *
 * @example
 * import { adjustForSplits } from '@fibbars/ohlcv-core';
 * // a 4-for-1 split on 2020-08-31: split_from 1, split_to 4
 * const adjusted = adjustForSplits(daily, splits); // AAPL 2020-08-28 close 499.23 -> 124.81
 */
export function adjustForSplits(daily: DataFrame, splits: DataFrame): DataFrame {
  const cols = daily.columns;
  const out = adjustLazy(dailyColumns(daily.lazy(), cols), splits).collectSync();
  return out.select(...DAILY_COLUMNS.filter((c) => cols.includes(c)));
}

/**
 * Moves bars between two split bases (LAKE.md, "Bars on their end date's
 * basis"): `to: 'end-date'` takes latest-adjusted bars back to the basis in
 * force on each bar's `end_date` (prices times, volume divided by, the
 * cumulative ratio of every split after `end_date`); `to: 'latest'` is the
 * inverse, applied at read time with the splits table of the bars' version.
 * Bars must be sorted by (ticker, end_date), as every bar frame is.
 *
 * @example
 * import { rebaseBars } from '@fibbars/ohlcv-core';
 * const adjusted = await rebaseBars(stored.lazy(), splits, 'latest').collect();
 */
export function rebaseBars(bars: LazyDataFrame, splits: DataFrame | null | undefined, to: 'latest' | 'end-date'): LazyDataFrame {
  if (!splits || splits.height === 0) return bars;
  const factors = splitFactors(splits);
  if (factors.height === 0) return bars;
  const rebase = once(`rebase:${to}`, () => {
    const f = pl.col('__factor').fillNull(1);
    const price = (c: string): Expr => (to === 'latest' ? pl.col(c).div(f) : pl.col(c).mul(f)).alias(c);
    return [price('open'), price('high'), price('low'), price('close'), price('vwap'), (to === 'latest' ? pl.col('volume').mul(f) : pl.col('volume').div(f)).alias('volume')];
  });
  const columns = Object.keys(BAR_SCHEMA);
  return bars
    .joinAsof(factors.lazy(), {
      leftOn: 'end_date',
      rightOn: '__exec',
      by: 'ticker',
      strategy: 'forward',
      allowExactMatches: false,
      checkSortedness: false,
    })
    .withColumns(...rebase)
    .select(...columns);
}

/** Session index of the latest session on or before `asOf`. */
function asOfIndex(asOf: string): number {
  try {
    return sessionIndex(latestSessionOnOrBefore(asOf));
  } catch (cause) {
    throw new ConfigError(`resample: asOf ${asOf}: ${(cause as Error).message}`, { cause });
  }
}

function floorDiv(e: Expr, n: number): Expr {
  return e.cast(pl.Float64).div(n).floor().cast(pl.Int64);
}

// A DataFrame is a Proxy whose `in` answers for column names, so tell the
// two apart by a method only the lazy frame has.
function isLazy(df: DataFrame | LazyDataFrame): df is LazyDataFrame {
  return typeof (df as { collectSync?: unknown }).collectSync === 'function';
}

/**
 * The daily rows every path starts from: the daily columns with their dtypes,
 * rows after `asOf` dropped, prices adjusted to the latest split (`basis:
 * 'latest'`, the default) or left as they are and tagged with their
 * cumulative split factor `__f` (`basis: 'end-date'`), sorted by
 * (ticker, date) unless `sorted` says they are.
 * @internal
 */
export function prepareRows(
  daily: DataFrame | LazyDataFrame,
  opts: Omit<ResampleOptions, 'days'> & { basis?: 'latest' | 'end-date' },
): LazyDataFrame {
  const lazy = isLazy(daily) ? daily : daily.lazy();
  let lf = dailyColumns(lazy, daily.columns);
  if (opts.asOf !== undefined) {
    const idx = asOfIndex(opts.asOf);
    lf = lf.filter(pl.col('date').lt(pl.lit(nextDayOf(idx))));
  }
  const factors = opts.splits && opts.splits.height > 0 ? splitFactors(opts.splits) : null;
  if (factors && factors.height > 0 && opts.basis === 'end-date') {
    return (opts.sorted ? lf : lf.sort(['ticker', 'date']))
      .joinAsof(factors.lazy(), { leftOn: 'date', rightOn: '__exec', by: 'ticker', strategy: 'forward', allowExactMatches: false, checkSortedness: false })
      .withColumns(pl.col('__factor').fillNull(1).alias('__f'))
      .select(...DAILY_COLUMNS, '__f');
  }
  if (factors && factors.height > 0) return adjustLazy(lf, opts.splits!);
  return opts.sorted ? lf : lf.sort(['ticker', 'date']);
}

/**
 * The prepared rows with their session index and the row-wise parts of vwap
 * and transactions, for the lazy Polars plan of `resampleLazy`.
 * @internal
 */
export function prepareDaily(daily: DataFrame | LazyDataFrame, opts: Omit<ResampleOptions, 'days'>): LazyDataFrame {
  const lf = prepareRows(daily, opts);
  const pieces = once('prepare', () => {
    const hasPair = pl.col('vwap').isNotNull().and(pl.col('volume').isNotNull());
    return [
      pl.when(hasPair).then(pl.col('vwap').mul(pl.col('volume'))).otherwise(pl.lit(null)).alias('__vw_num'),
      pl.when(hasPair).then(pl.col('volume')).otherwise(pl.lit(null)).alias('__vw_den'),
      pl.col('transactions').isNotNull().cast(pl.Int64).alias('__tx_n'),
      pl.col('ticker').neq(pl.col('ticker').shift(1)).fillNull(true).alias('__new_ticker'),
    ];
  });
  return lf.join(calendarFrame().lazy().rename({ session_index: SIDX }), { on: 'date', how: 'left', maintainOrder: 'left' }).withColumns(...pieces);
}

/**
 * The prepared rows of an eager input and their kernel arrays, checked: a
 * frame that is not sorted by (ticker, date) is sorted (once), one with two
 * rows for a (ticker, date) or, outside the ticker anchor, a date that is not
 * an NYSE session is refused.
 */
function kernelInput(input: DataFrame | LazyDataFrame, options: Omit<ResampleOptions, 'days'>, anchor: Anchor): { rows: DataFrame; arrays: DailyArrays } {
  const { daily, opts } = adjusted(input, options);
  // Sorted input (the usual case) is proven sorted by the arrays' own pass, not sorted again.
  let rows = prepareRows(daily, { ...opts, sorted: true }).collectSync();
  if (rows.getColumn('ticker').nullCount() > 0) throw new ConfigError('resample: daily frame has a row without a ticker');
  let arrays = dailyArrays(rows);
  if (!arrays.sorted && arrays.duplicateAt < 0) {
    rows = rows.sort(['ticker', 'date']);
    arrays = dailyArrays(rows);
  }
  if (arrays.duplicateAt >= 0) {
    const r = rows.slice(arrays.duplicateAt, 1).select(pl.col('ticker'), pl.col('date').cast(pl.Utf8)).row(0);
    throw new ConfigError(`resample: daily frame has more than one row for ${String(r[0])} on ${String(r[1])} (consolidate it first)`);
  }
  if (anchor !== 'ticker' && arrays.offCalendarAt >= 0) {
    const d = rows.slice(arrays.offCalendarAt, 1).select(pl.col('date').cast(pl.Utf8)).row(0)[0];
    throw new ConfigError(`resample: ${String(d)} is not an NYSE session (or is outside 1990..2100)`);
  }
  return { rows, arrays };
}

/**
 * The input and options once `adjust` is applied: `none` drops the splits;
 * `total-return` returns the split-adjusted rows (sorted, cut at `asOf`)
 * divided by their total-return factors, with nothing left to adjust.
 */
function adjusted<T extends Omit<ResampleOptions, 'days'>>(daily: DataFrame | LazyDataFrame, opts: T): { daily: DataFrame | LazyDataFrame; opts: T } {
  const adjust = opts.adjust === undefined ? 'splits' : parseAdjust(opts.adjust);
  if (adjust === 'none') return { daily, opts: { ...opts, splits: null } };
  if (adjust === 'splits') return { daily, opts };
  const { sorted: _sorted, ...rest } = opts;
  const rows = prepareRows(daily, { ...rest }).collectSync();
  const factors = dividendFactorFrame(rows, opts.dividends, opts.splits && opts.splits.height > 0 ? splitFactorTable(opts.splits) : null);
  const out = applyDividendFactors(rows.lazy(), factors).collectSync();
  return { daily: out, opts: { ...opts, splits: null, adjust: 'none', sorted: true } };
}

/** The day after the session with index `idx`, as a Date literal for filters. */
function nextDayOf(idx: number): Date {
  const day = isoToEpochDay(nyse.sessions[idx]!) + 1;
  return new Date(day * 86_400_000);
}

/**
 * One interval's bars from `prepareDaily` rows, in the bar schema, sorted by (ticker, bucket).
 * @internal
 */
export function barsOf(prepared: LazyDataFrame, days: number, anchor: Anchor, asOf: string | undefined): LazyDataFrame {
  return finishBars(aggregateRuns(runsOf(prepared, days, anchor, asOf)), days, anchor, asOf);
}

/** The prepared rows with their bucket and an integer run id (one run per bar). */
export function runsOf(prepared: LazyDataFrame, days: number, anchor: Anchor, asOf: string | undefined): LazyDataFrame {
  let bucket: Expr;
  if (anchor === 'calendar') bucket = once(`bucket:calendar:${days}`, () => floorDiv(pl.col(SIDX), days).alias(BUCKET));
  else if (anchor === 'ticker') bucket = once(`bucket:ticker:${days}`, () => floorDiv(pl.col('date').rank('ordinal').over('ticker').sub(1), days).alias(BUCKET));
  else {
    const last = asOf !== undefined ? pl.lit(asOfIndex(asOf)) : pl.col(SIDX).max();
    bucket = pl.lit(0).sub(floorDiv(last.sub(pl.col(SIDX)), days));
  }
  // The rows are sorted by (ticker, date) (see `prepareDaily`) and every anchor's
  // bucket grows with the date within a ticker, so a bar is a contiguous run
  // of rows: number the runs, group on that integer keeping the order, and
  // take first/last by position. The output comes out sorted by
  // (ticker, bucket) with no hash of the ticker string and no final sort.
  const run = once('run', () => pl.col('__new_ticker').or(pl.col(BUCKET).neq(pl.col(BUCKET).shift(1)).fillNull(true)).cast(pl.UInt32).cumSum().alias('__run'));
  return prepared.withColumns(bucket.alias(BUCKET)).withColumns(run);
}

export function aggregateRuns(runs: LazyDataFrame, extra: Expr[] = []): LazyDataFrame {
  return runs.groupBy('__run', true).agg(...once('agg', aggregations), ...extra);
}

function aggregations(): Expr[] {
  return [
    pl.col('ticker').first().alias('ticker'),
    pl.col(BUCKET).first().alias(BUCKET),
    pl.col('date').first().alias('start_date'),
    pl.col('date').last().alias('end_date'),
    pl.col('open').first().alias('open'),
    pl.col('high').max().alias('high'),
    pl.col('low').min().alias('low'),
    pl.col('close').last().alias('close'),
    pl.col('volume').sum().alias('volume'),
    pl.col('__vw_num').sum().alias('__vw_num'),
    pl.col('__vw_den').sum().alias('__vw_den'),
    pl.col('transactions').sum().alias('__tx_sum'),
    pl.col('__tx_n').sum().alias('__tx_n'),
    pl.len().alias('n_days'),
    pl.col(SIDX).max().alias('__last_sidx'),
  ];
}

export function finishBars(bars: LazyDataFrame, days: number, anchor: Anchor, asOf: string | undefined): LazyDataFrame {
  let complete: Expr;
  if (anchor === 'ticker') complete = pl.col('n_days').eq(days);
  else {
    const asOfIdx = asOf !== undefined ? pl.lit(asOfIndex(asOf)) : pl.col('__last_sidx').max();
    if (anchor === 'calendar') complete = pl.col(BUCKET).add(1).mul(days).sub(1).ltEq(asOfIdx);
    // latest: every bucket ends on or before asOf; only one reaching before 1990-01-02 is short.
    else complete = asOfIdx.add(pl.col(BUCKET).mul(days)).sub(days - 1).gtEq(0);
  }
  const fixed = once('finish', () => [
    pl.when(pl.col('__vw_den').gt(0)).then(pl.col('__vw_num').div(pl.col('__vw_den'))).otherwise(pl.lit(null)).alias('vwap'),
    pl.when(pl.col('__tx_n').gt(0)).then(pl.col('__tx_sum')).otherwise(pl.lit(null)).alias('transactions'),
    pl.col(BUCKET).alias('bucket'),
  ]);
  const select = once('bar-select', () => Object.entries(BAR_SCHEMA).map(([c, t]) => pl.col(c).cast(t).alias(c)));
  return bars.withColumns(...fixed, complete.alias('is_complete')).select(...select);
}

/**
 * Resample daily rows into N-session bars (DESIGN §3.1): `ticker, start_date,
 * end_date, open, high, low, close, volume, vwap, transactions, n_days,
 * bucket, is_complete`, sorted by (ticker, bucket). Takes any frame with
 * `ticker, date, open, high, low, close, volume` (`vwap`, `transactions`
 * optional) holding one row per (ticker, date).
 *
 * @example
 * import { resample } from '@fibbars/ohlcv-core';
 * const weekly = resample(daily, { days: 5 }); // calendar anchor: stable buckets shared by all tickers
 * const own = resample(daily, { days: 5, anchor: 'ticker' });
 * const recent = resample(daily, { days: 21, anchor: 'latest', asOf: '2024-06-04' });
 * const adjusted = resample(daily, { days: 8, splits }); // split-adjusted bars
 */
export function resample(daily: DataFrame, opts: ResampleOptions): DataFrame {
  const anchor = opts.anchor ?? 'calendar';
  checkDays(opts.days);
  checkAnchor(anchor);
  const { rows, arrays } = kernelInput(daily, opts, anchor);
  return kernelBars(rows, arrays, opts.days, anchor, asOfOf(opts.asOf));
}

/** The session index of `asOf` (undefined: the kernel takes the rows' latest). */
function asOfOf(asOf: string | undefined): number | undefined {
  return asOf === undefined ? undefined : asOfIndex(asOf);
}

/**
 * The lazy plan of `resample`, for lake jobs that scan Parquet and collect
 * (or sink) themselves. No input checks are run: the silver daily history
 * is unique per (ticker, date) and holds sessions only; rows on a
 * non-session get a null bucket under the `calendar` anchor.
 *
 * @example
 * import pl from 'nodejs-polars';
 * import { resampleLazy } from '@fibbars/ohlcv-core';
 * const bars = await resampleLazy(pl.scanParquet('lake/silver/ohlcv_1d/**\/*.parquet'), { days: 13 }).collect({ streaming: true });
 */
export function resampleLazy(daily: LazyDataFrame | DataFrame, opts: ResampleOptions): LazyDataFrame {
  const anchor = opts.anchor ?? 'calendar';
  checkDays(opts.days);
  checkAnchor(anchor);
  const input = adjusted(daily, opts);
  return barsOf(prepareDaily(input.daily, input.opts), opts.days, anchor, opts.asOf);
}

/**
 * Several intervals from one prepared read (adjustment and calendar join run
 * once, then the bar kernel once per interval over the same arrays). Returns
 * a map from interval to bars.
 *
 * @example
 * import { resampleMany, DEFAULT_INTERVALS } from '@fibbars/ohlcv-core';
 * const byInterval = await resampleMany(daily, { intervals: DEFAULT_INTERVALS });
 * byInterval.get(21); // 21-session bars
 */
export async function resampleMany(
  daily: DataFrame | LazyDataFrame,
  opts: Omit<ResampleOptions, 'days'> & { intervals?: readonly number[] } = {},
): Promise<Map<number, DataFrame>> {
  const anchor = opts.anchor ?? 'calendar';
  const intervals = [...new Set(opts.intervals ?? DEFAULT_INTERVALS)];
  intervals.forEach(checkDays);
  checkAnchor(anchor);
  const { rows, arrays } = kernelInput(daily, opts, anchor);
  const asOf = asOfOf(opts.asOf);
  return new Map(intervals.map((n) => [n, kernelBars(rows, arrays, n, anchor, asOf)]));
}

/** A calendar bucket touched by new sessions, with its session bounds. */
export interface AffectedBucket extends BucketBounds {
  bucket: number;
}

/**
 * The calendar-anchored buckets of N-session bars that contain any of
 * `sessions`, with their first and last calendar sessions, sorted. An
 * incremental resample recomputes exactly these buckets from the daily rows
 * between `first` and `last`.
 *
 * @example
 * import { affectedBuckets } from '@fibbars/ohlcv-core';
 * affectedBuckets(['2024-06-04', '2024-06-05'], 21); // [{ bucket, first, last }]
 */
export function affectedBuckets(sessions: readonly string[], days: number): AffectedBucket[] {
  checkDays(days);
  const buckets = new Set<number>();
  for (const s of sessions) {
    try {
      buckets.add(Math.floor(sessionIndex(s) / days));
    } catch (cause) {
      throw new ConfigError(`affectedBuckets: ${(cause as Error).message}`, { cause });
    }
  }
  return [...buckets].sort((a, b) => a - b).map((bucket) => ({ bucket, ...bucketBounds(bucket, days) }));
}
