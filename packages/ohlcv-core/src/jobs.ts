/**
 * The lake-level jobs (DESIGN §3.5): consolidation of new raw fetches into
 * `ohlcv_1d`, `splits` and `tickers`, and incremental resampling into
 * `ohlcv_{N}d`. Both read what changed since the version they last recorded in
 * their commit's `meta`, rewrite only the partitions that change, and commit
 * nothing when nothing is new.
 */
import pl from 'nodejs-polars';
import type { DataFrame, LazyDataFrame } from 'nodejs-polars';
import { bucketBounds, bucketOf, isSession } from './calendar.js';
import { isoToEpochDay } from './dates.js';
import { CommitConflictError, ConfigError } from './errors.js';
import { barDataset, isInList, type Commit, type CommitFile, type Lake } from './lake.js';
import { parseGroupedDaily, parseSplits, parseTickers } from './parse.js';
import { resampleLazy } from './resample.js';
import { QUARANTINE_SCHEMA, SPLITS_SCHEMA, TICKERS_SCHEMA, emptyFrame } from './schemas.js';
import { fetchTimeOf, type RawFetch } from './storage.js';
import { consolidate } from './consolidate.js';
import { median } from './validate.js';

/** Attempts of a job when another writer commits the same dataset first. */
export const DEFAULT_COMMIT_ATTEMPTS = 3;
/** Sessions of accepted row counts kept in `ohlcv_1d` meta for the trailing-median gate. */
export const TRAILING_SESSIONS = 20;

// ---------------------------------------------------------------------------
// Consolidation
// ---------------------------------------------------------------------------

export interface ConsolidateLakeOptions {
  runId: string;
  /** Quality gate: largest quarantined share of a session (default 0.01). */
  maxRejectedShare?: number;
  /** Commit time (tests); defaults to now. */
  now?: Date;
  /** Attempts on `CommitConflictError` (default 3); each re-reads the new head. */
  attempts?: number;
}

export interface ConsolidateRowCounts {
  received: number;
  accepted: number;
  collapsed: number;
  quarantined: number;
  superseded: number;
}

export interface ConsolidateLakeReport {
  runId: string;
  /** `committed` when any dataset got a new version, else `no-change`. */
  status: 'committed' | 'no-change';
  /** Sessions (re)consolidated into ohlcv_1d by this run. */
  sessions: string[];
  /** Raw sessions ignored because they are not NYSE sessions. */
  skippedSessions: string[];
  rows: ConsolidateRowCounts;
  /** `ohlcv_1d` year partitions rewritten (`year=YYYY`). */
  partitionsWritten: string[];
  quarantineFiles: number;
  splitsAdded: number;
  tickersRows: number | null;
  /** Head version of each dataset after the run (null: no data yet), and whether this run made it. */
  versions: Record<'ohlcv_1d' | 'splits' | 'tickers', { version: number | null; committed: boolean }>;
  latestSession: string | null;
}

/** Bookkeeping kept in `ohlcv_1d` commits. */
export interface DailyMeta {
  /** session -> fetch id of the raw fetch consolidated for it. */
  fetches: Record<string, string>;
  /** Sessions whose rows this version changed (resampling reads these). */
  changedSessions: string[];
  latestSession: string | null;
  /** Accepted rows of the latest sessions, oldest first (quality gate). */
  recentRows: Array<[string, number]>;
}

/** Bookkeeping kept in `splits` and `tickers` commits. */
export interface RefMeta {
  fetches: Record<string, string>;
  /** Tickers whose splits this version added or changed (splits only). */
  changedTickers?: string[];
}

function dailyMeta(commit: Commit | null): DailyMeta {
  const m = (commit?.meta ?? {}) as Partial<DailyMeta>;
  return { fetches: m.fetches ?? {}, changedSessions: m.changedSessions ?? [], latestSession: m.latestSession ?? null, recentRows: m.recentRows ?? [] };
}

function refMeta(commit: Commit | null): RefMeta {
  const m = (commit?.meta ?? {}) as Partial<RefMeta>;
  return { fetches: m.fetches ?? {}, ...(m.changedTickers ? { changedTickers: m.changedTickers } : {}) };
}

/** Raw files downloaded at once by consolidation. */
const RAW_READ_CONCURRENCY = 8;

