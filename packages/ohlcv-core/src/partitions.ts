/**
 * Ticker partitions (DESIGN §6, LAKE.md "Partitions"): when one resample job
 * no longer fits, the bar datasets are built by P workers, each over the
 * tickers whose stable hash falls in its partition, and one fan-in commit
 * publishes every partition's files as one version.
 *
 * - `tickerPartition` is FNV-1a (32 bit) of the ticker's UTF-8 bytes,
 *   finished with MurmurHash3's fmix32, and the range of that hash space cut
 *   in P equal parts it falls in: stable across processes, machines, Node and Polars versions (Polars'
 *   own `hash` is not: its seed and algorithm may change between releases),
 *   so a ticker always lands in the same partition, and a split or a
 *   correction touches one partition.
 * - A worker (`resampleLake` with `partition`) writes its files and a small
 *   staging manifest, never a commit: `_staging/<dataset>/<stage>/<i>.json`,
 *   where `<stage>` names what the work was computed from (the bar head, the
 *   `ohlcv_1d` and `splits` versions, P). A re-run finds the manifests of the
 *   same stage and redoes only the partitions that are missing.
 * - Polars-free (`@fibbars/ohlcv-core/partitions`), so CLIs can check a
 *   partition flag before the native module loads.
 * - The fan-in (`commitPartitions`) publishes one version listing every
 *   partition's files with the same create-only commit as always, or nothing
 *   when a partition has not staged its work.
 */
import { ConfigError } from './errors.js';
import type { CommitFile } from './lake.js';

/** Digits of a version in key names, as in `_commits/` (lake.ts `VERSION_DIGITS`; this module loads without Polars). */
const VERSION_DIGITS = 20;

/** The largest partition count accepted: far beyond one Distributed Map's useful width for daily bars. */
export const MAX_PARTITIONS = 1024;

/** Partition `index` of `count` (0 <= index < count). */
export interface TickerPartitionSpec {
  index: number;
  count: number;
}

function checkCount(count: number, what: string): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_PARTITIONS) {
    throw new ConfigError(`${what}: the partition count must be a whole number from 1 to ${MAX_PARTITIONS}, got ${String(count)}`);
  }
}

/** Checks a partition count (CLI flags, CDK settings). */
export function checkPartitionCount(count: number, what = 'partitions'): number {
  checkCount(count, what);
  return count;
}

/**
 * Parses `i/P` (e.g. `0/4`): partition i of P, counted from 0.
 *
 * @example
 * parsePartition('3/4'); // { index: 3, count: 4 }
 */
export function parsePartition(text: string): TickerPartitionSpec {
  const m = /^(\d+)\/(\d+)$/.exec(String(text).trim());
  if (!m) throw new ConfigError(`partition ${JSON.stringify(text)} is not i/P (for example 0/4: the first of four partitions)`);
  return checkPartition({ index: Number(m[1]), count: Number(m[2]) }, `partition ${text}`);
}

/** Checks a partition spec (a whole count from 1 to MAX_PARTITIONS, an index below it); `ConfigError` naming `what`. */
export function checkPartition(spec: TickerPartitionSpec, what = `partition ${String(spec?.index)}/${String(spec?.count)}`): TickerPartitionSpec {
  checkCount(spec?.count, what);
  if (!Number.isInteger(spec.index) || spec.index < 0 || spec.index >= spec.count) {
    throw new ConfigError(`${what}: the index counts from 0 and must be below ${spec.count}`);
  }
  return spec;
}

const utf8 = new TextEncoder();

/**
 * The partition of a ticker: which of `count` equal ranges of the 32-bit
 * hash space its hash (FNV-1a, then fmix32) falls in. Stable by construction (no seed, no
 * library version in it).
 *
 * @example
 * tickerPartition('AAPL', 4); // always the same number in 0..3
 */
export function tickerPartition(ticker: string, count: number): number {
  // The hash space cut into P equal ranges (not hash mod P): for every P a partition is one
  // contiguous range of hash values, so daily files sorted by the hash would let a worker skip
  // other partitions' row groups by their statistics, whatever P is (LAKE.md, "Partitions").
  // FNV-1a's high bits barely mix on short keys ('R00'..'R39' fell in two quarters of four),
  // so the hash is finished with MurmurHash3's fmix32 before it is cut into ranges.
  return count === 1 ? 0 : Math.floor((fmix32(fnv1a32(ticker)) * count) / 2 ** 32);
}

/** MurmurHash3's 32-bit finalizer: every input bit reaches every output bit (fmix32(1) = 0x514e28b7). */
export function fmix32(hash: number): number {
  let h = hash >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a, 32 bits, of a string's UTF-8 bytes (http://www.isthe.com/chongo/tech/comp/fnv/). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of utf8.encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** What a partition's work was computed from: the staging folder's name. */
export interface StageBasis {
  dataset: string;
  /** The bar head the work replaces (0: none). */
  parent: number;
  dailyVersion: number;
  splitsVersion: number;
  count: number;
}

const pad = (n: number): string => String(n).padStart(VERSION_DIGITS, '0');

/** `_staging/<dataset>/<parent>-d<daily>-s<splits>-p<P>/`: one folder per basis. */
export function stagePrefix(basis: StageBasis): string {
  return `_staging/${basis.dataset}/${pad(basis.parent)}-d${basis.dailyVersion}-s${basis.splitsVersion}-p${basis.count}/`;
}

/** The staging manifest of partition `index`. */
export function stageKey(basis: StageBasis, index: number): string {
  return `${stagePrefix(basis)}${String(index).padStart(4, '0')}.json`;
}

/** What a partition worker leaves for the fan-in commit. */
export interface StagedPartition {
  dataset: string;
  partition: number;
  count: number;
  parent: number;
  dailyVersion: number;
  splitsVersion: number;
  runId: string;
  mode: 'full' | 'incremental';
  /** Files written by this partition (each with `tickerPartition`). */
  files: CommitFile[];
  /** Parent files this partition's version drops. */
  removed: string[];
  bucketsRecomputed: number;
  tickersRecomputed: string[];
  barsWritten: number;
  /** The bar meta of the version the fan-in publishes (the same for every partition of a stage). */
  meta: Record<string, unknown>;
  stagedAt: string;
}

/** Parses a staging manifest, naming the key when it is not one. */
export function parseStaged(key: string, body: Buffer | string): StagedPartition {
  let value: unknown;
  try {
    value = JSON.parse(String(body));
  } catch (error) {
    throw new ConfigError(`${key} is not JSON: a staging manifest was damaged; delete it and re-run its partition`, { cause: error });
  }
  const v = value as Partial<StagedPartition>;
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.dataset !== 'string' ||
    !Number.isInteger(v.partition) ||
    !Number.isInteger(v.count) ||
    !Array.isArray(v.files) ||
    !Array.isArray(v.removed) ||
    typeof v.meta !== 'object' ||
    (v.mode !== 'full' && v.mode !== 'incremental')
  ) {
    throw new ConfigError(`${key} is not a staging manifest (dataset, partition, count, mode, files, removed); delete it and re-run its partition`);
  }
  return v as StagedPartition;
}
