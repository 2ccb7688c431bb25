/**
 * The lake: Parquet datasets on an ObjectStore, published by an append-only
 * commit log (DESIGN §3.2). Data files get unique names and are never
 * rewritten; a dataset version is the JSON file
 * `_commits/<dataset>/<20-digit version>.json` listing every live file, created
 * create-only. Readers read exactly the files of one version, so a crashed
 * writer leaves the last good version readable.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pl from 'nodejs-polars';
import pMap from 'p-map';
import type { DataFrame, Expr, LazyDataFrame } from 'nodejs-polars';
import { CommitConflictError, ConfigError } from './errors.js';
import { epochDayToIso, isoToEpochDay } from './dates.js';
import { once } from './memo.js';
import { adjustForSplits, rebaseBars, splitFactorTable } from './resample.js';
import { applyDividendFactors, dividendFactorFrame, parseAdjust, totalReturnBars, type Adjust } from './adjust.js';
import { BAR_SCHEMA, DIVIDENDS_SCHEMA, QUARANTINE_SCHEMA, SILVER_DAILY_SCHEMA, SPLITS_SCHEMA, TICKERS_SCHEMA, TICKER_HISTORY_SCHEMA, emptyFrame, type Schema } from './schemas.js';
import type { Identity } from './identity.js';
import { assertSecurityDataset, readBySecurity } from './security-read.js';
import { ObjectNotFoundError, parseLakeUri, type ObjectStore } from './object-store.js';
import { openStore, type OpenStoreOptions } from './open-store.js';
import { RawZone, assertSession } from './raw-zone.js';
import { RunStore } from './run-store.js';

// ---------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------

/** `ohlcv_1d`, `ohlcv_{N}d` (N >= 2), `splits`, `dividends`, `tickers` or `ticker_history`. */
export type Dataset = 'ohlcv_1d' | 'splits' | 'dividends' | 'tickers' | 'ticker_history' | `ohlcv_${number}d`;

interface DatasetSpec {
  schema: Schema;
  /** Columns giving each row's date span, for pruning and `from`/`to`; none for tickers. */
  span: readonly [string, string] | null;
  /** Year partitions by the year of `span[0]`. */
  partitioned: boolean;
}

/** Name of the bar dataset of `days` sessions (`1` is the daily history). */
export function barDataset(days: number): Dataset {
  if (!Number.isInteger(days) || days < 1) throw new ConfigError(`interval ${String(days)} is not a positive whole number of sessions`);
  return `ohlcv_${days}d`;
}

