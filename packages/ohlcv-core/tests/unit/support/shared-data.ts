// Locates the shared real-data files: `../shared/data` relative to the repo root.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
/** tests/unit/support -> packages/ohlcv-core -> repo root */
export const repoRoot = resolve(here, '../../../../..');

export function sharedDataPath(name: string): string {
  return resolve(repoRoot, '../shared/data', name);
}

export const SP500_FILE = 'sp500-daily-2013-2017.csv.gz';

/** The path of the S&P 500 sample, or null with the reason it is unavailable. */
export function sp500(): { path: string | null; reason: string } {
  const path = sharedDataPath(SP500_FILE);
  return existsSync(path)
    ? { path, reason: '' }
    : { path: null, reason: `skipped: shared data file ${SP500_FILE} not found at ../shared/data (relative to the repo root)` };
}

/** Raw CSV text of a gzipped shared file. */
export function readGzipText(path: string): string {
  return gunzipSync(readFileSync(path)).toString('utf8');
}
