/**
 * The resample lake job (DESIGN §3.5, LAKE.md "resampleLake"): brings the
 * bar datasets of every interval up to the head of `ohlcv_1d` in one pass
 * over the daily rows, whatever the number of intervals.
 *
 * - A pure plan (`planResample`) says, per interval, whether it is current,
 *   needs a full build, or which buckets and files an incremental run redoes.
 * - A full build reads the history one calendar year at a time (two years in
 *   flight, so both cores work and memory follows a year, not the history)
 *   and derives every interval from the same prepared rows.
 * - An incremental run reads only the date windows of the buckets that
 *   changed, and rewrites only the files holding those buckets.
 * - Bars are stored on the split basis of their end date: a split executed
 *   after a bar never rewrites it; readers apply the cumulative factors of the
 *   splits version recorded in the commit (`Lake.read`).
 */
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import pMap from 'p-map';
import { bucketOf, isSession, nextSession, nyse, sessionIndex } from './calendar.js';
import { ConfigError } from './errors.js';
import { DEFAULT_COMMIT_ATTEMPTS, dailyMeta, refMeta, withRetries } from './jobs.js';
import { DEFAULT_GC_GRACE_MS, END_DATE_BASIS, barDataset, isInList, type Commit, type CommitFile, type Lake } from './lake.js';
import { isoToEpochDay } from './dates.js';
import { reclaimNativeMemory } from './memory.js';
import { dailyArrays, kernelBars, lakeArrays, type BucketSet, type DailyArrays } from './kernel.js';
import { prepareRows, splitFactorTable, type TickerFactors } from './resample.js';
import { SPLITS_SCHEMA, emptyFrame } from './schemas.js';
import { checkPartition, parseStaged, stageKey, tickerPartition, type StageBasis, type StagedPartition, type TickerPartitionSpec } from './partitions.js';

export type StoredAnchor = 'calendar' | 'ticker';

/** Layout of the bar datasets this code writes (LAKE.md); a head of another layout is rebuilt in full. */
export const BAR_LAYOUT = 2;
/**
 * Sessions per block of buckets: files written by daily runs hold whole
 * blocks of about a month, so a run rewrites at most a month of bars per
 * interval, whatever the length of the history.
 */
export const BLOCK_SESSIONS = 21;
/** Years of history resampled at once by a full build. */
export const DEFAULT_RESAMPLE_CONCURRENCY = 2;

/** Buckets per file block of `days`-session bars (at least one). */
export function blockBuckets(days: number): number {
  return Math.max(1, Math.floor(BLOCK_SESSIONS / days));
}

export interface ResampleLakeOptions {
  /** Interval(s) in sessions, each >= 2. */
  days: number | readonly number[];
  runId: string;
  /** Stored anchor (default `calendar`); `ticker` bars are rebuilt in full on every change. */
  anchor?: StoredAnchor;
  now?: Date;
  attempts?: number;
  /** Years of a full build in flight at once (default 2). */
  concurrency?: number;
  /**
   * Grace period of the gc that ends the job (default one hour,
   * `DEFAULT_GC_GRACE_MS`); `false` skips it.
   */
  gcGraceMs?: number | false;
  /** Progress lines for long work (a full build reports each year). */
  onProgress?: (message: string) => void;
  /**
   * Called where a full build drops a large Polars frame (a window's rows once
   * they are arrays, each bar frame once written); default
   * `reclaimNativeMemory`, a garbage collection when `gc` is exposed, which
   * keeps the peak memory to the frames in flight (`memory.ts`).
   */
  reclaim?: () => void;
  /**
   * Build only the tickers of this partition (DESIGN §6, LAKE.md
   * "Partitions"): the files are written and staged for the fan-in commit
   * (`commitPartitions`), nothing is committed and no gc runs. A count of 1
   * is the unpartitioned job.
   */
  partition?: TickerPartitionSpec;
}

export interface ResampleIntervalReport {
  days: number;
  dataset: string;
  mode: 'full' | 'incremental' | 'no-change';
  /** 1d version the bars now reflect. */
  sourceVersion: number | null;
  /** New bar dataset version, or the unchanged head. */
  version: number | null;
  committed: boolean;
  bucketsRecomputed: number;
  tickersRecomputed: string[];
  partitionsWritten: string[];
  barsWritten: number;
  /** Bytes of the Parquet files this run wrote for the interval. */
  bytesWritten: number;
  /** A partition worker's interval: `i/P`, and whether its staged work was kept from an earlier run. */
  staged?: { partition: string; reused: boolean; key: string };
}

export interface ResampleLakeReport {
  runId: string;
  /** `staged`: a partition worker's work, written and waiting for the fan-in commit. */
  status: 'committed' | 'staged' | 'no-change';
  intervals: ResampleIntervalReport[];
  /** Files removed by the gc that ends the job. */
  gcDeleted: number;
}