/** `Promise.all(items.map(fn))` with at most `limit` calls in flight; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function withRetries<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof CommitConflictError) || attempt >= attempts) throw error;
    }
  }
}

function yearOf(iso: string): number {
  return Number(iso.slice(0, 4));
}

/** New fetches: sessions whose latest raw fetch is not the one recorded. */
function newFetches(latest: Map<string, RawFetch>, recorded: Record<string, string>): RawFetch[] {
  return [...latest.values()].filter((f) => recorded[f.session] !== f.fetchId);
}

async function consolidateDaily(
  lake: Lake,
  options: ConsolidateLakeOptions,
): Promise<{ commit: Commit | null; head: Commit | null; sessions: string[]; skipped: string[]; rows: ConsolidateRowCounts; partitions: string[]; quarantineFiles: number }> {
  const head = await lake.head('ohlcv_1d');
  const meta = dailyMeta(head);
  const latest = await lake.raw.latestBySession('ohlcv');
  const pending = newFetches(latest, meta.fetches);
  const skipped = pending.filter((f) => !isSession(f.session)).map((f) => f.session);
  const todo = pending.filter((f) => isSession(f.session));
  const zero: ConsolidateRowCounts = { received: 0, accepted: 0, collapsed: 0, quarantined: 0, superseded: 0 };
  if (todo.length === 0) return { commit: null, head, sessions: [], skipped, rows: zero, partitions: [], quarantineFiles: 0 };

  // Parse every new session; consolidate() validates, gates and merges (nothing is written before the gate passes).
  // Downloads overlap (S3 latency dominates a backfill); each session is parsed as soon as it
  // arrives, so at most a few sessions of JSON are alive at once. The fetch id encodes the
  // fetch time: no need to read each meta record.
  const frames = await mapLimit(todo, RAW_READ_CONCURRENCY, async (fetch) =>
    parseGroupedDaily(await lake.raw.read(fetch), fetch.session, fetchTimeOf(fetch.fetchId), fetch.fetchId),
  );
  const raw = frames.length === 1 ? frames[0]! : pl.concat(frames, { how: 'vertical' });
  const sessions = todo.map((f) => f.session).sort();
  const years = [...new Set(sessions.map(yearOf))].sort((a, b) => a - b);
  const yearFiles = (head?.files ?? []).filter((f) => years.some((y) => f.partition === `year=${y}`));
  const existing = yearFiles.length > 0 ? await lake.readCommitFiles('ohlcv_1d', yearFiles) : null;
  const trailing = median(meta.recentRows.map(([, n]) => n));
  const { daily: merged, quarantined, report } = consolidate(existing, raw, {
    ...(options.maxRejectedShare !== undefined ? { maxRejectedShare: options.maxRejectedShare } : {}),
    ...(trailing !== undefined ? { trailingMedianRows: trailing } : {}),
  });
  const counts = report.counts;
  // Only partitions whose rows changed are rewritten (a refetch with the same data rewrites none).
  const changedYears = new Set(report.changedYears);
  const oldFiles = yearFiles.filter((f) => changedYears.has(Number(f.partition?.slice(5))));
  const files =
    changedYears.size === 0
      ? []
      : await lake.writeFiles('ohlcv_1d', merged.filter(pl.col('date').dt.year().isIn([...changedYears])));

  const qFiles: CommitFile[] = [];
  const qConformed = quarantined.select(...Object.keys(QUARANTINE_SCHEMA));
  for (const session of sessions) {
    const part = qConformed.filter(pl.col('date').eq(pl.lit(isoToEpochDay(session)).cast(pl.Date)));
    const file = await lake.writeQuarantine(session, part);
    if (file) qFiles.push(file);
  }
  const oldQuarantine = (head?.quarantine ?? []).filter((f) => sessions.some((s) => f.partition === `date=${s}`));

  const fetches = { ...meta.fetches };
  for (const f of todo) fetches[f.session] = f.fetchId;
  const acceptedBySession = new Map(counts.sessions.map((s) => [s.session, s.accepted]));
  const recent = new Map(meta.recentRows);
  for (const s of sessions) recent.set(s, acceptedBySession.get(s) ?? 0);
  const recentRows = [...recent.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).slice(-TRAILING_SESSIONS);
  const allSessions = Object.keys(fetches).filter(isSession).sort();
  const newMeta: DailyMeta = {
    fetches,
    changedSessions: report.changedSessions,
    latestSession: allSessions.at(-1) ?? null,
    recentRows,
  };
  const commit = await lake.commit('ohlcv_1d', {
    parent: head?.version ?? 0,
    files,
    removed: [...oldFiles.map((f) => f.path), ...oldQuarantine.map((f) => f.path)],
    quarantine: qFiles,
    runId: options.runId,
    meta: newMeta as unknown as Record<string, unknown>,
    ...(options.now ? { now: options.now } : {}),
  });
  const t = counts.totals;
  return {
    commit,
    head,
    sessions,
    skipped,
    rows: { received: t.received, accepted: t.accepted, collapsed: t.collapsed, quarantined: t.quarantined, superseded: t.superseded },
    partitions: [...changedYears].sort((a, b) => a - b).map((y) => `year=${y}`),
    quarantineFiles: qFiles.length,
  };
}

