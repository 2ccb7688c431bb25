/**
 * Comparing what a lake holds with what it should hold: rows lost and
 * duplicated by (ticker, date) key, and whole committed datasets (an
 * "export") compared value by value.
 */
import type { Dataset, Lake } from '@fibbars/ohlcv-core';

export type Row = Record<string, unknown>;
type Frame = Awaited<ReturnType<Lake['read']>>;

function plain(value: unknown): unknown {
  // Dates may come from another realm (Jest's VM): no instanceof.
  if (Object.prototype.toString.call(value) === '[object Date]') {
    const iso = (value as Date).toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  if (typeof value === 'bigint') return Number(value);
  return value;
}

/** The frame's rows with dates as ISO strings and integers as numbers. */
export function rowsOf(frame: Frame): Row[] {
  return (frame.toRecords() as Row[]).map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])));
}

const keyOf = (row: Row, key: readonly string[]) => key.map((k) => String(row[k])).join('|');

export interface Tally {
  expected: number;
  /** Expected keys the lake does not hold. */
  lost: number;
  /** Extra copies of a key (a key held twice counts 1). */
  duplicated: number;
  /** Keys the lake holds that the reference does not. */
  unexpected: number;
}

/** Counts rows lost and duplicated in `actual` against the reference `expected`, by key. */
export function tally(actual: readonly Row[], expected: readonly Row[], key: readonly string[] = ['ticker', 'date']): Tally {
  const want = new Set(expected.map((r) => keyOf(r, key)));
  const seen = new Map<string, number>();
  for (const r of actual) seen.set(keyOf(r, key), (seen.get(keyOf(r, key)) ?? 0) + 1);
  let lost = 0;
  for (const k of want) if (!seen.has(k)) lost += 1;
  let duplicated = 0;
  let unexpected = 0;
  for (const [k, n] of seen) {
    duplicated += n - 1;
    if (!want.has(k)) unexpected += 1;
  }
  return { expected: want.size, lost, duplicated, unexpected };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) && Number.isNaN(b)) return true;
    // Sums over different groupings (incremental vs full) round differently.
    return Math.abs(a - b) <= Math.abs(b) * 1e-9 + 1e-12;
  }
  return a === b || (a == null && b == null);
}

/** The first difference between two row lists (same order expected), or null. */
export function rowsDifference(actual: readonly Row[], expected: readonly Row[]): string | null {
  if (actual.length !== expected.length) return `${actual.length} rows, expected ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as Row;
    const b = expected[i] as Row;
    const columns = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const c of columns) {
      if (!sameValue(a[c], b[c])) return `row ${i} column ${c}: ${JSON.stringify(a[c])} != ${JSON.stringify(b[c])} (${JSON.stringify(a)})`;
    }
  }
  return null;
}

export type LakeExport = Record<string, Row[]>;

/** Every committed dataset at its head version plus the quarantine: what `fibbars export` can see. */
export async function exportLake(lake: Lake, datasets?: readonly Dataset[]): Promise<LakeExport> {
  const out: LakeExport = {};
  for (const d of datasets ?? (await lake.datasets())) out[d] = rowsOf(await lake.read(d));
  out['quarantine'] = rowsOf(await lake.readQuarantine()).sort((a, b) =>
    JSON.stringify([a['ticker'], a['date'], a['reason'], a['volume']]).localeCompare(JSON.stringify([b['ticker'], b['date'], b['reason'], b['volume']])),
  );
  return out;
}

/** The first difference between two exports, or null when they hold the same data. */
export function exportDifference(actual: LakeExport, expected: LakeExport): string | null {
  const names = [...new Set([...Object.keys(actual), ...Object.keys(expected)])].sort();
  for (const name of names) {
    const diff = rowsDifference(actual[name] ?? [], expected[name] ?? []);
    if (diff !== null) return `${name}: ${diff}`;
  }
  return null;
}

/** Files referenced by any committed version that are missing from the store. */
export async function missingCommittedFiles(lake: Lake): Promise<string[]> {
  const missing: string[] = [];
  for (const dataset of await lake.datasets()) {
    for (const commit of await lake.history(dataset)) {
      for (const f of [...commit.files, ...commit.quarantine]) {
        if (!(await lake.store.exists(f.path))) missing.push(`${dataset}@${commit.version}: ${f.path}`);
      }
    }
  }
  return missing;
}

/** Versions of each dataset form one chain: 1, 2, 3 ... each the child of the one before. */
export async function brokenChains(lake: Lake): Promise<string[]> {
  const broken: string[] = [];
  for (const dataset of await lake.datasets()) {
    const history = await lake.history(dataset);
    history.forEach((commit, i) => {
      if (commit.version !== i + 1) broken.push(`${dataset}: version ${commit.version} at position ${i + 1}`);
      if (i > 0 && commit.parent !== history[i - 1]?.version) broken.push(`${dataset}@${commit.version}: parent ${String(commit.parent)}`);
    });
  }
  return broken;
}
