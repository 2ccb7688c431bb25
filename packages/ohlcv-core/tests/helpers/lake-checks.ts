/** Assertions about a lake's committed state, shared by crash and race tests. */
import type { DataFrame } from 'nodejs-polars';
import type { Lake } from '../../src/lake.js';

/** Every file of every committed version exists; returns the number of versions checked. */
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
  for (const d of datasets) out[d] = await lake.read(d);
  out['quarantine'] = await lake.readQuarantine();
  return out;
}

export function framesEqual(a: DataFrame | undefined, b: DataFrame | undefined): boolean {
  if (!a || !b) return a === b;
  return a.height === b.height && a.columns.join() === b.columns.join() && a.frameEqual(b, true);
}
