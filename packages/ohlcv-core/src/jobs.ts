/**
 * The lake-level jobs (DESIGN §3.5): consolidation of new raw fetches into
 * `ohlcv_1d`, `splits` and `tickers`, and incremental resampling into
 * `ohlcv_{N}d`. Both read what changed since the version they last recorded in
 * their commit's `meta`, rewrite only the partitions that change, and commit
 * nothing when nothing is new.
 */
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import pMap from 'p-map';
import { isSession } from './calendar.js';
import { isoToEpochDay } from './dates.js';
import { CommitConflictError, ConfigError } from './errors.js';
import { DEFAULT_GC_GRACE_MS, type Commit, type CommitFile, type Lake } from './lake.js';
import { parseDividends, parseGroupedDaily, parseSplits, parseTickerEvents, parseTickers } from './parse.js';
import { buildTickerHistory } from './identity.js';
import { DIVIDENDS_SCHEMA, QUARANTINE_SCHEMA, SPLITS_SCHEMA, TICKERS_SCHEMA, TICKER_HISTORY_SCHEMA, emptyFrame } from './schemas.js';
import { fetchTimeOf, listingCoverage, type RawFetch } from './raw-zone.js';
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
  /** Grace period of the gc that ends the job (default one hour, `DEFAULT_GC_GRACE_MS`); `false` skips it. */
  gcGraceMs?: number | false;
  /**
   * Called as the daily history is consolidated: once per new session parsed
   * (`parsed` of `total`), then once before the files are written. A backfill
   * of hundreds of sessions spends most of its consolidation here.
   */
  onProgress?: (progress: ConsolidateProgress) => void;
}

export type ConsolidateProgress = { phase: 'parse'; session: string; parsed: number; total: number } | { phase: 'write'; rows: number };

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
  /** Splits a newer listing of their dates no longer holds: the vendor withdrew them (`mergeListings`). */
  splitsWithdrawn: number;
  /** Dividends (ticker, ex-date, type) this run added or whose amount changed. */
  dividendsAdded: number;
  /** Dividends a newer listing of their dates no longer holds. */
  dividendsWithdrawn: number;
  /**
   * Listings whose withdrawals were not applied because they would remove
   * more than `WITHDRAWAL_LIMIT` of the rows of their dates (a vendor answer
   * that lost rows, not a correction): their rows were still added. Refetch
   * them to apply a real withdrawal.
   */
  withdrawalsRefused: Array<{ dataset: 'splits' | 'dividends'; session: string; fetchId: string; rows: number; of: number }>;
  tickersRows: number | null;
  /** Head version of each dataset after the run (null: no data yet), and whether this run made it. */
  /** Rows of `ticker_history` when this run rebuilt it, else null. */
  tickerHistoryRows: number | null;
  versions: Record<'ohlcv_1d' | 'splits' | 'dividends' | 'tickers' | 'ticker_history', { version: number | null; committed: boolean }>;
  latestSession: string | null;
  /** Files removed by the gc that ends the job. */
  gcDeleted: number;
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
  /** (ticker, execution date) of the splits this version added or changed (splits only). */
  changed?: Array<[string, string]>;
}

export function dailyMeta(commit: Commit | null): DailyMeta {
  const m = (commit?.meta ?? {}) as Partial<DailyMeta>;
  return { fetches: m.fetches ?? {}, changedSessions: m.changedSessions ?? [], latestSession: m.latestSession ?? null, recentRows: m.recentRows ?? [] };
}

export function refMeta(commit: Commit | null): RefMeta {
  const m = (commit?.meta ?? {}) as Partial<RefMeta>;
  return { fetches: m.fetches ?? {}, ...(m.changedTickers ? { changedTickers: m.changedTickers } : {}), ...(m.changed ? { changed: m.changed } : {}) };
}

/** Raw files downloaded at once by consolidation. */
const RAW_READ_CONCURRENCY = 8;

/** Runs `fn` again (up to `attempts` in all) when another writer committed first. */
export async function withRetries<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof CommitConflictError) || attempt >= attempts) throw error;
    }
  }
}

// ---------------------------------------------------------------------------
// The daily plan (pure)
// ---------------------------------------------------------------------------