/** Bookkeeping kept in bar dataset commits. */
export interface BarMeta {
  sourceVersion: number;
  splitsVersion: number;
  anchor: StoredAnchor;
  latestSession: string | null;
  /** Files hold bars on their end date's split basis. */
  basis: typeof END_DATE_BASIS;
  layout: number;
  /** Ticker partitions the version was built by (absent: 1). */
  partitions?: number;
}

// ---------------------------------------------------------------------------
// The plan (pure)
// ---------------------------------------------------------------------------

export interface IntervalPlanInput {
  days: number;
  head: Commit | null;
  /** Sessions whose daily rows changed since the head's recorded `sourceVersion`. */
  changedSessions: readonly string[];
  /** (ticker, execution date) of splits added or changed since the head's recorded `splitsVersion`. */
  changedSplits: ReadonlyArray<readonly [string, string]>;
}

export interface PlanInput {
  anchor: StoredAnchor;
  dailyVersion: number;
  splitsVersion: number;
  latestSession: string | null;
  intervals: readonly IntervalPlanInput[];
  /** Ticker partitions the run builds with (default 1); a head built with another count is rebuilt. */
  partitions?: number;
}

export type IntervalPlan =
  | { days: number; action: 'current' }
  | { days: number; action: 'full'; reason: string }
  | {
      days: number;
      action: 'incremental';
      /** Buckets recomputed for every ticker, sorted. */
      buckets: number[];
      /** (ticker, bucket) recomputed for one ticker only: bars that straddle a new split. */
      tickerBuckets: Array<[string, number]>;
      /** Head files that hold a recomputed bucket (or a block being compacted): read, merged and replaced. */
      rewrite: CommitFile[];
    };

function barMeta(head: Commit | null): Partial<BarMeta> | null {
  return head ? (head.meta as Partial<BarMeta>) : null;
}

/** The first session on or after `date`. */
function sessionOnOrAfter(date: string): string {
  return isSession(date) ? date : nextSession(date);
}

/**
 * What each interval needs, from the heads and what changed since they were
 * built. No I/O: tested on its own, and the part that decides that a daily
 * run's work does not grow with the history.
 *
 * @example
 * planResample({ anchor: 'calendar', dailyVersion: 9, splitsVersion: 4, latestSession: '2024-06-04',
 *   intervals: [{ days: 5, head, changedSessions: ['2024-06-04'], changedSplits: [] }] });
 * // [{ days: 5, action: 'incremental', buckets: [1743], tickerBuckets: [], rewrite: [...] }]
 */
export function planResample(input: PlanInput): IntervalPlan[] {
  return input.intervals.map((iv): IntervalPlan => {
    const { days, head } = iv;
    const prev = barMeta(head);
    if (!head || !prev) return { days, action: 'full', reason: 'no version yet' };
    if (prev.layout !== BAR_LAYOUT || prev.basis !== END_DATE_BASIS) return { days, action: 'full', reason: `layout ${String(prev.layout ?? 1)} is rebuilt as layout ${BAR_LAYOUT}` };
    if (prev.anchor !== input.anchor) return { days, action: 'full', reason: `anchor changed from ${String(prev.anchor)} to ${input.anchor}` };
    const partitions = input.partitions ?? 1;
    if ((prev.partitions ?? 1) !== partitions) return { days, action: 'full', reason: `built by ${prev.partitions ?? 1} ticker partition(s), now ${partitions}` };
    if (prev.sourceVersion === input.dailyVersion && (prev.splitsVersion ?? 0) === input.splitsVersion) return { days, action: 'current' };
    if (input.anchor === 'ticker') return { days, action: 'full', reason: 'the ticker anchor renumbers rows on every change' };
    if (head.files.some((f) => !f.buckets)) return { days, action: 'full', reason: 'files without bucket ranges' };

    const latest = input.latestSession;
    const buckets = new Set<number>();
    for (const s of iv.changedSessions) if (isSession(s) && (latest === null || s <= latest)) buckets.add(bucketOf(s, days));
    // The previous latest session's bucket: its is_complete may flip now.
    if (prev.latestSession && prev.latestSession !== latest && isSession(prev.latestSession)) buckets.add(bucketOf(prev.latestSession, days));
    const tickerBuckets = new Map<string, [string, number]>();
    for (const [ticker, date] of iv.changedSplits) {
      if (latest === null || date > latest) continue; // no bar reaches it yet
      const b = bucketOf(sessionOnOrAfter(date), days);
      // A bar of an earlier bucket ends before the split: the read-time factor covers it.
      if (!buckets.has(b)) tickerBuckets.set(`${ticker}\u0000${b}`, [ticker, b]);
    }
    // A block whose last bucket is now complete is compacted into one file.
    const per = blockBuckets(days);
    const latestIdx = latest !== null && isSession(latest) ? sessionIndex(latest) : -1;
    const compactBlocks = new Set<number>();
    for (const b of buckets) {
      const block = Math.floor(b / per);
      const lastOfBlock = block * per + per - 1;
      if (b === lastOfBlock && (lastOfBlock + 1) * days - 1 <= latestIdx) compactBlocks.add(block);
    }
    const sorted = [...buckets].sort((a, b) => a - b);
    const hits = (f: CommitFile): boolean => {
      const [lo, hi] = f.buckets!;
      if (sorted.some((b) => b >= lo && b <= hi)) return true;
      for (const [, b] of tickerBuckets.values()) if (b >= lo && b <= hi) return true;
      for (const block of compactBlocks) if (lo >= block * per && hi <= block * per + per - 1) return true;
      return false;
    };
    if (sorted.length === 0 && tickerBuckets.size === 0) return { days, action: 'current' };
    return {
      days,
      action: 'incremental',
      buckets: sorted,
      tickerBuckets: [...tickerBuckets.values()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1])),
      rewrite: head.files.filter(hits),
    };
  });
}