async function consolidateSplits(lake: Lake, options: ConsolidateLakeOptions): Promise<{ commit: Commit | null; head: Commit | null; added: number }> {
  const head = await lake.head('splits');
  const meta = refMeta(head);
  const pending = newFetches(await lake.raw.latestBySession('splits'), meta.fetches);
  if (pending.length === 0) return { commit: null, head, added: 0 };
  const parsed = await mapLimit(pending, RAW_READ_CONCURRENCY, async (fetch) => parseSplits(await lake.raw.read(fetch)));
  const existing = head ? await lake.read('splits', { version: head.version }) : emptyFrame(SPLITS_SCHEMA);
  const incoming = pl.concat(parsed, { how: 'vertical' }).select(...Object.keys(SPLITS_SCHEMA));
  // The newest report of a split (ticker, execution date) wins.
  const merged = pl
    .concat([existing.select(...Object.keys(SPLITS_SCHEMA)), incoming], { how: 'vertical' })
    .unique({ subset: ['ticker', 'execution_date'], keep: 'last', maintainOrder: true })
    .sort(['ticker', 'execution_date']);
  const changed = incoming.join(existing, { on: ['ticker', 'execution_date', 'split_from', 'split_to'], how: 'anti' });
  const changedTickers = [...new Set(changed.getColumn('ticker').toArray() as string[])].sort();
  const fetches = { ...meta.fetches };
  for (const f of pending) fetches[f.session] = f.fetchId;
  const files = await lake.writeFiles('splits', merged);
  const commit = await lake.commit('splits', {
    parent: head?.version ?? 0,
    files,
    removed: (head?.files ?? []).map((f) => f.path),
    runId: options.runId,
    meta: { fetches, changedTickers },
    ...(options.now ? { now: options.now } : {}),
  });
  return { commit, head, added: changed.height };
}

async function consolidateTickers(lake: Lake, options: ConsolidateLakeOptions): Promise<{ commit: Commit | null; head: Commit | null; rows: number | null }> {
  const head = await lake.head('tickers');
  const meta = refMeta(head);
  const fetches = await lake.raw.list('tickers');
  const newest = fetches.reduce<RawFetch | undefined>((a, f) => (!a || f.fetchId > a.fetchId ? f : a), undefined);
  if (!newest || meta.fetches[newest.session] === newest.fetchId) return { commit: null, head, rows: null };
  // The newest snapshot replaces the dataset (it lists active and delisted tickers).
  const snapshot = parseTickers(await lake.raw.read(newest)).select(...Object.keys(TICKERS_SCHEMA)).sort('ticker');
  const files = await lake.writeFiles('tickers', snapshot);
  const commit = await lake.commit('tickers', {
    parent: head?.version ?? 0,
    files,
    removed: (head?.files ?? []).map((f) => f.path),
    runId: options.runId,
    meta: { fetches: { [newest.session]: newest.fetchId } },
    ...(options.now ? { now: options.now } : {}),
  });
  return { commit, head, rows: snapshot.height };
}

/**
 * Consolidates raw fetches not consolidated yet into `ohlcv_1d` (validation,
 * quarantine, quality gate, latest fetch of a session wins whole), and the raw
 * splits and ticker snapshots into `splits` and `tickers`. Rewrites only the
 * year partitions holding new sessions; commits nothing when nothing is new.
 * Throws `DataQualityError` (nothing written) when a session fails the gate.
 *
 * @example
 * import { consolidateLake, openLake } from '@fibbars/ohlcv-core';
 * const report = await consolidateLake(openLake('./lake'), { runId: 'manual-1' });
 * console.log(report.sessions, report.rows);
 */