export interface ConsolidationPlanInput {
  /** The head of `ohlcv_1d`, or null before the first consolidation. */
  head: Commit | null;
  /** The latest complete raw fetch of every session (`RawZone.latestBySession('ohlcv')`), by session. */
  latest: ReadonlyMap<string, RawFetch>;
}

export interface ConsolidationPlan {
  /**
   * The fetches to parse: NYSE sessions whose latest raw fetch is not the one
   * the head consolidated, in the raw zone's order. Empty: nothing to do.
   */
  fetches: RawFetch[];
  /** Their sessions, ascending. */
  sessions: string[];
  /** Sessions with a new fetch that are not NYSE sessions: ignored. */
  skipped: string[];
  /** The months (`YYYY-MM`) of `sessions`. */
  months: string[];
  /** Head files whose dates overlap those months: read and merged with the new rows. */
  read: CommitFile[];
  /** Head quarantine files of those sessions: replaced by this run's. */
  replacedQuarantine: CommitFile[];
}

export interface DailyRewrite {
  /** The months (`YYYY-MM`) holding a session whose rows changed. */
  months: string[];
  /** Files of the plan's `read` overlapping those months: dropped, and their rows written again. */
  replaced: CommitFile[];
  /** Inclusive date spans whose merged rows are written: each replaced file's, and each changed month. */
  spans: Array<[string, string]>;
}

/** New fetches: sessions whose latest raw fetch is not the one recorded. */
function newFetches(latest: ReadonlyMap<string, RawFetch>, recorded: Record<string, string>): RawFetch[] {
  return [...latest.values()].filter((f) => recorded[f.session] !== f.fetchId);
}

function monthOf(iso: string): string {
  return iso.slice(0, 7);
}

/** The last day of month `YYYY-MM`. */
function lastDayOfMonth(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return `${month}-${String(new Date(Date.UTC(y, m, 0)).getUTCDate()).padStart(2, '0')}`;
}

/** Whether a file's dates overlap any of the months (a file without dates overlaps all). */
function overlapsMonths(f: CommitFile, months: readonly string[]): boolean {
  return months.some((m) => (f.minDate === null || f.minDate.slice(0, 7) <= m) && (f.maxDate === null || f.maxDate.slice(0, 7) >= m));
}

/**
 * What a consolidation reads, from the head of `ohlcv_1d` and the latest raw
 * fetch of each session. No I/O: tested on its own, and the part that keeps a
 * daily run's reads to the months of its new sessions.
 *
 * Daily files hold a month (or, written by older versions, a year): only the
 * files whose dates overlap the months of the new sessions are read.
 *
 * @example
 * planConsolidation({ head, latest: await lake.raw.latestBySession('ohlcv') });
 * // { fetches: [...], sessions: ['2024-06-04'], skipped: [], months: ['2024-06'], read: [<June file>], replacedQuarantine: [] }
 */
export function planConsolidation(input: ConsolidationPlanInput): ConsolidationPlan {
  const pending = newFetches(input.latest, dailyMeta(input.head).fetches);
  const fetches = pending.filter((f) => isSession(f.session));
  const sessions = fetches.map((f) => f.session).sort();
  const months = [...new Set(sessions.map(monthOf))];
  return {
    fetches,
    sessions,
    skipped: pending.filter((f) => !isSession(f.session)).map((f) => f.session),
    months,
    read: (input.head?.files ?? []).filter((f) => overlapsMonths(f, months)),
    replacedQuarantine: (input.head?.quarantine ?? []).filter((f) => sessions.some((s) => f.partition === `date=${s}`)),
  };
}

/**
 * What a consolidation writes, once `consolidate` has said which sessions'
 * rows changed: only the read files overlapping a changed month are
 * rewritten, with every row of the dates they span (a refetch with the same
 * data rewrites none), so a daily run costs a month of rows whatever the history.
 */
export function planDailyRewrite(read: readonly CommitFile[], changedSessions: readonly string[]): DailyRewrite {
  const months = [...new Set(changedSessions.map(monthOf))];
  const replaced = read.filter((f) => overlapsMonths(f, months));
  const spans: Array<[string, string]> = [
    ...replaced.map((f): [string, string] => [f.minDate ?? '1990-01-01', f.maxDate ?? '2100-12-31']),
    ...months.map((m): [string, string] => [`${m}-01`, lastDayOfMonth(m)]),
  ];
  return { months, replaced, spans };
}