// ---------------------------------------------------------------------------
// The job (I/O)
// ---------------------------------------------------------------------------

interface Context {
  lake: Lake;
  daily: Commit;
  splits: DataFrame;
  /** The splits as cumulative factors per ticker (computed once per job). */
  factors: Map<string, TickerFactors>;
  splitsVersion: number;
  latestSession: string;
  anchor: StoredAnchor;
  reclaim: () => void;
  /** A partition worker's partition (null: every ticker). */
  partition: TickerPartitionSpec | null;
}

/**
 * The kernel's arrays for the daily rows in `[from, to]` (optionally a few tickers), and the
 * rows' frame only when the kernel still needs it (arrays from `lakeArrays` carry their
 * tickers): once this returns, nothing references a frame the caller did not get.
 */
async function windowArrays(
  ctx: Context,
  window: { from?: string; to?: string; tickers?: readonly string[] },
): Promise<{ source: DataFrame | null; arrays: DailyArrays } | null> {
  let scan = await ctx.lake.scan('ohlcv_1d', { version: ctx.daily.version, ...window });
  if (ctx.partition && window.tickers === undefined) {
    // Only this partition's tickers: the window's ticker column first (one column), then the rows.
    const part = ctx.partition;
    const tickers = (await scan.select('ticker').unique().collect()).getColumn('ticker').toArray() as string[];
    scan = scan.filter(isInList('ticker', tickers.filter((t) => tickerPartition(t, part.count) === part.index)));
  }
  // The scan yields the files in date order, so each ticker's rows come in date order and the
  // kernel's arrays are put in ticker order in JS (lakeArrays); one order serves every interval.
  // Rows stay on their own split basis, each with its cumulative factor: the kernel moves the rows
  // of a bar that straddles a split to the basis of the bar's last row, and no other bar.
  const rows = await scan.collect();
  if (rows.height === 0) return null;
  const arrays = await lakeArrays(rows, isoToEpochDay(ctx.latestSession), ctx.factors);
  if (arrays) return { source: null, arrays };
  // Files whose dates overlap (not written by this code): the general sort.
  const sorted = await prepareRows(rows.lazy(), { splits: ctx.splits, asOf: ctx.latestSession, basis: 'end-date' }).collect();
  return { source: sorted, arrays: dailyArrays(sorted) };
}

/** Bars of several intervals from one read of the daily rows in `[from, to]` (optionally a few tickers). */
async function barsFromWindow(
  ctx: Context,
  window: { from?: string; to?: string; tickers?: readonly string[] },
  wanted: ReadonlyArray<{ days: number; buckets?: BucketSet }>,
  reclaim?: () => void,
): Promise<DataFrame[]> {
  const read = await windowArrays(ctx, window);
  if (!read) return wanted.map(() => emptyBars());
  // The window's frame is garbage now (when the arrays carry their tickers): a full build's
  // windows are large enough for its native memory to matter (memory.ts).
  if (!read.source) reclaim?.();
  const asOf = sessionIndex(ctx.latestSession);
  return wanted.map(({ days, buckets }) => kernelBars(read.source, read.arrays, days, ctx.anchor, asOf, buckets));
}

function emptyBars(): DataFrame {
  return pl.DataFrame([]);
}

function yearOf(iso: string): number {
  return Number(iso.slice(0, 4));
}

/** First and last session index of a calendar year (clipped to the calendar). */
function yearSessions(year: number): [number, number] {
  const sessions = nyse.sessionsBetween(`${year}-01-01`, `${year}-12-31`);
  return [sessionIndex(sessions[0]!), sessionIndex(sessions.at(-1)!)];
}

