/** Assertions about a lake's committed state, shared by crash, race and job tests. */
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import type { Dataset, Lake } from '../../src/lake.js';

/** Files listed by any committed version that do not exist. */
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

/** Head frames of the given datasets (and the quarantine), for comparisons. */
export async function snapshot(lake: Lake, datasets: readonly string[]): Promise<Record<string, DataFrame>> {
  const out: Record<string, DataFrame> = {};
  for (const d of datasets) out[d] = await lake.read(d as Dataset);
  out['quarantine'] = await lake.readQuarantine();
  return out;
}

/**
 * The first difference between two frames, or null when equal: same columns,
 * dtypes and row order; floats equal within a relative 1e-9 (sums over
 * different groupings round differently), everything else exactly.
 */
export function frameDifference(a: DataFrame | undefined, b: DataFrame | undefined): string | null {
  if (!a || !b) return a === b ? null : 'one frame is missing';
  if (a.columns.join() !== b.columns.join()) return `columns ${a.columns.join()} != ${b.columns.join()}`;
  if (a.height !== b.height) return `height ${a.height} != ${b.height}`;
  for (const c of a.columns) {
    const sa = a.getColumn(c);
    const sb = b.getColumn(c);
    if (String(sa.dtype) !== String(sb.dtype)) return `dtype of ${c}: ${String(sa.dtype)} != ${String(sb.dtype)}`;
    let bad: DataFrame;
    if (String(sa.dtype).includes('Float')) {
      const cmp = pl.DataFrame([sa.alias('a'), sb.alias('b')]).withRowIndex('row');
      bad = cmp.filter(
        pl
          .col('a')
          .isNull()
          .neq(pl.col('b').isNull())
          .or(pl.col('a').sub(pl.col('b')).abs().gt(pl.col('b').abs().mul(1e-9).add(1e-12)).fillNull(false)),
      );
    } else {
      const cmp = pl.DataFrame([sa.alias('a'), sb.alias('b')]).withRowIndex('row');
      bad = cmp.filter(pl.col('a').isNull().neq(pl.col('b').isNull()).or(pl.col('a').neq(pl.col('b')).fillNull(false)));
    }
    if (bad.height > 0) return `column ${c} differs in ${bad.height} row(s), first: ${JSON.stringify(bad.head(1).toRecords()[0])}`;
  }
  return null;
}

export function framesEqual(a: DataFrame | undefined, b: DataFrame | undefined): boolean {
  return frameDifference(a, b) === null;
}