/**
 * The bookkeeping of the new `ohlcv_1d` version: the consolidated fetch id
 * of each session, the changed sessions, the latest session, and the
 * accepted rows of the latest `TRAILING_SESSIONS` sessions (quality gate).
 */
export function nextDailyMeta(
  prev: DailyMeta,
  plan: Pick<ConsolidationPlan, 'fetches' | 'sessions'>,
  acceptedBySession: ReadonlyMap<string, number>,
  changedSessions: string[],
): DailyMeta {
  const fetches = { ...prev.fetches };
  for (const f of plan.fetches) fetches[f.session] = f.fetchId;
  const recent = new Map(prev.recentRows);
  for (const s of plan.sessions) recent.set(s, acceptedBySession.get(s) ?? 0);
  const recentRows = [...recent.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).slice(-TRAILING_SESSIONS);
  const allSessions = Object.keys(fetches).filter(isSession).sort();
  return { fetches, changedSessions, latestSession: allSessions.at(-1) ?? null, recentRows };
}

// ---------------------------------------------------------------------------
// Consolidation (I/O)
// ---------------------------------------------------------------------------

interface DailyResult {
  commit: Commit | null;
  head: Commit | null;
  sessions: string[];
  skipped: string[];
  rows: ConsolidateRowCounts;
  partitions: string[];
  quarantineFiles: number;
}

/**
 * The new sessions' raw rows, one frame. Downloads overlap (S3 latency
 * dominates a backfill); each session is parsed as soon as it arrives, so at
 * most a few sessions of JSON are alive at once. The fetch id encodes the
 * fetch time: no need to read each meta record.
 */
async function parseFetches(lake: Lake, fetches: readonly RawFetch[], options: ConsolidateLakeOptions): Promise<DataFrame> {
  let parsed = 0;
  const frames = await pMap(
    fetches,
    async (fetch) => {
      const frame = parseGroupedDaily(await lake.raw.read(fetch), fetch.session, fetchTimeOf(fetch.fetchId), fetch.fetchId);
      options.onProgress?.({ phase: 'parse', session: fetch.session, parsed: ++parsed, total: fetches.length });
      return frame;
    },
    { concurrency: RAW_READ_CONCURRENCY },
  );
  return frames.length === 1 ? frames[0]! : pl.concat(frames, { how: 'vertical' });
}

/** Writes the merged rows of the rewrite's spans as new month files; none when no session changed. */
async function writeRewrite(lake: Lake, merged: DataFrame, rewrite: DailyRewrite, options: ConsolidateLakeOptions): Promise<CommitFile[]> {
  if (rewrite.months.length === 0) return [];
  // The days the spans cover, as one list (a few months, at most a legacy file's year): one
  // isIn instead of two comparisons and a literal per span (nodejs-polars spends about a
  // millisecond building each expression object, pola-rs/nodejs-polars#265).
  const spanDays = new Set<number>();
  for (const [a, b] of rewrite.spans) for (let d = isoToEpochDay(a), last = isoToEpochDay(b); d <= last; d++) spanDays.add(d);
  const inSpans = pl.col('date').isIn(pl.Series('days', [...spanDays], pl.Int32).cast(pl.Date).implode());
  const toWrite = merged.filter(inSpans);
  options.onProgress?.({ phase: 'write', rows: toWrite.height });
  return lake.writeFiles('ohlcv_1d', toWrite, { monthly: true });
}

/** Writes each new session's quarantined rows as its own file (none for a clean session). */
async function writeQuarantines(lake: Lake, quarantined: DataFrame, sessions: readonly string[]): Promise<CommitFile[]> {
  const qFiles: CommitFile[] = [];
  const qConformed = quarantined.select(...Object.keys(QUARANTINE_SCHEMA));
  for (const session of sessions) {
    const part = qConformed.filter(pl.col('date').eq(pl.lit(isoToEpochDay(session)).cast(pl.Date)));
    const file = await lake.writeQuarantine(session, part);
    if (file) qFiles.push(file);
  }
  return qFiles;
}