export async function consolidateLake(lake: Lake, options: ConsolidateLakeOptions): Promise<ConsolidateLakeReport> {
  if (!options || typeof options.runId !== 'string' || options.runId === '') throw new ConfigError('consolidateLake needs a runId');
  if (options.maxRejectedShare !== undefined && !(options.maxRejectedShare >= 0 && options.maxRejectedShare <= 1)) {
    throw new ConfigError(`maxRejectedShare must be between 0 and 1, got ${String(options.maxRejectedShare)}`);
  }
  const attempts = options.attempts ?? DEFAULT_COMMIT_ATTEMPTS;
  // Splits and tickers first: a resample that sees the new daily rows also sees their splits.
  const splits = await withRetries(attempts, () => consolidateSplits(lake, options));
  const tickers = await withRetries(attempts, () => consolidateTickers(lake, options));
  const daily = await withRetries(attempts, () => consolidateDaily(lake, options));
  const version = (r: { commit: Commit | null; head: Commit | null }) => ({
    version: r.commit?.version ?? r.head?.version ?? null,
    committed: r.commit !== null,
  });
  const committed = daily.commit !== null || splits.commit !== null || tickers.commit !== null;
  return {
    runId: options.runId,
    status: committed ? 'committed' : 'no-change',
    sessions: daily.sessions,
    skippedSessions: daily.skipped,
    rows: daily.rows,
    partitionsWritten: daily.partitions,
    quarantineFiles: daily.quarantineFiles,
    splitsAdded: splits.added,
    tickersRows: tickers.rows,
    versions: { ohlcv_1d: version(daily), splits: version(splits), tickers: version(tickers) },
    latestSession: dailyMeta(daily.commit ?? daily.head).latestSession,
  };
}

// ---------------------------------------------------------------------------
// Resampling
// ---------------------------------------------------------------------------

export type StoredAnchor = 'calendar' | 'ticker';

/** The resampler the job calls: ohlcv-core's `resample` or anything with its contract. */
export type ResampleFn = (
  daily: DataFrame,
  opts: { days: number; anchor?: StoredAnchor; splits?: DataFrame; asOf?: string },
) => DataFrame | Promise<DataFrame>;

export interface ResampleLakeOptions {
  /** Interval(s) in sessions, each >= 2. */
  days: number | readonly number[];
  runId: string;
  /** Stored anchor (default `calendar`); `ticker` bars are rebuilt in full on every change. */
  anchor?: StoredAnchor;
  now?: Date;
  attempts?: number;
  /** The resampler (defaults to ohlcv-core's `resample`). */
  resampleFn?: ResampleFn;
  /**
   * Sessions of daily history per chunk of a calendar-anchored full build
   * (default 252, about a year): memory stays bounded by one chunk instead of
   * the whole history.
   */
  chunkSessions?: number;
}

/** Default sessions per chunk of a full calendar-anchored build. */
export const DEFAULT_CHUNK_SESSIONS = 252;

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
}

export interface ResampleLakeReport {
  runId: string;
  status: 'committed' | 'no-change';
  intervals: ResampleIntervalReport[];
}

/** Bookkeeping kept in bar dataset commits. */
export interface BarMeta {
  sourceVersion: number;
  splitsVersion: number;
  anchor: StoredAnchor;
  latestSession: string | null;
}

/**
 * ohlcv-core's resampler, collected asynchronously: `collectSync` can deadlock
 * when an S3 server answers in the same process (TOOLCHAIN.md). The lake's
 * daily history is already unique per (ticker, date) and sessions only, so
 * the lazy plan without input checks is safe here.
 */
async function runResample(rows: LazyDataFrame, opts: Parameters<ResampleFn>[1], custom?: ResampleFn): Promise<DataFrame> {
  if (custom) return custom(await rows.collect(), opts);
  return resampleLazy(rows, opts).collect({ streaming: true });
}

/**
 * Date ranges of a full build. Calendar buckets are shared by all tickers, so
 * the history splits into chunks of whole buckets that are resampled
 * independently (a bar never spans two chunks). The ticker anchor numbers each
 * ticker's rows from its first one: one range, the whole history.
 */
