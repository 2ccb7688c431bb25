// Synthetic daily history at a chosen scale, written once as Parquet in the
// silver-daily schema and reused. The rows come from the workspace's seeded
// generator, `syntheticDailyBars` of @fibbars/testing/market (per-ticker
// parameters from a seeded PRNG, every per-row number computed by Polars from
// a seeded hash of (ticker, session), so 50 M rows never pass through JS);
// esbuild bundles that one module (no test servers, no SDK) into dist.
import { existsSync, mkdirSync, readFileSync, rmSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pl from 'nodejs-polars';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { MAX_SYNTHETIC_TICKERS, syntheticDailyBars } from '@fibbars/testing/market';

export { tickerName } from '@fibbars/testing/market';

/** Bump when the generated data changes (here or in `syntheticDailyBars`), so old caches are not reused. */
export const GENERATOR_VERSION = 1;
/** The history ends here (fixed, so a cache never depends on today's date). */
export const HISTORY_END = '2025-12-31';
/** Tickers are 4 capital letters, so their order is their id order. */
export const MAX_TICKERS = MAX_SYNTHETIC_TICKERS;
/** Rows generated per Polars query (bounds the generator's memory). */
const CHUNK_ROWS = 4_000_000;

export interface Scale {
  tickers: number;
  years: number;
  seed: number;
}

export interface DailyManifest {
  version: number;
  scale: Scale;
  /** Daily history files, in (ticker, date) order when read one after another. */
  files: string[];
  rows: number;
  firstSession: string;
  lastSession: string;
  /** One more session for every ticker, for the daily increment. */
  incrementFile: string;
  incrementSession: string;
  incrementRows: number;
  generateSeconds: number;
}

export function validateScale(scale: Scale): void {
  if (!Number.isInteger(scale.tickers) || scale.tickers < 1 || scale.tickers > MAX_TICKERS) {
    throw new RangeError(`--tickers must be an integer from 1 to ${MAX_TICKERS}, got ${String(scale.tickers)}`);
  }
  if (!Number.isInteger(scale.years) || scale.years < 1 || scale.years > 30) {
    throw new RangeError(`--years must be an integer from 1 to 30, got ${String(scale.years)}`);
  }
  if (!Number.isInteger(scale.seed) || scale.seed < 0 || scale.seed > 2 ** 31) {
    throw new RangeError(`--seed must be a non-negative integer, got ${String(scale.seed)}`);
  }
}

export function datasetDir(cacheRoot: string, scale: Scale): string {
  return join(cacheRoot, `${scale.tickers}x${scale.years}-seed${scale.seed}`);
}

/** The sessions of the history: `years` years ending at HISTORY_END, plus the increment session. */
export function historySessions(years: number): { sessions: string[]; increment: string } {
  const endYear = Number(HISTORY_END.slice(0, 4));
  const from = `${endYear - years + 1}-01-01`;
  return { sessions: nyse.sessionsBetween(from, HISTORY_END), increment: nyse.nextSession(HISTORY_END) };
}

/** Rows of `from..to` tickers over `sessions` (the last one being the increment), lazily. */
export function generateChunk(scale: Scale, fromTicker: number, toTicker: number, sessions: string[]): pl.LazyDataFrame {
  return syntheticDailyBars(scale.seed, fromTicker, toTicker, sessions);
}

function readManifest(dir: string): DailyManifest | undefined {
  const file = join(dir, 'manifest.json');
  if (!existsSync(file)) return undefined;
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as DailyManifest;
  return manifest.version === GENERATOR_VERSION ? manifest : undefined;
}

/**
 * The cached daily history at `scale`, generated on first use. The manifest is
 * written last, so an interrupted generation is redone, never half reused.
 */
export async function ensureDaily(cacheRoot: string, scale: Scale, log: (msg: string) => void = () => {}): Promise<{ dir: string; manifest: DailyManifest }> {
  validateScale(scale);
  const dir = datasetDir(cacheRoot, scale);
  const cached = readManifest(dir);
  if (cached) return { dir, manifest: cached };

  const started = performance.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'daily'), { recursive: true });
  const { sessions, increment } = historySessions(scale.years);
  const all = [...sessions, increment];
  const incrementDate = new Date(`${increment}T00:00:00Z`);
  const perChunk = Math.max(1, Math.floor(CHUNK_ROWS / all.length));
  const files: string[] = [];
  const incrementParts: pl.DataFrame[] = [];
  let rows = 0;
  for (let from = 0, part = 0; from < scale.tickers; from += perChunk, part++) {
    const to = Math.min(scale.tickers, from + perChunk);
    log(`generating tickers ${from}..${to - 1} of ${scale.tickers}`);
    const chunk = await generateChunk(scale, from, to, all).collect();
    const history = chunk.filter(pl.col('date').lt(pl.lit(incrementDate)));
    const name = `daily/part-${String(part).padStart(5, '0')}.parquet`;
    await history.lazy().sinkParquet(join(tmp, name), { compression: 'zstd', statistics: true, maintainOrder: true }).collect();
    files.push(name);
    rows += history.height;
    incrementParts.push(chunk.filter(pl.col('date').eq(pl.lit(incrementDate))));
  }
  const inc = pl.concat(incrementParts);
  await inc.lazy().sinkParquet(join(tmp, 'increment.parquet'), { compression: 'zstd', statistics: true, maintainOrder: true }).collect();
  const manifest: DailyManifest = {
    version: GENERATOR_VERSION,
    scale,
    files,
    rows,
    firstSession: sessions[0]!,
    lastSession: sessions.at(-1)!,
    incrementFile: 'increment.parquet',
    incrementSession: increment,
    incrementRows: inc.height,
    generateSeconds: (performance.now() - started) / 1000,
  };
  writeFileSync(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, manifest };
}