/** The session count of a bar dataset name, or undefined. */
export function datasetDays(dataset: string): number | undefined {
  const m = /^ohlcv_([1-9]\d{0,3})d$/.exec(dataset);
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether `name` is a dataset name the lake knows: `ohlcv_1d`, `ohlcv_<N>d`
 * (N from 2 to 9999), `splits`, `dividends`, `tickers` or `ticker_history`. Narrows a string (say, from a
 * listing or a user) to the type `read` and `scan` take.
 */
export function isDataset(name: string): name is Dataset {
  try {
    datasetSpec(name);
    return true;
  } catch {
    return false;
  }
}

export function datasetSpec(dataset: string): DatasetSpec {
  if (dataset === 'ohlcv_1d') return { schema: SILVER_DAILY_SCHEMA, span: ['date', 'date'], partitioned: true };
  if (dataset === 'splits') return { schema: SPLITS_SCHEMA, span: ['execution_date', 'execution_date'], partitioned: false };
  if (dataset === 'dividends') return { schema: DIVIDENDS_SCHEMA, span: ['ex_dividend_date', 'ex_dividend_date'], partitioned: false };
  if (dataset === 'tickers') return { schema: TICKERS_SCHEMA, span: null, partitioned: false };
  if (dataset === 'ticker_history') return { schema: TICKER_HISTORY_SCHEMA, span: null, partitioned: false };
  const days = datasetDays(dataset);
  if (days !== undefined && days >= 2) return { schema: BAR_SCHEMA, span: ['start_date', 'end_date'], partitioned: true };
  throw new ConfigError(`unknown dataset ${JSON.stringify(dataset)}: use ohlcv_1d, ohlcv_<N>d, splits, dividends, tickers or ticker_history`);
}

// ---------------------------------------------------------------------------
// Commits
// ---------------------------------------------------------------------------

/** One Parquet file of a version. Dates are ISO; `partition` is e.g. `year=2024` or null. */
export interface CommitFile {
  path: string;
  rows: number;
  bytes: number;
  minDate: string | null;
  maxDate: string | null;
  partition: string | null;
  /**
   * Bar datasets: the smallest and largest `bucket` in the file, so a job
   * rewrites only the files holding the buckets it recomputes.
   */
  buckets?: [number, number] | null;
  /**
   * Bar datasets built by ticker partitions (`partitions` > 1 in the commit's
   * meta): the partition whose tickers the file holds (LAKE.md "Partitions").
   */
  tickerPartition?: number;
}

/** One version of a dataset: the whole list of its live files. */
export interface Commit {
  dataset: string;
  version: number;
  /** The version this one was built on; 0 for the first. */
  parent: number;
  runId: string;
  createdAt: string;
  files: CommitFile[];
  /** Quarantine files the dataset keeps alive (ohlcv_1d only), carried forward like `files`. */
  quarantine: CommitFile[];
  /** Free job bookkeeping (consolidated fetch ids, source version, latest session, ...). */
  meta: Record<string, unknown>;
}

export interface CommitInput {
  /** The head version the change was computed from (0 when the dataset is new). */
  parent: number;
  /** New files (already written). */
  files: CommitFile[];
  /** Paths of parent files (data or quarantine) that this version drops. */
  removed?: readonly string[];
  /** New quarantine files. */
  quarantine?: CommitFile[];
  runId: string;
  meta?: Record<string, unknown>;
  /** Creation time (tests); defaults to now. */
  now?: Date;
}

export const VERSION_DIGITS = 20;

export function commitKey(dataset: string, version: number): string {
  return `_commits/${dataset}/${String(version).padStart(VERSION_DIGITS, '0')}.json`;
}

// ---------------------------------------------------------------------------
// Reading options and gc
// ---------------------------------------------------------------------------

export interface ReadOptions {
  tickers?: readonly string[];
  /** Inclusive ISO dates; rows (or bars) overlapping `[from, to]` are returned. */
  from?: string;
  to?: string;
  /** A retained version; defaults to the head. */
  version?: number;
  /**
   * Price adjustment (LAKE.md, "Dividends and total return"): `splits`
   * (the default for bar datasets), `total-return` (splits and cash
   * dividends), or `none` (as stored; the default for `ohlcv_1d`, which is
   * stored as received). Other datasets take only `none`.
   */
  adjust?: Adjust;
  /**
   * `ticker` (default): rows keyed by the symbol they traded as, as stored.
   * `security`: keyed by security across symbol changes (LAKE.md,
   * "Identity"): `tickers` name securities by any symbol they had as of
   * `asOf`, rows gain `security_id`, and bars are computed at read time so a
   * bar spanning a symbol change is whole. `ohlcv_1d` and bar datasets only.
   */
  identity?: Identity;
  /** With `identity: 'security'`: the date (YYYY-MM-DD) as of which `tickers` are resolved; default the symbols in force now. */
  asOf?: string;
}

export interface GcOptions {
  /** Unreferenced files younger than this are kept (a writer may be about to commit them). */
  graceMs: number;
  /**
   * Latest versions per dataset whose files are always kept (default 1: the
   * head). Older versions stay alive only while they were superseded less
   * than `graceMs` ago (a reader may still be reading them).
   */
  keepVersions?: number;
  /** Only these datasets (default every dataset); their quarantine files go with `ohlcv_1d`. */
  datasets?: readonly string[];
  now?: Date;
  /** List what would go without deleting. */
  dryRun?: boolean;
}

export interface GcReport {
  deleted: string[];
  keptYoung: number;
  referenced: number;
}

export interface OpenLakeOptions extends OpenStoreOptions {
  /** A ready store (overrides the URI's). */
  store?: ObjectStore;
  /**
   * Folder where Parquet files of a remote (S3) lake are downloaded before
   * they are scanned; defaults to `<os tmpdir>/fibbars-cache`. Lake files are
   * immutable (unique names), so cached copies never go stale.
   */
  cacheDir?: string;
}

/** Default number of latest versions per dataset whose files `gc` always keeps: the head. */
export const DEFAULT_KEEP_VERSIONS = 1;
/**
 * Default grace period of `gc`, one hour: longer than any job or reader
 * holds a version (the Batch jobs time out sooner), shorter than the day
 * between two runs, so each daily run removes what the previous one
 * superseded (LAKE.md, "Garbage collection").
 */
export const DEFAULT_GC_GRACE_MS = 3_600_000;

/** Bar commits whose files are on their end date's split basis (LAKE.md); older ones are latest-adjusted. */
export const END_DATE_BASIS = 'end-date';

const PARQUET_OPTIONS = { compression: 'zstd', compressionLevel: 3, statistics: true, maintainOrder: true } as const;

/** The `adjust` of a read of `dataset`, checked: its default, or `ConfigError` when it does not apply. */
function adjustOf(dataset: string, value: unknown): Adjust {
  const days = datasetDays(dataset);
  if (value === undefined) return days !== undefined && days >= 2 ? 'splits' : 'none';
  const adjust = parseAdjust(value);
  if (days === undefined && adjust !== 'none') {
    throw new ConfigError(`adjust ${JSON.stringify(adjust)} applies to ohlcv_1d and bar datasets, not ${dataset}`);
  }
  return adjust;
}

/** The `identity` of a read, checked (`asOf` only means something with `security`). */
function identityOf(options: ReadOptions): Identity {
  const identity = options.identity ?? 'ticker';
  if (identity !== 'ticker' && identity !== 'security') throw new ConfigError(`identity ${JSON.stringify(identity)} is not one of ticker, security`);
  if (options.asOf !== undefined && identity !== 'security') throw new ConfigError('asOf resolves symbols to securities: use it with identity "security"');
  if (options.asOf !== undefined) assertSession(options.asOf, 'asOf');
  return identity;
}

function dateLit(iso: string): Expr {
  return pl.lit(isoToEpochDay(iso)).cast(pl.Date);
}

/**
 * `column IN values`, typed from the values (an empty JS list would be taken
 * as Float64 and fail against a string column).
 */
export function isInList(column: string, values: readonly (string | number)[]): Expr {
  if (values.length === 0) return pl.lit(false);
  return pl.col(column).isIn([...values]);
}

/** Files that can hold rows in `[from, to]` (pruning by their min/max dates). */
/**
 * The files of a read, in date order (then path): a scan of daily month
 * files then yields each ticker's rows in date order, which lets the
 * resample job order a window by ticker with a counting sort instead of a
 * string sort (`orderByTicker`).
 */
function selectFiles(files: readonly CommitFile[], options: ReadOptions): CommitFile[] {
  return files
    .filter(
      (f) =>
        f.rows > 0 &&
        (options.from === undefined || f.maxDate === null || f.maxDate >= options.from) &&
        (options.to === undefined || f.minDate === null || f.minDate <= options.to),
    )
    .sort((a, b) => (a.minDate ?? '').localeCompare(b.minDate ?? '') || a.path.localeCompare(b.path));
}

function parseCommit(dataset: string, key: string, body: Buffer): Commit {
  let value: Partial<Commit>;
  try {
    value = JSON.parse(body.toString('utf8')) as Partial<Commit>;
  } catch (cause) {
    throw new ConfigError(`commit ${key} is not valid JSON`, { cause });
  }
  if (typeof value.version !== 'number' || !Array.isArray(value.files)) {
    throw new ConfigError(`commit ${key} lacks a version or a file list`);
  }
  return {
    dataset,
    version: value.version,
    parent: value.parent ?? 0,
    runId: value.runId ?? '',
    createdAt: value.createdAt ?? '',
    files: value.files,
    quarantine: value.quarantine ?? [],
    meta: value.meta ?? {},
  };
}

/**
 * A lake opened on a folder or `s3://bucket/prefix`.
 *
 * @example
 * import { openLake } from '@fibbars/ohlcv-core';
 * const lake = openLake('./lake');
 * const daily = await lake.read('ohlcv_1d', { tickers: ['AAPL'], from: '2024-01-01' });
 * const bars = await lake.read('ohlcv_5d', { tickers: ['AAPL'] });
 * const before = await lake.read('ohlcv_1d', { version: 3 }); // time travel
 */
/**
 * Symbols are stored as the vendor spells them, upper-case (a mixed-case
 * class suffix aside): an all-lower-case or blank filter would silently
 * match nothing.
 */
function assertTickers(tickers: readonly string[] | undefined): void {
  const bad = tickers?.find((t) => typeof t !== 'string' || t.trim() !== t || t === '' || (t === t.toLowerCase() && t !== t.toUpperCase()));
  if (bad !== undefined) {
    throw new ConfigError(`ticker ${JSON.stringify(bad)} would match nothing: symbols are stored upper-case without spaces, e.g. ${JSON.stringify(String(bad).trim().toUpperCase() || 'AAPL')}`);
  }
}

export class Lake {
  readonly raw: RawZone;
  readonly runs: RunStore;

  private readonly cacheDir: string;

  constructor(
    readonly store: ObjectStore,
    options: { cacheDir?: string } = {},
  ) {
    this.cacheDir = options.cacheDir ?? path.join(tmpdir(), 'fibbars-cache');
    this.raw = new RawZone(store);
    this.runs = new RunStore(store);
  }

  get uri(): string {
    return this.store.uri;
  }

  /** Datasets that have at least one version. */
  async datasets(): Promise<Dataset[]> {
    if (this.store.listChildren) {
      // One listing of the dataset folders, not of every commit record ever written.
      const names = (await this.store.listChildren('_commits/')).filter(isDataset);
      const present = await Promise.all(names.map(async (n) => (await this.versions(n)).length > 0));
      return names.filter((_, i) => present[i]);
    }
    const names = new Set<Dataset>();
    for (const { key } of await this.store.list('_commits/')) {
      const m = /^_commits\/([^/]+)\/\d{20}\.json$/.exec(key);
      if (m?.[1] && isDataset(m[1])) names.add(m[1]);
    }
    return [...names].sort();
  }

  private async versions(dataset: string): Promise<number[]> {
    datasetSpec(dataset);
    const out: number[] = [];
    for (const { key } of await this.store.list(`_commits/${dataset}/`)) {
      const m = /\/(\d{20})\.json$/.exec(key);
      if (m?.[1]) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  /** The commit of one version; `ConfigError` if it does not exist. */
  async commitAt(dataset: string, version: number): Promise<Commit> {
    datasetSpec(dataset);
    const key = commitKey(dataset, version);
    try {
      return parseCommit(dataset, key, await this.store.get(key));
    } catch (error) {
      if (error instanceof ObjectNotFoundError) throw new ConfigError(`${dataset} has no version ${version}`, { cause: error });
      throw error;
    }
  }

  /** The latest version, or null when the dataset has none. */
  async head(dataset: string): Promise<Commit | null> {
    const versions = await this.versions(dataset);
    const last = versions.at(-1);
    return last === undefined ? null : this.commitAt(dataset, last);
  }

  /** Every version, oldest first. */
  async history(dataset: string): Promise<Commit[]> {
    const versions = await this.versions(dataset);
    return Promise.all(versions.map((v) => this.commitAt(dataset, v)));
  }

  /** Commits after `afterVersion` (exclusive), oldest first. */
  async commitsSince(dataset: string, afterVersion: number): Promise<Commit[]> {
    const versions = (await this.versions(dataset)).filter((v) => v > afterVersion);
    return Promise.all(versions.map((v) => this.commitAt(dataset, v)));
  }

  /**
   * Reads a dataset version (the head by default): only the files of that
   * version whose date range can overlap `[from, to]`, filtered to `tickers`.
   * An empty dataset reads as an empty frame with the dataset's schema.
   */
  async read(dataset: Dataset, options: ReadOptions = {}): Promise<DataFrame> {
    const spec = datasetSpec(dataset);
    if (options.from !== undefined) assertSession(options.from, 'from');
    if (options.to !== undefined) assertSession(options.to, 'to');
    assertTickers(options.tickers);
    const adjust = adjustOf(dataset, options.adjust);
    if (identityOf(options) === 'security') {
      const days = datasetDays(dataset);
      assertSecurityDataset(dataset, days);
      return readBySecurity(this, dataset, options, days, adjust);
    }
    const commit = options.version === undefined ? await this.head(dataset) : await this.commitAt(dataset, options.version);
    if (!commit) {
      await this.assertReadable(dataset);
      return emptyFrame(spec.schema);
    }
    if (dataset === 'ohlcv_1d' && adjust !== 'none') return this.adjustedDaily(commit, options, adjust);
    const df = await this.readFiles(spec, selectFiles(commit.files, options), options, `${dataset} version ${commit.version}`);
    if (adjust === 'none' || datasetDays(dataset) === undefined) return df;
    const splits = await this.barSplits(commit, options);
    const bars = splits ? (await rebaseBars(df.lazy(), splits, 'latest').collect()).sort(['ticker', 'start_date']) : df;
    return adjust === 'total-return' ? this.totalReturn(commit, bars, options) : bars;
  }

  /**
   * `ohlcv_1d` adjusted for splits (the `splits` head), and for dividends
   * (the `dividends` head) with `total-return`. The rows after `to` are read
   * too: a dividend going ex after `to` still scales the rows before it.
   */
  private async adjustedDaily(commit: Commit, options: ReadOptions, adjust: Adjust): Promise<DataFrame> {
    const { to, ...open } = options;
    const files = selectFiles(commit.files, adjust === 'total-return' ? open : options);
    const rows = await this.readFiles(datasetSpec('ohlcv_1d'), files, adjust === 'total-return' ? open : options, `ohlcv_1d version ${commit.version}`);
    const tickers = options.tickers !== undefined ? { tickers: options.tickers } : {};
    const splits = await this.read('splits', tickers);
    const split = splits.height > 0 ? adjustForSplits(rows, splits) : rows;
    if (adjust === 'splits') return split;
    const dividends = await this.read('dividends', tickers);
    const factors = dividendFactorFrame(split, dividends, splits.height > 0 ? splitFactorTable(splits) : null);
    const out = applyDividendFactors(split.lazy(), factors).collectSync();
    return to === undefined ? out : out.filter(pl.col('date').ltEq(dateLit(to)));
  }

  /**
   * Total-return bars: split-adjusted `bars` whose tickers have a dividend
   * applied get open, high, low, close and vwap again from the total-return
   * daily rows inside each bar (the `ohlcv_1d` version the bars were built
   * from while it is retained, else the head; the bars' splits version).
   */
  private async totalReturn(commit: Commit, bars: DataFrame, options: ReadOptions): Promise<DataFrame> {
    const dividends = await this.read('dividends', options.tickers !== undefined ? { tickers: options.tickers } : {});
    if (bars.height === 0 || dividends.height === 0) return bars;
    const payers = [...new Set(dividends.getColumn('ticker').toArray() as string[])].filter((t) => t !== null);
    const held = new Set(bars.getColumn('ticker').toArray() as string[]);
    const tickers = payers.filter((t) => held.has(t)).sort();
    if (tickers.length === 0) return bars;
    const from = String(bars.select(pl.col('start_date').min().cast(pl.Utf8)).row(0)[0]);
    const source = Number(commit.meta['sourceVersion'] ?? 0);
    const daily = (source > 0 ? await this.commitAt('ohlcv_1d', source).catch(() => null) : null) ?? (await this.head('ohlcv_1d'));
    if (!daily) return bars;
    const read = { tickers, from };
    const rows = await this.readFiles(datasetSpec('ohlcv_1d'), selectFiles(daily.files, read), read, `ohlcv_1d version ${daily.version}`);
    const splits = (await this.barSplits(commit, { tickers })) ?? emptyFrame(SPLITS_SCHEMA);
    const split = splits.height > 0 ? adjustForSplits(rows, splits) : rows;
    const factors = dividendFactorFrame(split, dividends, splits.height > 0 ? splitFactorTable(splits) : null);
    if (factors.height === 0) return bars;
    const adjusted = applyDividendFactors(split.lazy(), factors).collectSync();
    return totalReturnBars(bars, adjusted, new Set(factors.getColumn('ticker').toArray() as string[]));
  }

  /**
   * The splits a bar version is adjusted with at read time: the `splits`
   * version recorded in its commit, when its files are on their end date's
   * split basis (LAKE.md); null when nothing needs adjusting.
   */
  private async barSplits(commit: Commit, options: ReadOptions): Promise<DataFrame | null> {
    if (commit.meta['basis'] !== END_DATE_BASIS) return null;
    const version = Number(commit.meta['splitsVersion'] ?? 0);
    if (!(version > 0)) return null;
    const splits = await this.commitAt('splits', version);
    const tickers = options.tickers !== undefined ? { tickers: options.tickers } : {};
    const df = await this.readFiles(datasetSpec('splits'), splits.files, tickers, `splits version ${version}`);
    return df.height === 0 ? null : df;
  }

  /**
   * Why a dataset without a version may not read as an empty frame: a folder
   * lake whose folder does not exist (a mistyped path), or a bar interval the
   * lake does not hold while it holds others (e.g. `ohlcv_7d`). An empty
   * lake, and `splits` / `tickers` before their first fetch, read as empty.
   */
  private async assertReadable(dataset: string): Promise<void> {
    const location = parseLakeUri(this.store.uri);
    if (location.kind === 'file') {
      const stat = await fs.stat(location.root).catch(() => null);
      if (!stat?.isDirectory()) {
        throw new ConfigError(`no lake at ${location.root}: the folder does not exist; check the path, or create the lake with a first run`);
      }
    }
    if (datasetDays(dataset) === undefined || dataset === 'ohlcv_1d') return;
    const held = (await this.datasets()).sort((a, b) => (datasetDays(a) ?? 1e9) - (datasetDays(b) ?? 1e9) || (a < b ? -1 : a > b ? 1 : 0));
    if (held.some((d) => datasetDays(d) !== undefined)) {
      throw new ConfigError(`unknown dataset ${dataset}: this lake has no version of it; it holds ${held.join(', ')}`);
    }
  }

  /** Quarantined rows (with `reason`) kept by the head of `ohlcv_1d`, optionally for sessions in `[from, to]`. */
  async readQuarantine(options: Omit<ReadOptions, 'tickers'> & { tickers?: readonly string[] } = {}): Promise<DataFrame> {
    const commit = options.version === undefined ? await this.head('ohlcv_1d') : await this.commitAt('ohlcv_1d', options.version);
    const spec: DatasetSpec = { schema: QUARANTINE_SCHEMA, span: ['date', 'date'], partitioned: false };
    if (!commit) return emptyFrame(QUARANTINE_SCHEMA);
    return this.readFiles(spec, selectFiles(commit.quarantine, options), options, `quarantine of ohlcv_1d version ${commit.version}`);
  }

  /**
   * Reads the given files of a dataset (e.g. one partition of a commit), with
   * the same filters as `read`; for jobs that rewrite partitions.
   */
  async readCommitFiles(dataset: string, files: readonly CommitFile[], options: Omit<ReadOptions, 'version'> = {}): Promise<DataFrame> {
    return this.readFiles(datasetSpec(dataset), files, options, dataset);
  }

  /**
   * A lazy scan of a dataset version (the head by default) with the filters
   * of `read` pushed down, unsorted: for jobs that aggregate large datasets
   * without materialising them first. Folder lakes scan the Parquet files in
   * place; S3 lakes download the selected files first.
   *
   * @example
   * const lf = await lake.scan('ohlcv_1d', { from: '2024-01-01' });
   * const counts = await lf.groupBy('date').len().collect();
   */
  async scan(dataset: Dataset, options: ReadOptions = {}): Promise<LazyDataFrame> {
    const spec = datasetSpec(dataset);
    if (options.from !== undefined) assertSession(options.from, 'from');
    if (options.to !== undefined) assertSession(options.to, 'to');
    assertTickers(options.tickers);
    const adjust = adjustOf(dataset, options.adjust);
    // Total return, split-adjusted daily rows and security keys need whole rows: read, then hand back a lazy frame.
    if (adjust === 'total-return' || (dataset === 'ohlcv_1d' && adjust === 'splits') || identityOf(options) === 'security') return (await this.read(dataset, options)).lazy();
    const commit = options.version === undefined ? await this.head(dataset) : await this.commitAt(dataset, options.version);
    if (!commit) await this.assertReadable(dataset);
    const files = commit ? selectFiles(commit.files, options) : [];
    const lf = await this.scanFiles(spec, files, options, `${dataset} version ${commit?.version ?? 0}`);
    const splits = commit && adjust !== 'none' ? await this.barSplits(commit, options) : null;
    return splits ? rebaseBars(lf.sort(['ticker', 'end_date']), splits, 'latest') : lf;
  }

  private async readFiles(spec: DatasetSpec, files: readonly CommitFile[], options: ReadOptions, what: string): Promise<DataFrame> {
    const lf = await this.scanFiles(spec, files, options, what);
    const sortBy = spec.span ? ['ticker', spec.span[0]] : ['ticker'];
    return (await lf.collect()).sort(sortBy);
  }

  private async scanFiles(spec: DatasetSpec, files: readonly CommitFile[], options: ReadOptions, what: string): Promise<LazyDataFrame> {
    const frames: LazyDataFrame[] = [];
    for (const file of files) {
      try {
        frames.push(await this.scanParquetFile(file.path));
      } catch (error) {
        if (error instanceof ObjectNotFoundError || (error as { code?: string }).code === 'ENOENT') {
          throw new ConfigError(`${what} references ${file.path}, which is gone (version no longer retained?)`, { cause: error });
        }
        throw error;
      }
    }
    let lf = frames.length === 0 ? emptyFrame(spec.schema).lazy() : frames.length === 1 ? frames[0]! : pl.concat(frames, { how: 'vertical' });
    if (options.tickers !== undefined) lf = lf.filter(isInList('ticker', options.tickers));
    if (spec.span && options.from !== undefined) lf = lf.filter(pl.col(spec.span[1]).gtEq(dateLit(options.from)));
    if (spec.span && options.to !== undefined) lf = lf.filter(pl.col(spec.span[0]).ltEq(dateLit(options.to)));
    return lf;
  }

  /**
   * A lazy scan of one lake file, through the store's local file: a folder
   * lake's own file, a remote lake's copy in the cache folder (downloaded
   * once; lake files are immutable).
   */
  private async scanParquetFile(key: string): Promise<LazyDataFrame> {
    return pl.scanParquet(await this.store.localFile(key, this.cacheDir));
  }

  /**
   * Writes `df` as new Parquet files of `dataset` (one per year partition for
   * partitioned datasets) under unique names and returns their descriptions
   * for `commit`. Nothing is visible to readers until committed.
   */
  async writeFiles(dataset: string, df: DataFrame, options: { blockBuckets?: number; monthly?: boolean } = {}): Promise<CommitFile[]> {
    const spec = datasetSpec(dataset);
    if (df.height === 0) return [];
    if (!spec.partitioned || !spec.span) {
      return [await this.writeOne(`silver/${dataset}`, null, df, spec.span)];
    }
    const [startCol] = spec.span;
    const block = options.blockBuckets;
    if (block !== undefined && !(Number.isInteger(block) && block >= 1)) throw new ConfigError(`blockBuckets must be a whole number >= 1, got ${String(block)}`);
    // One pass splits the frame by year, and by block of buckets when asked
    // (keeping row order within each part).
    // Within a year: blocks of buckets (bars) or months (daily rows), when asked.
    const sub = once(`file-keys:${startCol}:${String(block)}:${String(options.monthly)}`, () =>
      block !== undefined
        ? [pl.col('bucket').cast(pl.Float64).div(block).floor().cast(pl.Int64).alias('__block')]
        : options.monthly
          ? [pl.col(startCol).dt.month().cast(pl.Int64).alias('__block')]
          : [],
    );
    const keys = sub.length === 0 ? ['__year'] : ['__year', '__block'];
    const withKeys = df.withColumns(once(`file-year:${startCol}`, () => pl.col(startCol).dt.year().alias('__year')), ...sub);
    const parts = withKeys
      .partitionBy(keys, true, true)
      .map((part) => {
        const year = part.getColumn('__year').get(0) as number | null;
        if (year === null) throw new ConfigError(`${dataset} rows without a ${startCol} cannot be partitioned`);
        const blockNo = sub.length === 0 ? 0 : Number(part.getColumn('__block').get(0));
        return { year, blockNo, part: part.drop(keys) };
      })
      .sort((a, b) => a.year - b.year || a.blockNo - b.blockNo);
    // Two parts in flight: a part's write is a few tens of milliseconds of
    // fixed cost (stats, sink, rename), which a daily block layout pays a dozen times per interval.
    return pMap(parts, ({ year, part }) => this.writeOne(`silver/${dataset}/year=${year}`, `year=${year}`, part, spec.span), { concurrency: 2 });
  }

  /** Writes one session's quarantined rows (`QUARANTINE_SCHEMA`, with `reason`). */
  async writeQuarantine(session: string, df: DataFrame): Promise<CommitFile | null> {
    assertSession(session);
    if (df.height === 0) return null;
    return this.writeOne(`quarantine/ohlcv/date=${session}`, `date=${session}`, df, ['date', 'date']);
  }

  private async writeOne(dir: string, partition: string | null, df: DataFrame, span: readonly [string, string] | null): Promise<CommitFile> {
    const key = `${dir}/part-${randomUUID()}.parquet`;
    let minDate: string | null = null;
    let maxDate: string | null = null;
    let buckets: [number, number] | null = null;
    // The file's date span and bucket range, in one query.
    const hasBuckets = df.columns.includes('bucket');
    if (span || hasBuckets) {
      // Memoised expressions and one query: about 0.3 ms a file, where Series
      // reductions would build eight Series objects of about a millisecond each.
      const exprs = once(`file-stats:${span?.join(',') ?? ''}:${String(hasBuckets)}`, () => [
        ...(span ? [pl.col(span[0]).cast(pl.Int32).min().alias('lo'), pl.col(span[1]).cast(pl.Int32).max().alias('hi')] : []),
        ...(hasBuckets ? [pl.col('bucket').cast(pl.Float64).min().alias('blo'), pl.col('bucket').cast(pl.Float64).max().alias('bhi')] : []),
      ]);
      const stats = df.select(...exprs).toRecords()[0]!;
      if (span) {
        minDate = stats['lo'] === null ? null : epochDayToIso(stats['lo'] as number);
        maxDate = stats['hi'] === null ? null : epochDayToIso(stats['hi'] as number);
      }
      if (hasBuckets && stats['blo'] !== null && stats['bhi'] !== null) buckets = [Number(stats['blo']), Number(stats['bhi'])];
    }
    // The name is unique and uncommitted, so a half-written file is never referenced.
    const bytes = await this.store.putFile(key, async (file) => {
      await df.lazy().sinkParquet(file, PARQUET_OPTIONS).collect();
    });
    return { path: key, rows: df.height, bytes, minDate, maxDate, partition, ...(buckets ? { buckets } : {}) };
  }

  /**
   * Publishes version `parent + 1` of `dataset`: the parent's files minus
   * `removed`, plus `files`. Create-only: throws `CommitConflictError` when that
   * version exists already (another writer won; re-read the head and redo the
   * change, or give up).
   */
  async commit(dataset: string, input: CommitInput): Promise<Commit> {
    datasetSpec(dataset);
    if (!Number.isInteger(input.parent) || input.parent < 0) throw new ConfigError(`commit parent ${String(input.parent)} is not a version`);
    const parent = input.parent === 0 ? null : await this.commitAt(dataset, input.parent);
    const removed = new Set(input.removed ?? []);
    const keep = (files: CommitFile[]): CommitFile[] => files.filter((f) => !removed.has(f.path));
    const files = [...keep(parent?.files ?? []), ...input.files];
    const quarantine = [...keep(parent?.quarantine ?? []), ...(input.quarantine ?? [])];
    const byPartition = (a: CommitFile, b: CommitFile): number =>
      (a.partition ?? '').localeCompare(b.partition ?? '') || a.path.localeCompare(b.path);
    const commit: Commit = {
      dataset,
      version: input.parent + 1,
      parent: input.parent,
      runId: input.runId,
      createdAt: (input.now ?? new Date()).toISOString(),
      files: files.sort(byPartition),
      quarantine: quarantine.sort(byPartition),
      meta: input.meta ?? {},
    };
    const key = commitKey(dataset, commit.version);
    try {
      // Compact: ohlcv_1d meta carries a fetch id per session, read on every head().
      await this.store.putIfAbsent(key, `${JSON.stringify(commit)}\n`);
    } catch (error) {
      if (error instanceof CommitConflictError) {
        throw new CommitConflictError(
          `${dataset} version ${commit.version} was committed by another writer while run ${input.runId} was building it`,
          { cause: error },
        );
      }
      throw error;
    }
    return commit;
  }

  /**
   * Deletes the files of `silver/` and `quarantine/` that no live version
   * references, once they are older than `graceMs`. Live: the latest
   * `keepVersions` versions of each dataset (default 1, the head), every
   * version superseded less than `graceMs` ago (a reader may still hold it),
   * and the `splits` version each live bar version is adjusted with. Only
   * those few commits are read (walking back from the head), so the cost
   * follows the live files, not the length of the history. Commit records are
   * never deleted (they are the audit log); reading a version whose files
   * were collected fails with `ConfigError`.
   *
   * @example
   * await lake.gc({ graceMs: DEFAULT_GC_GRACE_MS });               // what every run does
   * await lake.gc({ graceMs: 0, datasets: ['ohlcv_5d'], dryRun: true });
   */
  async gc(options: GcOptions): Promise<GcReport> {
    if (!Number.isFinite(options.graceMs) || options.graceMs < 0) throw new ConfigError('gc graceMs must be a non-negative number');
    const keepVersions = options.keepVersions ?? DEFAULT_KEEP_VERSIONS;
    if (!Number.isInteger(keepVersions) || keepVersions < 1) throw new ConfigError(`gc keepVersions must be a whole number >= 1, got ${String(keepVersions)}`);
    const now = (options.now ?? new Date()).getTime();
    const all = await this.datasets();
    for (const d of options.datasets ?? []) datasetSpec(d);
    const targets = options.datasets ? all.filter((d) => options.datasets!.includes(d)) : all;
    const live = new Map<string, Commit[]>();
    const liveOf = async (dataset: string): Promise<Commit[]> => {
      let commits = live.get(dataset);
      if (!commits) {
        commits = await this.liveVersions(dataset, keepVersions, options.graceMs, now);
        live.set(dataset, commits);
      }
      return commits;
    };
    const referenced = new Set<string>();
    const pinnedSplits = new Set<number>();
    for (const dataset of targets) for (const c of await liveOf(dataset)) for (const f of [...c.files, ...c.quarantine]) referenced.add(f.path);
    if (targets.includes('splits')) {
      // Bar versions are adjusted at read time with the splits version they record.
      for (const dataset of all.filter((d) => (datasetDays(d) ?? 0) >= 2)) {
        for (const c of await liveOf(dataset)) if (typeof c.meta['splitsVersion'] === 'number' && c.meta['splitsVersion'] > 0) pinnedSplits.add(c.meta['splitsVersion']);
      }
      const kept = new Set((await liveOf('splits')).map((c) => c.version));
      for (const v of pinnedSplits) if (!kept.has(v)) for (const f of (await this.commitAt('splits', v)).files) referenced.add(f.path);
    }
    const prefixes = targets.map((d) => `silver/${d}/`);
    if (targets.includes('ohlcv_1d')) prefixes.push('quarantine/');
    const deleted: string[] = [];
    let keptYoung = 0;
    for (const prefix of prefixes) {
      for (const obj of await this.store.list(prefix)) {
        if (referenced.has(obj.key)) continue;
        if (now - obj.lastModified.getTime() < options.graceMs) {
          keptYoung += 1;
          continue;
        }
        if (!options.dryRun) await this.store.delete(obj.key);
        deleted.push(obj.key);
      }
      // Temp files of writers that died mid-write (a folder lake's; S3 uploads are atomic).
      if (!options.dryRun) deleted.push(...(await this.store.sweepTemp(prefix, new Date(now - options.graceMs))));
    }
    return { deleted, keptYoung, referenced: referenced.size };
  }

  /** The live versions of a dataset (see `gc`), newest first, reading commits back from the head only as far as needed. */
  private async liveVersions(dataset: string, keepVersions: number, graceMs: number, now: number): Promise<Commit[]> {
    const versions = await this.versions(dataset);
    const out: Commit[] = [];
    let successor: Commit | null = null;
    for (let i = versions.length - 1; i >= 0; i -= 1) {
      const young = successor !== null && (now - Date.parse(successor.createdAt) < graceMs || Number.isNaN(Date.parse(successor.createdAt)));
      if (out.length >= keepVersions && !young) break;
      const commit = await this.commitAt(dataset, versions[i]!);
      out.push(commit);
      successor = commit;
    }
    return out;
  }
}

/**
 * Opens the lake at a folder path or `s3://bucket/prefix` (S3 settings from the
 * SDK's standard environment, or pass `s3Client`).
 *
 * @example
 * const lake = openLake(process.env.FIBBARS_LAKE ?? './lake');
 * console.log(await lake.head('ohlcv_1d'));
 */
export function openLake(uri: string, options: OpenLakeOptions = {}): Lake {
  return new Lake(options.store ?? openStore(uri, options), options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {});
}