interface Built {
  files: CommitFile[][];
  bars: number[];
}

/** Writes one window's bars of one interval (the latest year in month-sized blocks); nothing for no bars. */
async function writeWindowBars(ctx: Context, days: number, bars: DataFrame, latestYear: boolean): Promise<{ files: CommitFile[]; bars: number }> {
  if (bars.height === 0) return { files: [], bars: 0 };
  const files = await ctx.lake.writeFiles(barDataset(days), bars, latestYear ? { blockBuckets: blockBuckets(days) } : {});
  return { files, bars: bars.height };
}

/**
 * A full build of the calendar anchor: one calendar year at a time, every
 * interval from the same prepared rows. A year owns the buckets that start in
 * it (the first year also the bucket its first session falls in), and reads
 * up to the last session of its last bucket, so no bar is cut.
 */
async function fullCalendarBuild(ctx: Context, intervals: readonly number[], options: ResampleLakeOptions, firstSession: string): Promise<Built> {
  const firstYear = yearOf(firstSession);
  const lastYear = yearOf(ctx.latestSession);
  const firstIdx = sessionIndex(firstSession);
  const latestIdx = sessionIndex(ctx.latestSession);
  const years = Array.from({ length: lastYear - firstYear + 1 }, (_, i) => firstYear + i);
  const out: Built = { files: intervals.map(() => []), bars: intervals.map(() => 0) };
  let done = 0;
  await pMap(
    years,
    async (year) => {
      const [y0, y1] = yearSessions(year);
      const lo0 = Math.max(y0, firstIdx);
      const hi0 = Math.min(y1, latestIdx);
      if (lo0 > hi0) return;
      const owned = intervals.map((days) => {
        const lo = year === firstYear ? Math.floor(lo0 / days) : Math.ceil(y0 / days);
        const hi = Math.floor(hi0 / days);
        return { days, lo, hi };
      });
      const live = owned.filter((o) => o.lo <= o.hi);
      if (live.length === 0) return;
      const from = nyse.sessions[Math.min(...live.map((o) => o.lo * o.days))]!;
      const to = nyse.sessions[Math.min(latestIdx, Math.max(...live.map((o) => o.hi * o.days + o.days - 1)))]!;
      const frames: Array<DataFrame | undefined> = await barsFromWindow(
        ctx,
        { from, to },
        live.map((o) => ({ days: o.days, buckets: { lo: o.lo, hi: o.hi } })),
        ctx.reclaim,
      );
      // The latest year goes into month-sized blocks: the next daily runs rewrite a block, not the year.
      const last = year === lastYear;
      for (const [k, o] of live.entries()) {
        const i = intervals.indexOf(o.days);
        const written = await writeWindowBars(ctx, o.days, frames[k]!, last);
        // Written: the frame goes, and its native memory with it (a collection per interval
        // and window: at 50 M rows 1.8 GiB peak instead of 2.4 for about 5 % more CPU).
        frames[k] = undefined;
        ctx.reclaim();
        out.files[i]!.push(...written.files);
        out.bars[i]! += written.bars;
      }
      done += 1;
      options.onProgress?.(`resampled ${year} (${done}/${years.length} years)`);
    },
    { concurrency: options.concurrency ?? DEFAULT_RESAMPLE_CONCURRENCY },
  );
  return out;
}

/** The ticker anchor numbers each ticker's rows from its first one: one pass over the whole history. */
async function fullTickerBuild(ctx: Context, intervals: readonly number[]): Promise<Built> {
  const frames = await barsFromWindow(ctx, {}, intervals.map((days) => ({ days })));
  const out: Built = { files: [], bars: [] };
  for (const [i, days] of intervals.entries()) {
    out.files.push(await ctx.lake.writeFiles(barDataset(days), frames[i]!));
    out.bars.push(frames[i]!.height);
  }
  return out;
}

/** Contiguous runs of sorted bucket numbers. */
function bucketRuns(buckets: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const b of buckets) {
    const last = runs.at(-1);
    if (last && b === last[1] + 1) last[1] = b;
    else runs.push([b, b]);
  }
  return runs;
}

/** Merges overlapping or adjacent session-index windows. */
function mergeWindows(windows: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...windows].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const w of sorted) {
    const last = out.at(-1);
    if (last && w[0] <= last[1] + 1) last[1] = Math.max(last[1], w[1]);
    else out.push([w[0], w[1]]);
  }
  return out;
}

type Incremental = Extract<IntervalPlan, { action: 'incremental' }>;

