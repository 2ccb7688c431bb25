/**
 * The real daily bars in `../shared/data` (beside the repo root; present in
 * developer checkouts and CI, not on a user's machine), located and parsed
 * once for every suite that tests against them.
 *
 * @example
 * import { readSp500Rows, sp500 } from '@fibbars/testing';
 * const data = sp500();
 * if (data.path) console.log(readSp500Rows(data.path).length); // 119,255
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** tools/testing/src -> repo root */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const SP500_FILE = 'sp500-daily-2013-2017.csv.gz';

/** Path of a file in the shared data folder: `$FIBBARS_SHARED_DATA`, else `../shared/data` from the repo root. */
export function sharedDataPath(name: string): string {
  return resolve(process.env.FIBBARS_SHARED_DATA ?? resolve(repoRoot, '../shared/data'), name);
}

/** The path of the S&P 500 sample, or null with the reason it is unavailable. */
export function sp500(): { path: string | null; reason: string } {
  const path = sharedDataPath(SP500_FILE);
  return existsSync(path)
    ? { path, reason: '' }
    : { path: null, reason: `skipped: shared data file ${SP500_FILE} not found at ${path}` };
}

/**
 * The path of a shared data file that a suite cannot do without: throws an
 * Error naming the missing file and where it was looked for, so the suite
 * fails instead of passing on nothing.
 */
export function requireSharedData(name: string): string {
  const path = sharedDataPath(name);
  if (!existsSync(path)) {
    throw new Error(`missing test input: shared data file ${name} not found at ${path} (the repo's ../shared/data, or the folder $FIBBARS_SHARED_DATA names)`);
  }
  return path;
}

/** Text of a gzipped shared file. */
export function readGzipText(path: string): string {
  return gunzipSync(readFileSync(path)).toString('utf8');
}

/** One row of the sample as published; an empty field is null. */
export interface Sp500Row {
  ticker: string;
  date: string;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  volume: number | null;
}

/** Every row of the S&P 500 sample, in file order, columns found by header name. */
export function readSp500Rows(path: string = sharedDataPath(SP500_FILE)): Sp500Row[] {
  const lines = readGzipText(path).split('\n');
  const header = lines[0]!.trim().split(',');
  const at = (name: string) => header.indexOf(name);
  const [iT, iD, iO, iH, iL, iC, iV] = ['ticker', 'date', 'open', 'high', 'low', 'close', 'volume'].map(at);
  const num = (s: string | undefined) => (s === undefined || s.trim() === '' ? null : Number(s));
  const rows: Sp500Row[] = [];
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k]!.trim();
    if (!line) continue;
    const f = line.split(',');
    rows.push({ ticker: f[iT!]!, date: f[iD!]!, open: num(f[iO!]), high: num(f[iH!]), low: num(f[iL!]), close: num(f[iC!]), volume: num(f[iV!]) });
  }
  return rows;
}