function fullBuildRanges(daily: Commit, days: number, anchor: StoredAnchor, chunkSessions: number): Array<{ from?: string; to?: string }> {
  const dates = daily.files.flatMap((f) => [f.minDate, f.maxDate]);
  if (anchor !== 'calendar' || dates.length === 0 || dates.some((d) => d === null || !isSession(d))) return [{}];
  const sorted = (dates as string[]).sort();
  const first = sorted[0]!;
  const last = sorted.at(-1)!;
  const step = Math.max(1, Math.floor(Math.max(1, chunkSessions) / days));
  const ranges: Array<{ from?: string; to?: string }> = [];
  for (let lo = bucketOf(first, days), end = bucketOf(last, days); lo <= end; lo += step) {
    const hi = Math.min(lo + step - 1, end);
    ranges.push({ from: bucketBounds(lo, days).first, to: bucketBounds(hi, days).last });
  }
  return ranges;
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

async function resampleInterval(lake: Lake, days: number, options: ResampleLakeOptions, resampleFn: ResampleFn | undefined): Promise<ResampleIntervalReport> {
  const dataset = barDataset(days);
  const anchor = options.anchor ?? 'calendar';
  const [daily, splitsHead, head] = await Promise.all([lake.head('ohlcv_1d'), lake.head('splits'), lake.head(dataset)]);
  const base = { days, dataset, bucketsRecomputed: 0, tickersRecomputed: [] as string[], partitionsWritten: [] as string[], barsWritten: 0 };
  const prev = head ? (head.meta as Partial<BarMeta>) : null;
  if (!daily) return { ...base, mode: 'no-change', sourceVersion: null, version: head?.version ?? null, committed: false };
  const splitsVersion = splitsHead?.version ?? 0;
  const latestSession = dailyMeta(daily).latestSession;
  if (prev && prev.sourceVersion === daily.version && (prev.splitsVersion ?? 0) === splitsVersion && prev.anchor === anchor) {
    return { ...base, mode: 'no-change', sourceVersion: daily.version, version: head?.version ?? null, committed: false };
  }
  const splits = splitsHead ? await lake.read('splits', { version: splitsHead.version }) : emptyFrame(SPLITS_SCHEMA);
  const asOf = latestSession ?? undefined;
  const run = (rows: LazyDataFrame): Promise<DataFrame> => runResample(rows, { days, anchor, splits, ...(asOf ? { asOf } : {}) }, resampleFn);
  const meta: BarMeta = { sourceVersion: daily.version, splitsVersion, anchor, latestSession };
  const commitOpts = { runId: options.runId, meta: meta as unknown as Record<string, unknown>, ...(options.now ? { now: options.now } : {}) };

  const full = !head || !prev || prev.anchor !== anchor || anchor === 'ticker' || prev.sourceVersion === undefined;
  if (full) {
    const files: CommitFile[] = [];
    let barsWritten = 0;
    for (const range of fullBuildRanges(daily, days, anchor, options.chunkSessions ?? DEFAULT_CHUNK_SESSIONS)) {
      const bars = await run(await lake.scan('ohlcv_1d', { version: daily.version, ...range }));
      files.push(...(await lake.writeFiles(dataset, bars)));
      barsWritten += bars.height;
    }
    const commit = await lake.commit(dataset, { parent: head?.version ?? 0, files, removed: (head?.files ?? []).map((f) => f.path), ...commitOpts });
    return {
      ...base,
      mode: 'full',
      sourceVersion: daily.version,
      version: commit.version,
      committed: true,
      partitionsWritten: [...new Set(files.map((f) => f.partition ?? ''))].sort(),
      barsWritten,
    };
  }

  // What changed since the recorded versions.
  const sourceCommits = await lake.commitsSince('ohlcv_1d', prev.sourceVersion!);
  const changedSessions = new Set<string>();
  for (const c of sourceCommits) for (const s of dailyMeta(c).changedSessions) changedSessions.add(s);
  if (prev.latestSession && prev.latestSession !== latestSession) changedSessions.add(prev.latestSession); // is_complete may flip
  const splitTickers = new Set<string>();
  for (const c of await lake.commitsSince('splits', prev.splitsVersion ?? 0)) for (const t of refMeta(c).changedTickers ?? []) splitTickers.add(t);
  const buckets = [...new Set([...changedSessions].filter(isSession).map((s) => bucketOf(s, days)))].sort((a, b) => a - b);

  const tickersRecomputed = [...splitTickers].sort();
  if (buckets.length === 0 && tickersRecomputed.length === 0) {
    // New daily versions that changed no rows (e.g. a refetch with identical data): nothing to redo.
    return { ...base, mode: 'no-change', sourceVersion: prev.sourceVersion ?? null, version: head.version, committed: false };
  }

  const recomputed: DataFrame[] = [];
  for (const [lo, hi] of bucketRuns(buckets)) {
    const from = bucketBounds(lo, days).first;
    const to = bucketBounds(hi, days).last;
    const rows = await lake.scan('ohlcv_1d', { version: daily.version, from, to });
    const bars = await run(rows.filter(isInList('ticker', [...splitTickers]).not()));
    recomputed.push(bars.filter(pl.col('bucket').gtEq(lo).and(pl.col('bucket').ltEq(hi))));
  }
  if (tickersRecomputed.length > 0) {
    recomputed.push(await run(await lake.scan('ohlcv_1d', { version: daily.version, tickers: tickersRecomputed })));
  }
  const fresh = recomputed.length === 0 ? null : pl.concat(recomputed, { how: 'vertical' });

  // Partitions that may hold a replaced bar, or receive a new one.
  const years = new Set<number>();
  for (const b of buckets) {
    const bounds = bucketBounds(b, days);
    for (let y = yearOf(bounds.first); y <= yearOf(bounds.last); y += 1) years.add(y);
  }
  if (tickersRecomputed.length > 0) for (const f of head.files) if (f.partition) years.add(Number(f.partition.slice(5)));
  if (fresh && fresh.height > 0) {
    for (const y of new Set(fresh.select(pl.col('start_date').dt.year().alias('y')).getColumn('y').toArray() as number[])) years.add(y);
  }
  const bucketSet = buckets;
  const files: CommitFile[] = [];
  const removed: string[] = [];
  let barsWritten = 0;
  const partitionsWritten: string[] = [];
  for (const year of [...years].sort((a, b) => a - b)) {
    const partition = `year=${year}`;
    const old = head.files.filter((f) => f.partition === partition);
    let kept = old.length > 0 ? await lake.readCommitFiles(dataset, old) : null;
    if (kept) {
      kept = kept.filter(isInList('bucket', bucketSet).not().and(isInList('ticker', tickersRecomputed).not()));
    }
    const added = fresh ? fresh.filter(pl.col('start_date').dt.year().eq(pl.lit(year))) : null;
    const parts = [kept, added].filter((d): d is DataFrame => d !== null && d.height > 0);
    const merged = parts.length === 0 ? null : (parts.length === 1 ? parts[0]! : pl.concat(parts, { how: 'vertical' })).sort(['ticker', 'start_date']);
    removed.push(...old.map((f) => f.path));
    if (merged) {
      files.push(...(await lake.writeFiles(dataset, merged)));
      barsWritten += added?.height ?? 0;
    }
    partitionsWritten.push(partition);
  }
  const commit = await lake.commit(dataset, { parent: head.version, files, removed, ...commitOpts });
  return {
    ...base,
    mode: 'incremental',
    sourceVersion: daily.version,
    version: commit.version,
    committed: true,
    bucketsRecomputed: buckets.length,
    tickersRecomputed,
    partitionsWritten,
    barsWritten,
  };
}

/**
 * Brings the bar datasets of the given intervals up to the head of
 * `ohlcv_1d`: a full build the first time, then only the calendar buckets
 * holding sessions changed since the recorded source version (all tickers),
 * plus the whole history of tickers with a new split. Commits nothing for an
 * interval that is already current.
 *
 * @example
 * import { openLake, resampleLake } from '@fibbars/ohlcv-core';
 * const report = await resampleLake(openLake('./lake'), { days: [3, 5, 8, 13, 21, 34], runId: 'manual-1' });
 */
export async function resampleLake(lake: Lake, options: ResampleLakeOptions): Promise<ResampleLakeReport> {
  if (!options || typeof options.runId !== 'string' || options.runId === '') throw new ConfigError('resampleLake needs a runId');
  const list = typeof options.days === 'number' ? [options.days] : [...options.days];
  if (list.length === 0) throw new ConfigError('resampleLake needs at least one interval');
  for (const d of list) {
    if (!Number.isInteger(d) || d < 2 || d > 9999) throw new ConfigError(`interval ${String(d)} is not a whole number of sessions >= 2`);
  }
  const anchor = options.anchor ?? 'calendar';
  if (anchor !== 'calendar' && anchor !== 'ticker') {
    throw new ConfigError(`anchor ${JSON.stringify(anchor)} cannot be stored: use calendar or ticker (latest is read-time only)`);
  }
  const resampleFn = options.resampleFn;
  const attempts = options.attempts ?? DEFAULT_COMMIT_ATTEMPTS;
  const intervals: ResampleIntervalReport[] = [];
  for (const days of [...new Set(list)]) {
    intervals.push(await withRetries(attempts, () => resampleInterval(lake, days, options, resampleFn)));
  }
  return { runId: options.runId, status: intervals.some((i) => i.committed) ? 'committed' : 'no-change', intervals };
}