/** The recomputed bars of incremental plans, from as few reads of the daily rows as their windows allow. */
async function recompute(ctx: Context, plans: readonly Incremental[]): Promise<Map<number, DataFrame[]>> {
  const latestIdx = sessionIndex(ctx.latestSession);
  const fresh = new Map<number, DataFrame[]>(plans.map((p) => [p.days, []]));
  const span = (days: number, lo: number, hi: number): [number, number] => [lo * days, Math.min(latestIdx, hi * days + days - 1)];
  // Buckets of every ticker: one read per merged window serves every interval.
  const windows = mergeWindows(plans.flatMap((p) => bucketRuns(p.buckets).map(([lo, hi]) => span(p.days, lo, hi))));
  for (const [a, b] of windows) {
    const inWindow = plans
      .map((p) => ({ p, buckets: p.buckets.filter((k) => k * p.days >= a && k * p.days <= b) }))
      .filter((x) => x.buckets.length > 0);
    const frames = await barsFromWindow(
      ctx,
      { from: nyse.sessions[a]!, to: nyse.sessions[b]! },
      inWindow.map(({ p, buckets }) => ({ days: p.days, buckets })),
    );
    inWindow.forEach(({ p }, k) => fresh.get(p.days)!.push(frames[k]!));
  }
  // Bars that straddle a new split, one ticker at a time.
  const byTicker = new Map<string, Array<{ p: Incremental; bucket: number }>>();
  for (const p of plans) for (const [t, bucket] of p.tickerBuckets) byTicker.set(t, [...(byTicker.get(t) ?? []), { p, bucket }]);
  for (const [ticker, list] of byTicker) {
    for (const [a, b] of mergeWindows(list.map(({ p, bucket }) => span(p.days, bucket, bucket)))) {
      const inWindow = list.filter(({ p, bucket }) => bucket * p.days >= a && bucket * p.days <= b);
      const frames = await barsFromWindow(
        ctx,
        { from: nyse.sessions[a]!, to: nyse.sessions[b]!, tickers: [ticker] },
        inWindow.map(({ p, bucket }) => ({ days: p.days, buckets: [bucket] })),
      );
      inWindow.forEach(({ p }, k) => fresh.get(p.days)!.push(frames[k]!));
    }
  }
  return fresh;
}

/** Replaces the recomputed buckets in the files that hold them; new files per (year, block). */
async function applyIncremental(ctx: Context, plan: Incremental, fresh: readonly DataFrame[]): Promise<{ files: CommitFile[]; bars: number }> {
  const dataset = barDataset(plan.days);
  let kept: DataFrame | null = null;
  if (plan.rewrite.length > 0) {
    const old = await ctx.lake.readCommitFiles(dataset, plan.rewrite);
    const tb = plan.tickerBuckets;
    let drop = isInList('bucket', plan.buckets);
    for (const [t, b] of tb) drop = drop.or(pl.col('ticker').eq(pl.lit(t)).and(pl.col('bucket').eq(b)));
    kept = old.filter(drop.not());
  }
  const added = fresh.filter((f) => f.height > 0);
  const parts = [...(kept && kept.height > 0 ? [kept] : []), ...added];
  if (parts.length === 0) return { files: [], bars: 0 };
  const merged = (parts.length === 1 ? parts[0]! : pl.concat(parts, { how: 'vertical' })).sort(['ticker', 'bucket']);
  const files = await ctx.lake.writeFiles(dataset, merged, { blockBuckets: blockBuckets(plan.days) });
  return { files, bars: added.reduce((n, f) => n + f.height, 0) };
}

/** @internal */
export function checkOptions(options: ResampleLakeOptions): { intervals: number[]; anchor: StoredAnchor } {
  if (!options || typeof options.runId !== 'string' || options.runId === '') throw new ConfigError('resampleLake needs a runId');
  const list = typeof options.days === 'number' ? [options.days] : [...(options.days ?? [])];
  if (list.length === 0) throw new ConfigError('resampleLake needs at least one interval');
  for (const d of list) {
    if (!Number.isInteger(d) || d < 2 || d > 9999) throw new ConfigError(`interval ${String(d)} is not a whole number of sessions >= 2`);
  }
  const anchor = options.anchor ?? 'calendar';
  if (anchor !== 'calendar' && anchor !== 'ticker') {
    throw new ConfigError(`anchor ${JSON.stringify(anchor)} cannot be stored: use calendar or ticker (latest is read-time only)`);
  }
  if (options.partition !== undefined) checkPartition(options.partition);
  if (options.concurrency !== undefined && !(Number.isInteger(options.concurrency) && options.concurrency >= 1)) {
    throw new ConfigError(`concurrency must be a whole number >= 1, got ${String(options.concurrency)}`);
  }
  return { intervals: [...new Set(list)].sort((a, b) => a - b), anchor };
}