/** The year partitions (`year=YYYY`) of written files, ascending. */
function yearPartitions(files: readonly CommitFile[]): string[] {
  const years = new Set(files.map((f) => Number(f.partition?.slice(5))));
  return [...years].sort((a, b) => a - b).map((y) => `year=${y}`);
}

function noRows(): ConsolidateRowCounts {
  return { received: 0, accepted: 0, collapsed: 0, quarantined: 0, superseded: 0 };
}

/** A daily consolidation computed and gated, nothing written yet. */
type PreparedDaily =
  | { kind: 'none'; result: DailyResult }
  | {
      kind: 'merge';
      head: Commit | null;
      meta: DailyMeta;
      plan: ReturnType<typeof planConsolidation>;
      merged: DataFrame;
      quarantined: DataFrame;
      report: ReturnType<typeof consolidate>['report'];
    };

/**
 * Parses every new session and runs `consolidate` (validation, the quality
 * gate, the merge): `DataQualityError` here means nothing of the run has been
 * written, not even its reference datasets (`consolidateLake` commits those
 * after this).
 */
async function prepareDaily(lake: Lake, options: ConsolidateLakeOptions): Promise<PreparedDaily> {
  const head = await lake.head('ohlcv_1d');
  const meta = dailyMeta(head);
  const plan = planConsolidation({ head, latest: await lake.raw.latestBySession('ohlcv') });
  if (plan.fetches.length === 0) return { kind: 'none', result: { commit: null, head, sessions: [], skipped: plan.skipped, rows: noRows(), partitions: [], quarantineFiles: 0 } };
  const raw = await parseFetches(lake, plan.fetches, options);
  const existing = plan.read.length > 0 ? await lake.readCommitFiles('ohlcv_1d', plan.read) : null;
  const trailing = median(meta.recentRows.map(([, n]) => n));
  const { daily: merged, quarantined, report } = consolidate(existing, raw, {
    ...(options.maxRejectedShare !== undefined ? { maxRejectedShare: options.maxRejectedShare } : {}),
    ...(trailing !== undefined ? { trailingMedianRows: trailing } : {}),
  });
  return { kind: 'merge', head, meta, plan, merged, quarantined, report };
}

