// Synthetic daily history at a chosen scale, written once as Parquet in the
// silver-daily schema and reused. Per-ticker parameters come from a seeded
// PRNG (one draw per ticker); every per-row number is computed by Polars from
// a seeded hash of (ticker, session), so 50 M rows never pass through JS.
import { existsSync, mkdirSync, readFileSync, rmSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pl from 'nodejs-polars';
import { nyse } from '@fibbars/ohlcv-core/calendar';

/** Bump when the generated data changes, so old caches are not reused. */
export const GENERATOR_VERSION = 1;
/** The history ends here (fixed, so a cache never depends on today's date). */
export const HISTORY_END = '2025-12-31';
/** Tickers are 4 capital letters, so their order is their id order. */
export const MAX_TICKERS = 26 ** 4;
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

export function tickerName(id: number): string {
  let s = '';
  let n = id;
  for (let i = 0; i < 4; i++) {
    s = String.fromCharCode(65 + (n % 26)) + s;
    n = Math.floor(n / 26);
  }
  return s;
}

/** mulberry32: small, seeded, good enough for per-ticker parameters. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The sessions of the history: `years` years ending at HISTORY_END, plus the increment session. */
export function historySessions(years: number): { sessions: string[]; increment: string } {
  const endYear = Number(HISTORY_END.slice(0, 4));
  const from = `${endYear - years + 1}-01-01`;
  return { sessions: nyse.sessionsBetween(from, HISTORY_END), increment: nyse.nextSession(HISTORY_END) };
}

function tickerFrame(scale: Scale, from: number, to: number, sessionCount: number): pl.DataFrame {
  const rand = prng(scale.seed * 7919 + 17);
  const ids: number[] = [];
  const names: string[] = [];
  const p0: number[] = [];
  const sigma: number[] = [];
  const vol0: number[] = [];
  const start: number[] = [];
  for (let id = 0; id < to; id++) {
    // Draw every ticker's parameters in order so a chunk's values do not depend on the chunking.
    const a = rand();
    const b = rand();
    const c = rand();
    const d = rand();
    const e = rand();
    if (id < from) continue;
    ids.push(id);
    names.push(tickerName(id));
    p0.push(Math.exp(Math.log(5) + a * (Math.log(400) - Math.log(5))));
    sigma.push(0.008 + b * 0.03);
    vol0.push(Math.exp(Math.log(5e4) + c * (Math.log(2e7) - Math.log(5e4))));
    // One ticker in twenty lists late, somewhere in the first half of the history.
    start.push(d < 0.05 ? Math.floor(e * (sessionCount / 2)) : 0);
  }
  return pl.DataFrame({
    tid: pl.Series('tid', ids, pl.Int64),
    ticker: pl.Series('ticker', names, pl.Utf8),
    p0: pl.Series('p0', p0, pl.Float64),
    sigma: pl.Series('sigma', sigma, pl.Float64),
    vol0: pl.Series('vol0', vol0, pl.Float64),
    start: pl.Series('start', start, pl.Int64),
  });
}

/** Rows of `from..to` tickers over `sessions` (the last one being the increment), lazily. */
export function generateChunk(scale: Scale, fromTicker: number, toTicker: number, sessions: string[]): pl.LazyDataFrame {
  const days = Int32Array.from(sessions, (s) => nyse.sessionEpochDays[nyse.sessionIndex(s)]!);
  const sessionFrame = pl.DataFrame({
    date: pl.Series('date', days, pl.Int32).cast(pl.Date),
    pos: pl.Series('pos', Array.from(days, (_, i) => i), pl.Int64),
  });
  const tickers = tickerFrame(scale, fromTicker, toTicker, sessions.length);
  const seed = scale.seed;
  const u = (stream: number) =>
    pl
      .col('key')
      .hash(seed, stream, 0x9e37, 0x79b9)
      .cast(pl.Float64)
      .div(2 ** 64)
      .clip(1e-12, 1 - 1e-12);
  const normal = (a: number, b: number) =>
    u(a).log().mul(-2).pow(0.5).mul(u(b).mul(2 * Math.PI).cos());
  const larger = (x: pl.Expr, y: pl.Expr) => pl.when(x.gt(y)).then(x).otherwise(y);
  const smaller = (x: pl.Expr, y: pl.Expr) => pl.when(x.lt(y)).then(x).otherwise(y);

  return tickers
    .lazy()
    .join(sessionFrame.lazy(), { how: 'cross' })
    .filter(pl.col('pos').gtEq(pl.col('start')))
    .withColumns(pl.col('tid').mul(1 << 20).add(pl.col('pos')).alias('key'))
    .withColumns(pl.col('sigma').mul(normal(1, 2)).alias('r'))
    .withColumns(pl.col('p0').mul(pl.col('r').cumSum().over('tid').exp()).alias('c'))
    .withColumns(
      pl.col('c').shift(1).over('tid').fillNull(pl.col('p0')).mul(pl.col('sigma').mul(0.25).mul(normal(3, 4)).exp()).alias('o'),
    )
    .withColumns(
      larger(pl.col('o'), pl.col('c')).mul(pl.col('sigma').mul(0.6).mul(u(5)).add(1)).alias('h'),
      smaller(pl.col('o'), pl.col('c')).mul(pl.lit(1).sub(pl.col('sigma').mul(0.6).mul(u(6)))).alias('l'),
      pl.col('vol0').mul(normal(7, 8).mul(0.5).exp()).round(0).alias('v'),
    )
    .select(
      pl.col('ticker'),
      pl.col('date'),
      // Rounding is monotone, so low <= open, close <= high survives it.
      pl.col('o').round(4).alias('open'),
      pl.col('h').round(4).alias('high'),
      pl.col('l').round(4).alias('low'),
      pl.col('c').round(4).alias('close'),
      pl.col('v').alias('volume'),
      pl
        .when(u(9).lt(0.01))
        .then(pl.lit(null))
        .otherwise(pl.col('h').add(pl.col('l')).add(pl.col('c')).div(3).round(4))
        .cast(pl.Float64)
        .alias('vwap'),
      pl
        .when(u(10).lt(0.01))
        .then(pl.lit(null))
        .otherwise(pl.col('v').div(40).floor().add(1))
        .cast(pl.Int64)
        .alias('transactions'),
    );
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