/** The report of an interval this run leaves as it is. @internal */
export function unchangedReport(days: number, head: Commit | null): ResampleIntervalReport {
  return {
    days,
    dataset: barDataset(days),
    mode: 'no-change',
    sourceVersion: (barMeta(head)?.sourceVersion as number | undefined) ?? null,
    version: head?.version ?? null,
    committed: false,
    bucketsRecomputed: 0,
    tickersRecomputed: [],
    partitionsWritten: [],
    barsWritten: 0,
    bytesWritten: 0,
  };
}

/**
 * The plan inputs of each interval: what changed since its head was built,
 * read from the commits after the versions the head records only (each
 * distinct recorded version is read once for all intervals).
 */
async function planInputs(lake: Lake, intervals: readonly number[], heads: ReadonlyArray<Commit | null>): Promise<IntervalPlanInput[]> {
  const sinceDaily = new Map<number, string[]>();
  const sinceSplits = new Map<number, Array<[string, string]>>();
  const changedSessions = async (after: number): Promise<string[]> => {
    if (!sinceDaily.has(after)) {
      const set = new Set<string>();
      for (const c of await lake.commitsSince('ohlcv_1d', after)) for (const s of dailyMeta(c).changedSessions) set.add(s);
      sinceDaily.set(after, [...set].sort());
    }
    return sinceDaily.get(after)!;
  };
  const changedSplits = async (after: number): Promise<Array<[string, string]>> => {
    if (!sinceSplits.has(after)) {
      const list: Array<[string, string]> = [];
      for (const c of await lake.commitsSince('splits', after)) list.push(...(refMeta(c).changed ?? []));
      sinceSplits.set(after, list);
    }
    return sinceSplits.get(after)!;
  };
  const inputs: IntervalPlanInput[] = [];
  for (const [i, days] of intervals.entries()) {
    const head = heads[i] ?? null;
    const prev = barMeta(head);
    const usable = prev && prev.layout === BAR_LAYOUT && typeof prev.sourceVersion === 'number';
    inputs.push({
      days,
      head,
      changedSessions: usable ? await changedSessions(prev.sourceVersion!) : [],
      changedSplits: usable ? await changedSplits(prev.splitsVersion ?? 0) : [],
    });
  }
  return inputs;
}

/** The bars a run computed before committing anything: full builds' files and incremental plans' fresh bars. */
interface Computed {
  /** Intervals built in full, in the order of `built`'s lists. */
  full: number[];
  built: Built | null;
  fresh: Map<number, DataFrame[]>;
}

/** One interval's change: the files written, the bars in them, the head files they replace. */
async function intervalChange(
  ctx: Context,
  plan: Exclude<IntervalPlan, { action: 'current' }>,
  head: Commit | null,
  computed: Computed,
): Promise<{ files: CommitFile[]; barsWritten: number; removed: string[] }> {
  if (plan.action === 'full') {
    const k = computed.full.indexOf(plan.days);
    return { files: computed.built!.files[k]!, barsWritten: computed.built!.bars[k]!, removed: (head?.files ?? []).map((f) => f.path) };
  }
  const { files, bars } = await applyIncremental(ctx, plan, computed.fresh.get(plan.days) ?? []);
  return { files, barsWritten: bars, removed: plan.rewrite.map((f) => f.path) };
}

/** The report of an interval a run changed (committed, or staged by a partition worker). */
function changedReport(
  plan: Exclude<IntervalPlan, { action: 'current' }>,
  head: Commit | null,
  change: { files: CommitFile[]; barsWritten: number },
  sourceVersion: number,
): ResampleIntervalReport {
  return {
    ...unchangedReport(plan.days, head),
    mode: plan.action,
    sourceVersion,
    bucketsRecomputed: plan.action === 'incremental' ? plan.buckets.length + plan.tickerBuckets.length : 0,
    tickersRecomputed: plan.action === 'incremental' ? [...new Set(plan.tickerBuckets.map(([t]) => t))].sort() : [],
    partitionsWritten: [...new Set(change.files.map((f) => f.partition ?? ''))].sort(),
    barsWritten: change.barsWritten,
    bytesWritten: change.files.reduce((n, f) => n + f.bytes, 0),
  };
}

/** Commits one interval's new version (files written, head files replaced) and reports it. */
async function commitInterval(
  ctx: Context,
  plan: Exclude<IntervalPlan, { action: 'current' }>,
  head: Commit | null,
  computed: Computed,
  commitOpts: { runId: string; meta: Record<string, unknown>; now?: Date },
): Promise<ResampleIntervalReport> {
  const change = await intervalChange(ctx, plan, head, computed);
  const commit = await ctx.lake.commit(barDataset(plan.days), { parent: head?.version ?? 0, files: change.files, removed: change.removed, ...commitOpts });
  return { ...changedReport(plan, head, change, ctx.daily.version), version: commit.version, committed: true };
}