async function commitDaily(lake: Lake, prepared: PreparedDaily, options: ConsolidateLakeOptions): Promise<DailyResult> {
  if (prepared.kind === 'none') return prepared.result;
  const { head, meta, plan, merged, quarantined, report } = prepared;
  const { sessions, skipped } = plan;
  const counts = report.counts;
  const rewrite = planDailyRewrite(plan.read, report.changedSessions);
  const files = await writeRewrite(lake, merged, rewrite, options);
  const qFiles = await writeQuarantines(lake, quarantined, sessions);

  const acceptedBySession = new Map(counts.sessions.map((s) => [s.session, s.accepted]));
  const newMeta = nextDailyMeta(meta, plan, acceptedBySession, report.changedSessions);
  const commit = await lake.commit('ohlcv_1d', {
    parent: head?.version ?? 0,
    files,
    removed: [...rewrite.replaced.map((f) => f.path), ...plan.replacedQuarantine.map((f) => f.path)],
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
    partitions: yearPartitions(files),
    quarantineFiles: qFiles.length,
  };
}

/** A dividend's key: one cash amount per ticker, ex-date and type (the vendor's CD, SC, LT, ST). */
const DIVIDEND_KEY = ['ticker', 'ex_dividend_date', 'dividend_type'];

type Refused = ConsolidateLakeReport['withdrawalsRefused'][number];
type ListingResult = { commit: Commit | null; head: Commit | null; added: number; withdrawn: number; refused: Refused[] };

/**
 * A listing fetch may withdraw at most this many of the rows of the dates it
 * covers, or `WITHDRAWAL_SHARE` of them when more: a correction withdraws a
 * record or two; an answer that lost most of a range is not one.
 */
export const WITHDRAWAL_LIMIT = 10;
export const WITHDRAWAL_SHARE = 0.1;

/**
 * A reference table (splits, dividends) merged with the listings not
 * consolidated yet, oldest fetch first. A listing that names the dates it
 * answered for (`listingCoverage`: the vendor's whole answer for a date
 * range, every page) replaces the table's rows of those dates, so a record
 * the vendor withdrew (a split reported in error, a cancelled dividend)
 * leaves the table; one that names none only adds. The newest report of a
 * key wins. Withdrawals beyond `WITHDRAWAL_LIMIT` / `WITHDRAWAL_SHARE` of a
 * listing's dates are refused (its rows still added) and reported.
 */
async function mergeListings(
  lake: Lake,
  dataset: 'splits' | 'dividends',
  existing: DataFrame,
  pending: readonly RawFetch[],
  parse: (pages: unknown[]) => DataFrame,
  spec: { date: string; key: string[] },
): Promise<{ merged: DataFrame; refused: Refused[] }> {
  const columns = existing.columns;
  const fetches = await pMap(
    [...pending].sort((a, b) => (a.fetchId < b.fetchId ? -1 : 1)),
    async (fetch) => ({ fetch, rows: parse(await lake.raw.read(fetch)).select(...columns), coverage: listingCoverage(await lake.raw.readMeta(fetch), spec.date) }),
    { concurrency: RAW_READ_CONCURRENCY },
  );
  let table = existing;
  const refused: Refused[] = [];
  for (const { fetch, rows, coverage } of fetches) {
    if (coverage) {
      const day = pl.col(spec.date).cast(pl.Utf8);
      const covered = day.gtEq(pl.lit(coverage.from)).and(day.ltEq(pl.lit(coverage.to)));
      const inRange = table.filter(covered);
      const gone = inRange.join(rows, { on: spec.key, how: 'anti' });
      if (gone.height > WITHDRAWAL_LIMIT && gone.height > WITHDRAWAL_SHARE * inRange.height) {
        refused.push({ dataset, session: fetch.session, fetchId: fetch.fetchId, rows: gone.height, of: inRange.height });
      } else if (gone.height > 0) {
        table = table.join(gone.select(...spec.key), { on: spec.key, how: 'anti' });
      }
    }
    table = pl.concat([table, rows], { how: 'vertical' }).unique({ subset: spec.key, keep: 'last', maintainOrder: true });
  }
  return { merged: table.sort(spec.key), refused };
}

/** Rows of `a` with no equal row (all columns) in `b`. */
function rowsOnlyIn(a: DataFrame, b: DataFrame): DataFrame {
  return a.join(b, { on: a.columns, how: 'anti' });
}

async function consolidateSplits(lake: Lake, options: ConsolidateLakeOptions): Promise<ListingResult> {
  const head = await lake.head('splits');
  const meta = refMeta(head);
  const pending = newFetches(await lake.raw.latestBySession('splits'), meta.fetches);
  if (pending.length === 0) return { commit: null, head, added: 0, withdrawn: 0, refused: [] };
  const existing = (head ? await lake.read('splits', { version: head.version }) : emptyFrame(SPLITS_SCHEMA)).select(...Object.keys(SPLITS_SCHEMA));
  const { merged, refused } = await mergeListings(lake, 'splits', existing, pending, parseSplits, { date: 'execution_date', key: ['ticker', 'execution_date'] });
  const added = rowsOnlyIn(merged, existing);
  const removed = rowsOnlyIn(existing, merged);
  // A changed or withdrawn split changes the bars of its ticker around its date.
  const changed = pl.concat([added, removed], { how: 'vertical' });
  const changedTickers = [...new Set(changed.getColumn('ticker').toArray() as string[])].sort();
  const changedPairs = [
    ...new Set(
      changed
        .select(pl.col('ticker'), pl.col('execution_date').cast(pl.Utf8).alias('d'))
        .rows()
        .map(([t, d]) => `${String(t)}\u0000${String(d)}`),
    ),
  ]
    .sort()
    .map((k) => k.split('\u0000') as [string, string]);
  const fetches = { ...meta.fetches };
  for (const f of pending) fetches[f.session] = f.fetchId;
  // A refetch that adds, changes or withdraws no split records its fetch ids and keeps the file: the
  // table is unchanged, and one file under silver/splits/ stays the whole table.
  const unchanged = head !== null && changed.height === 0;
  const files = unchanged ? [] : await lake.writeFiles('splits', merged);
  const commit = await lake.commit('splits', {
    parent: head?.version ?? 0,
    files,
    removed: unchanged ? [] : (head?.files ?? []).map((f) => f.path),
    runId: options.runId,
    meta: { fetches, changedTickers, changed: changedPairs },
    ...(options.now ? { now: options.now } : {}),
  });
  const withdrawn = removed.join(merged, { on: ['ticker', 'execution_date'], how: 'anti' }).height;
  return { commit, head, added: added.height, withdrawn, refused };
}

/**
 * The raw dividend listings not consolidated yet into `dividends`: the
 * newest report of a (ticker, ex-date, type) wins, as for splits; a version
 * is committed only when the table changes (a refetch that reports nothing
 * new records its fetch ids and keeps the file).
 */
async function consolidateDividends(lake: Lake, options: ConsolidateLakeOptions): Promise<ListingResult> {
  const head = await lake.head('dividends');
  const meta = refMeta(head);
  const pending = newFetches(await lake.raw.latestBySession('dividends'), meta.fetches);
  if (pending.length === 0) return { commit: null, head, added: 0, withdrawn: 0, refused: [] };
  const columns = Object.keys(DIVIDENDS_SCHEMA);
  const existing = (head ? await lake.read('dividends', { version: head.version }) : emptyFrame(DIVIDENDS_SCHEMA)).select(...columns).sort(DIVIDEND_KEY);
  const { merged, refused } = await mergeListings(lake, 'dividends', existing, pending, parseDividends, { date: 'ex_dividend_date', key: DIVIDEND_KEY });
  const amounts = ['ticker', 'ex_dividend_date', 'dividend_type', 'cash_amount'];
  const added = rowsOnlyIn(merged.select(...amounts), existing.select(...amounts));
  const withdrawn = existing.join(merged, { on: DIVIDEND_KEY, how: 'anti' });
  const fetches = { ...meta.fetches };
  for (const f of pending) fetches[f.session] = f.fetchId;
  const unchanged = head !== null && merged.height === existing.height && merged.frameEqual(existing, true);
  const files = unchanged ? [] : await lake.writeFiles('dividends', merged);
  const changedTickers = [...new Set([...(added.getColumn('ticker').toArray() as string[]), ...(withdrawn.getColumn('ticker').toArray() as string[])])].sort();
  const commit = await lake.commit('dividends', {
    parent: head?.version ?? 0,
    files,
    removed: unchanged ? [] : (head?.files ?? []).map((f) => f.path),
    runId: options.runId,
    meta: { fetches, changedTickers },
    ...(options.now ? { now: options.now } : {}),
  });
  return { commit, head, added: added.height, withdrawn: withdrawn.height, refused };
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

/** The newest raw fetch of a kind, or undefined. */
function newestFetch(fetches: readonly RawFetch[]): RawFetch | undefined {
  return fetches.reduce<RawFetch | undefined>((a, f) => (!a || f.fetchId > a.fetchId ? f : a), undefined);
}

/**
 * `ticker_history` from the raw ticker-change events and the newest ticker
 * snapshot (LAKE.md, "Identity"). The events a version was built from are
 * its `events` rows, so only new events fetches are read: a composite FIGI's
 * newest listing replaces its earlier one whole. Rebuilt (it is small) when
 * either input is new; committed only when the table changes.
 */
async function consolidateTickerHistory(lake: Lake, options: ConsolidateLakeOptions): Promise<{ commit: Commit | null; head: Commit | null; rows: number | null }> {
  const head = await lake.head('ticker_history');
  const meta = refMeta(head);
  const recordedSnapshot = (head?.meta['snapshot'] as string | undefined) ?? null;
  const pending = newFetches(await lake.raw.latestBySession('ticker_events'), meta.fetches).sort((a, b) => (a.fetchId < b.fetchId ? -1 : 1));
  const snapshotFetch = newestFetch(await lake.raw.list('tickers'));
  if (pending.length === 0 && (snapshotFetch?.fetchId ?? null) === recordedSnapshot) return { commit: null, head, rows: null };
  const existing = head ? await lake.read('ticker_history', { version: head.version }) : emptyFrame(TICKER_HISTORY_SCHEMA);
  const fresh = await pMap(pending, async (f) => parseTickerEvents(await lake.raw.read(f)), { concurrency: RAW_READ_CONCURRENCY });
  // Later fetches replace earlier ones per FIGI; the table's own events rows are the oldest source.
  let events = existing
    .filter(pl.col('source').eq(pl.lit('events')))
    .select(pl.col('security_id').alias('composite_figi'), pl.col('name'), pl.col('ticker'), pl.col('from_date').alias('date'));
  for (const batch of fresh) {
    if (batch.height === 0) continue;
    const figis = [...new Set(batch.getColumn('composite_figi').toArray() as string[])];
    events = pl.concat([events.filter(pl.col('composite_figi').isIn(figis).not()), batch.select('composite_figi', 'name', 'ticker', 'date')], { how: 'vertical' });
  }
  const snapshot = snapshotFetch ? parseTickers(await lake.raw.read(snapshotFetch)) : null;
  const history = buildTickerHistory(events, snapshot);
  const fetches = { ...meta.fetches };
  for (const f of pending) fetches[f.session] = f.fetchId;
  const unchanged = head !== null && history.height === existing.height && history.frameEqual(existing, true);
  const files = unchanged ? [] : await lake.writeFiles('ticker_history', history);
  const commit = await lake.commit('ticker_history', {
    parent: head?.version ?? 0,
    files,
    removed: unchanged ? [] : (head?.files ?? []).map((f) => f.path),
    runId: options.runId,
    meta: { fetches, snapshot: snapshotFetch?.fetchId ?? null },
    ...(options.now ? { now: options.now } : {}),
  });
  return { commit, head, rows: history.height };
}

/**
 * Consolidates raw fetches not consolidated yet into `ohlcv_1d` (validation,
 * quarantine, quality gate, latest fetch of a session wins whole), and the raw
 * splits, dividends and ticker snapshots into `splits`, `dividends` and
 * `tickers`. Rewrites only the
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
  // The daily rows are gated before anything is written: a DataQualityError leaves the lake as it was.
  let prepared: PreparedDaily | null = await prepareDaily(lake, options);
  // Reference datasets first: a resample that sees the new daily rows also sees their splits.
  const splits = await withRetries(attempts, () => consolidateSplits(lake, options));
  const dividends = await withRetries(attempts, () => consolidateDividends(lake, options));
  const tickers = await withRetries(attempts, () => consolidateTickers(lake, options));
  const history = await withRetries(attempts, () => consolidateTickerHistory(lake, options));
  const daily = await withRetries(attempts, async () => {
    // The first attempt commits what was gated above; after a conflict, the new head is merged again.
    const ready = prepared ?? (await prepareDaily(lake, options));
    prepared = null;
    return commitDaily(lake, ready, options);
  });
  const version = (r: { commit: Commit | null; head: Commit | null }) => ({
    version: r.commit?.version ?? r.head?.version ?? null,
    committed: r.commit !== null,
  });
  const committed = daily.commit !== null || splits.commit !== null || dividends.commit !== null || tickers.commit !== null || history.commit !== null;
  let gcDeleted = 0;
  if (options.gcGraceMs !== false) {
    const gc = await lake.gc({ graceMs: options.gcGraceMs ?? DEFAULT_GC_GRACE_MS, datasets: ['splits', 'dividends', 'tickers', 'ticker_history', 'ohlcv_1d'], ...(options.now ? { now: options.now } : {}) });
    gcDeleted = gc.deleted.length;
  }
  return {
    runId: options.runId,
    status: committed ? 'committed' : 'no-change',
    sessions: daily.sessions,
    skippedSessions: daily.skipped,
    rows: daily.rows,
    partitionsWritten: daily.partitions,
    quarantineFiles: daily.quarantineFiles,
    splitsAdded: splits.added,
    splitsWithdrawn: splits.withdrawn,
    dividendsAdded: dividends.added,
    dividendsWithdrawn: dividends.withdrawn,
    withdrawalsRefused: [...splits.refused, ...dividends.refused],
    tickersRows: tickers.rows,
    tickerHistoryRows: history.rows,
    versions: {
      ohlcv_1d: version(daily),
      splits: version(splits),
      dividends: version(dividends),
      tickers: version(tickers),
      ticker_history: version(history),
    },
    latestSession: dailyMeta(daily.commit ?? daily.head).latestSession,
    gcDeleted,
  };
}
