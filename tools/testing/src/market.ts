/**
 * Seeded synthetic markets (daily bars), the one home of the workspace's
 * generators. Each is a pure function of its seed: the same seed gives the
 * same bars, byte for byte, so changing a line here changes the data every
 * test and the benchmark's cached history was built from (bump the bench's
 * `GENERATOR_VERSION` when you do).
 *
 * - `syntheticMarket`: a small market in the vendor's grouped-daily JSON
 *   shape (`T o h l c v vw n t`), a random walk per ticker drawn in order
 *   from `mulberry32`; for suites that write raw fetches.
 * - `syntheticDailyBars`: daily history at scale in the silver-daily schema,
 *   lazily in Polars: per-ticker parameters from `mulberry32`, every per-row
 *   number from a seeded hash of (ticker, session), so 50 M rows never pass
 *   through JS; for the benchmark and any suite that needs many rows.
 *
 * The fetchers' `SyntheticSource` (`--source synthetic`) is a product
 * feature, not test support, and stays in @fibbars/fetchers.
 *
 * This module imports nothing of the workspace (ohlcv-core depends on this
 * package for its tests): callers pass the sessions, from ohlcv-core's NYSE
 * calendar.
 *
 * @example
 * import { syntheticMarket, syntheticDailyBars } from '@fibbars/testing/market';
 * const bars = syntheticMarket(['2024-06-27', '2024-06-28'], 20); // Map: session -> 20 vendor bars
 * const df = await syntheticDailyBars(7, 0, 100, nyse.sessionsBetween('2024-01-02', '2024-12-31')).collect();
 */
import pl from 'nodejs-polars';
import { mulberry32 } from './random.js';

// ---------------------------------------------------------------------------
// A small market in the vendor's grouped-daily shape
// ---------------------------------------------------------------------------

/** One result of the vendor's grouped-daily response. */
export interface VendorBar {
  T: string;
  o: number | null;
  h: number | null;
  l: number | null;
  c: number | null;
  v: number;
  vw?: number;
  n?: number;
  t: number;
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * Bars of `tickers` symbols (`T000.A`, `T001`, ...: every seventh has a class
 * suffix) over `sessions`, a random walk per ticker, keyed by session in the
 * order given.
 */
export function syntheticMarket(sessions: readonly string[], tickers: number, seed = 7): Map<string, VendorBar[]> {
  const random = mulberry32(seed);
  const symbols = Array.from({ length: tickers }, (_, i) => `T${String(i).padStart(3, '0')}${i % 7 === 0 ? '.A' : ''}`);
  const last = symbols.map(() => 20 + random() * 200);
  const out = new Map<string, VendorBar[]>();
  for (const session of sessions) {
    const closeMs = Date.parse(`${session}T21:00:00Z`);
    out.set(
      session,
      symbols.map((T, i) => {
        const prev = last[i] ?? 50;
        const o = prev * (1 + (random() - 0.5) * 0.02);
        const c = o * (1 + (random() - 0.5) * 0.04);
        const h = Math.max(o, c) * (1 + random() * 0.01);
        const l = Math.min(o, c) * (1 - random() * 0.01);
        last[i] = c;
        const v = Math.floor(1e5 + random() * 5e6);
        return { T, o: round4(o), h: round4(h), l: round4(l), c: round4(c), v, vw: round4((o + h + l + c) / 4), n: Math.floor(v / 120), t: closeMs };
      }),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------
// Daily history at scale, in the silver-daily schema
// ---------------------------------------------------------------------------

/** Tickers are 4 capital letters, so their order is their id order. */
export const MAX_SYNTHETIC_TICKERS = 26 ** 4;

/** The ticker of id `id` (0 -> `AAAA`, 1 -> `AAAB`, 26 -> `AABA`). */
export function tickerName(id: number): string {
  let s = '';
  let n = id;
  for (let i = 0; i < 4; i++) {
    s = String.fromCharCode(65 + (n % 26)) + s;
    n = Math.floor(n / 26);
  }
  return s;
}

const MS_PER_DAY = 86_400_000;

function tickerFrame(seed: number, from: number, to: number, sessionCount: number): pl.DataFrame {
  const rand = mulberry32(seed * 7919 + 17);
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

/**
 * Daily rows of tickers `fromTicker..toTicker - 1` over `sessions` (ISO
 * dates, in order), lazily, in the silver-daily schema and sorted by
 * (ticker, date). A ticker's rows depend only on the seed, its id and the
 * sessions, never on the range it is generated in.
 */
export function syntheticDailyBars(seed: number, fromTicker: number, toTicker: number, sessions: readonly string[]): pl.LazyDataFrame {
  const days = Int32Array.from(sessions, (s) => Date.parse(`${s}T00:00:00Z`) / MS_PER_DAY);
  const sessionFrame = pl.DataFrame({
    date: pl.Series('date', days, pl.Int32).cast(pl.Date),
    pos: pl.Series('pos', Array.from(days, (_, i) => i), pl.Int64),
  });
  const tickers = tickerFrame(seed, fromTicker, toTicker, sessions.length);
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