/** What a partition's staged work was computed from. */
function stageBasis(ctx: Context, days: number, head: Commit | null): StageBasis {
  return { dataset: barDataset(days), parent: head?.version ?? 0, dailyVersion: ctx.daily.version, splitsVersion: ctx.splitsVersion, count: ctx.partition!.count };
}

/** A staging manifest an earlier run of this partition left for the same basis, when all its files are still there. */
async function reusableStage(lake: Lake, key: string): Promise<StagedPartition | null> {
  if (!(await lake.store.exists(key))) return null;
  const staged = parseStaged(key, await lake.store.get(key));
  for (const f of staged.files) if (!(await lake.store.exists(f.path))) return null; // collected since: redo
  return staged;
}

/** A partition worker's interval: its files written and listed in a staging manifest for the fan-in commit. */
async function stageInterval(
  ctx: Context,
  plan: Exclude<IntervalPlan, { action: 'current' }>,
  head: Commit | null,
  computed: Computed,
  stageOpts: { runId: string; meta: Record<string, unknown>; now?: Date },
): Promise<ResampleIntervalReport> {
  const part = ctx.partition!;
  const change = await intervalChange(ctx, plan, head, computed);
  const files = change.files.map((f) => ({ ...f, tickerPartition: part.index }));
  const basis = stageBasis(ctx, plan.days, head);
  const key = stageKey(basis, part.index);
  const report = changedReport(plan, head, { files, barsWritten: change.barsWritten }, ctx.daily.version);
  const staged: StagedPartition = {
    ...basis,
    partition: part.index,
    runId: stageOpts.runId,
    mode: plan.action,
    files,
    removed: change.removed,
    bucketsRecomputed: report.bucketsRecomputed,
    tickersRecomputed: report.tickersRecomputed,
    barsWritten: change.barsWritten,
    meta: stageOpts.meta,
    stagedAt: (stageOpts.now ?? new Date()).toISOString(),
  };
  await ctx.lake.store.put(key, `${JSON.stringify(staged)}\n`);
  return { ...report, staged: { partition: `${part.index}/${part.count}`, reused: false, key } };
}

/** The report of a partition's interval whose staged work an earlier run left. */
function reusedReport(days: number, head: Commit | null, staged: StagedPartition, key: string): ResampleIntervalReport {
  return {
    ...unchangedReport(days, head),
    mode: staged.mode,
    sourceVersion: staged.dailyVersion,
    bucketsRecomputed: staged.bucketsRecomputed,
    tickersRecomputed: staged.tickersRecomputed,
    staged: { partition: `${staged.partition}/${staged.count}`, reused: true, key },
  };
}

/** A partition worker sees only its partition's files of a head built with the same partition count. */
function partitionView(head: Commit | null, part: TickerPartitionSpec | null): Commit | null {
  if (!head || !part || Number(head.meta['partitions'] ?? 1) !== part.count) return head;
  return { ...head, files: head.files.filter((f) => f.tickerPartition === part.index) };
}

/**
 * A partition worker's plan: only its tickers' split bars, and work staged
 * (possibly empty) whenever the head is behind, so the fan-in finds every
 * partition's manifest even when this partition has nothing to recompute.
 */
function partitionPlans(plans: IntervalPlan[], heads: ReadonlyArray<Commit | null>, daily: Commit, splitsVersion: number): IntervalPlan[] {
  return plans.map((p, i) => {
    if (p.action !== 'current') return p;
    const meta = barMeta(heads[i] ?? null);
    const behind = meta?.sourceVersion !== daily.version || (meta.splitsVersion ?? 0) !== splitsVersion;
    return behind ? { days: p.days, action: 'incremental', buckets: [], tickerBuckets: [], rewrite: [] } : p;
  });
}

async function resampleOnce(lake: Lake, intervals: readonly number[], anchor: StoredAnchor, options: ResampleLakeOptions): Promise<ResampleIntervalReport[]> {
  const part = options.partition && options.partition.count > 1 ? options.partition : null;
  const [daily, splitsHead, ...allHeads] = await Promise.all([lake.head('ohlcv_1d'), lake.head('splits'), ...intervals.map((d) => lake.head(barDataset(d)))]);
  const heads = allHeads.map((h) => partitionView(h, part));
  const unchanged = (): ResampleIntervalReport[] => intervals.map((d, i) => unchangedReport(d, heads[i] ?? null));
  const latestSession = daily ? dailyMeta(daily).latestSession : null;
  const firstSession = daily?.files.map((f) => f.minDate).filter((d): d is string => d !== null).sort()[0];
  if (!daily || latestSession === null || firstSession === undefined) return unchanged();
  const splitsVersion = splitsHead?.version ?? 0;
  let inputs = await planInputs(lake, intervals, heads);
  if (part) inputs = inputs.map((iv) => ({ ...iv, changedSplits: iv.changedSplits.filter(([t]) => tickerPartition(t, part.count) === part.index) }));
  let plans = planResample({ anchor, dailyVersion: daily.version, splitsVersion, latestSession, intervals: inputs, partitions: part?.count ?? 1 });
  if (part) plans = partitionPlans(plans, heads, daily, splitsVersion);
  if (plans.every((p) => p.action === 'current')) return unchanged();

  const splits = splitsHead ? await lake.read('splits', { version: splitsHead.version }) : emptyFrame(SPLITS_SCHEMA);
  const ctx: Context = {
    lake, daily, splits, factors: splitFactorTable(splits), splitsVersion, latestSession, anchor,
    reclaim: options.reclaim ?? reclaimNativeMemory, partition: part,
  };
  const meta: BarMeta = { sourceVersion: daily.version, splitsVersion, anchor, latestSession, basis: END_DATE_BASIS, layout: BAR_LAYOUT, ...(part ? { partitions: part.count } : {}) };
  const commitOpts = { runId: options.runId, meta: meta as unknown as Record<string, unknown>, ...(options.now ? { now: options.now } : {}) };

  // A partition re-run keeps what an earlier run of it staged for the same basis.
  const reused = new Map<number, ResampleIntervalReport>();
  if (part) {
    for (const [i, plan] of plans.entries()) {
      if (plan.action === 'current') continue;
      const key = stageKey(stageBasis(ctx, plan.days, heads[i] ?? null), part.index);
      const staged = await reusableStage(lake, key);
      // Staged for the same heads but another anchor (the basis does not name it): redo.
      if (staged && staged.meta['anchor'] === anchor) reused.set(plan.days, reusedReport(plan.days, heads[i] ?? null, staged, key));
    }
  }
  const todo = plans.filter((p) => p.action !== 'current' && !reused.has(p.days));

  // Everything is written before anything is committed; commits go interval by interval.
  const full = todo.filter((p) => p.action === 'full').map((p) => p.days);
  const incremental = todo.filter((p): p is Incremental => p.action === 'incremental');
  const built = full.length === 0 ? null : anchor === 'calendar' ? await fullCalendarBuild(ctx, full, options, firstSession) : await fullTickerBuild(ctx, full);
  const fresh = incremental.length === 0 ? new Map<number, DataFrame[]>() : await recompute(ctx, incremental);

  const reports: ResampleIntervalReport[] = [];
  for (const [i, plan] of plans.entries()) {
    const head = heads[i] ?? null;
    if (plan.action === 'current') reports.push(unchangedReport(plan.days, head));
    else if (reused.has(plan.days)) reports.push(reused.get(plan.days)!);
    else if (part) reports.push(await stageInterval(ctx, plan, head, { full, built, fresh }, commitOpts));
    else reports.push(await commitInterval(ctx, plan, head, { full, built, fresh }, commitOpts));
  }
  return reports;
}

/**
 * Brings the bar datasets of the given intervals up to the head of
 * `ohlcv_1d`, in one pass over the daily rows for all of them: a full build
 * the first time (a calendar year at a time, two in flight), then only the
 * calendar buckets holding changed sessions, plus, per ticker, the bar that
 * straddles a split added since. Commits nothing for an interval that is
 * already current; ends with a gc of its datasets. A crash leaves every
 * dataset at its last version; the re-run redoes what is missing.
 *
 * @example
 * import { openLake, resampleLake } from '@fibbars/ohlcv-core';
 * const report = await resampleLake(openLake('./lake'), { days: [3, 5, 8, 13, 21, 34], runId: 'manual-1' });
 */
export async function resampleLake(lake: Lake, options: ResampleLakeOptions): Promise<ResampleLakeReport> {
  const { intervals, anchor } = checkOptions(options);
  const attempts = options.attempts ?? DEFAULT_COMMIT_ATTEMPTS;
  // A conflict means another writer committed one of the datasets: the retry re-plans from the new heads.
  const reports = await withRetries(attempts, () => resampleOnce(lake, intervals, anchor, options));
  let gcDeleted = 0;
  const worker = options.partition !== undefined && options.partition.count > 1;
  // A partition worker leaves the gc to the fan-in commit: its files are not referenced yet.
  if (options.gcGraceMs !== false && !worker) {
    const gc = await lake.gc({ graceMs: options.gcGraceMs ?? DEFAULT_GC_GRACE_MS, datasets: intervals.map(barDataset), ...(options.now ? { now: options.now } : {}) });
    gcDeleted = gc.deleted.length;
  }
  const status = reports.some((r) => r.committed) ? 'committed' : reports.some((r) => r.staged) ? 'staged' : 'no-change';
  return { runId: options.runId, status, intervals: reports, gcDeleted };
}
