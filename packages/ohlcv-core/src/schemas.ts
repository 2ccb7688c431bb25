// Column names and nodejs-polars dtypes of every frame ohlcv-core reads or
// writes (DESIGN §3.1). Schemas are plain `{ column: DataType }` objects in
// column order, so they can be passed to `pl.DataFrame(..., { schema })`,
// compared with `df.schema`, or used to conform a frame with `conform`.
import pl from 'nodejs-polars';
import { once } from './memo.js';
import type { DataFrame, DataType } from 'nodejs-polars';

/** A frame schema: column name -> dtype, in column order. */
export type Schema = Readonly<Record<string, DataType>>;

const UTC_MS = pl.Datetime('ms', 'UTC');

/**
 * Consolidated daily history (`ohlcv_1d`): unadjusted, one row per
 * (ticker, date), sorted by (ticker, date).
 *
 * @example
 * import { SILVER_DAILY_SCHEMA } from '@fibbars/ohlcv-core';
 * Object.keys(SILVER_DAILY_SCHEMA); // ['ticker', 'date', 'open', ..., 'transactions']
 */
export const SILVER_DAILY_SCHEMA: Schema = Object.freeze({
  ticker: pl.Utf8,
  date: pl.Date,
  open: pl.Float64,
  high: pl.Float64,
  low: pl.Float64,
  close: pl.Float64,
  volume: pl.Float64,
  vwap: pl.Float64,
  transactions: pl.Int64,
});

/**
 * One raw daily bar per ticker per fetch, as parsed from the raw zone.
 * `date` is the session requested (New York), never the vendor's timestamp.
 * `fetch_id` identifies the fetch the row came from (the greatest id is the
 * latest fetch; see `validateDaily`).
 *
 * @example
 * import pl from 'nodejs-polars';
 * import { RAW_DAILY_SCHEMA } from '@fibbars/ohlcv-core';
 * const empty = pl.DataFrame({}, { schema: RAW_DAILY_SCHEMA });
 */
export const RAW_DAILY_SCHEMA: Schema = Object.freeze({
  ...SILVER_DAILY_SCHEMA,
  fetched_at: UTC_MS,
  fetch_id: pl.Utf8,
});

/**
 * Quarantined raw rows: the raw columns plus the `reason` they were rejected.
 *
 * @example
 * import { QUARANTINE_SCHEMA } from '@fibbars/ohlcv-core';
 * QUARANTINE_SCHEMA.reason; // Utf8
 */
export const QUARANTINE_SCHEMA: Schema = Object.freeze({ ...RAW_DAILY_SCHEMA, reason: pl.Utf8 });

/**
 * N-session bars (`ohlcv_{N}d`), split-adjusted, one row per (ticker, bucket).
 *
 * @example
 * import { BAR_SCHEMA } from '@fibbars/ohlcv-core';
 * BAR_SCHEMA.n_days; // Int32
 */
export const BAR_SCHEMA: Schema = Object.freeze({
  ticker: pl.Utf8,
  start_date: pl.Date,
  end_date: pl.Date,
  open: pl.Float64,
  high: pl.Float64,
  low: pl.Float64,
  close: pl.Float64,
  volume: pl.Float64,
  vwap: pl.Float64,
  transactions: pl.Int64,
  n_days: pl.Int32,
  bucket: pl.Int64,
  is_complete: pl.Bool,
});

/**
 * Splits (`splits` dataset). The ratio is `split_to / split_from`: a 4-for-1
 * split has split_from 1 and split_to 4; a 1-for-10 reverse split has
 * split_from 10 and split_to 1.
 *
 * @example
 * import pl from 'nodejs-polars';
 * import { SPLITS_SCHEMA } from '@fibbars/ohlcv-core';
 * const splits = pl.DataFrame(
 *   { ticker: ['AAPL'], execution_date: [new Date('2020-08-31')], split_from: [1], split_to: [4] },
 *   { schema: SPLITS_SCHEMA },
 * );
 */
export const SPLITS_SCHEMA: Schema = Object.freeze({
  ticker: pl.Utf8,
  execution_date: pl.Date,
  split_from: pl.Float64,
  split_to: pl.Float64,
});

/**
 * Cash distributions (`dividends` dataset), from the vendor's
 * `/v3/reference/dividends`: one row per (ticker, ex_dividend_date,
 * dividend_type). `cash_amount` is per share owned on the ex-dividend date,
 * as the vendor reports it (not adjusted for later splits); `dividend_type`
 * is the vendor's code (CD regular, SC special, LT / ST capital gains).
 * Read-time total-return adjustment uses them (LAKE.md, "Dividends and
 * total return"); the daily history is never changed by them.
 *
 * @example
 * import { DIVIDENDS_SCHEMA } from '@fibbars/ohlcv-core';
 * DIVIDENDS_SCHEMA.cash_amount; // Float64
 */
export const DIVIDENDS_SCHEMA: Schema = Object.freeze({
  ticker: pl.Utf8,
  ex_dividend_date: pl.Date,
  cash_amount: pl.Float64,
  currency: pl.Utf8,
  dividend_type: pl.Utf8,
  frequency: pl.Int32,
  declaration_date: pl.Date,
  record_date: pl.Date,
  pay_date: pl.Date,
});

/**
 * Ticker history (`ticker_history` dataset): which symbol named which
 * security when. `security_id` is the vendor's composite FIGI, or the ticker
 * itself where the vendor gives none; `from_date` is the first session the
 * symbol names the security (null: since before the lake's knowledge),
 * `to_date` the last one (null: still in force). `source` says what the row
 * was built from: `events` (the vendor's ticker-change timeline) or
 * `snapshot` (a ticker snapshot). LAKE.md, "Identity".
 *
 * @example
 * import { TICKER_HISTORY_SCHEMA } from '@fibbars/ohlcv-core';
 * Object.keys(TICKER_HISTORY_SCHEMA); // ['security_id', 'ticker', 'from_date', 'to_date', 'name', 'source']
 */
export const TICKER_HISTORY_SCHEMA: Schema = Object.freeze({
  security_id: pl.Utf8,
  ticker: pl.Utf8,
  from_date: pl.Date,
  to_date: pl.Date,
  name: pl.Utf8,
  source: pl.Utf8,
});

/**
 * Ticker reference snapshot (`tickers` dataset), from the vendor's
 * `/v3/reference/tickers` (active and delisted).
 *
 * @example
 * import { TICKERS_SCHEMA } from '@fibbars/ohlcv-core';
 * TICKERS_SCHEMA.delisted_utc; // Datetime(ms, UTC), null while listed
 */
export const TICKERS_SCHEMA: Schema = Object.freeze({
  ticker: pl.Utf8,
  name: pl.Utf8,
  market: pl.Utf8,
  locale: pl.Utf8,
  primary_exchange: pl.Utf8,
  type: pl.Utf8,
  active: pl.Bool,
  currency_name: pl.Utf8,
  cik: pl.Utf8,
  composite_figi: pl.Utf8,
  share_class_figi: pl.Utf8,
  last_updated_utc: UTC_MS,
  delisted_utc: UTC_MS,
});

/**
 * Select and cast `df` to exactly the columns of `schema`, in order. Columns
 * missing from `df` are added as nulls when `fillMissing` lists them, else a
 * clear error names them.
 *
 * @example
 * import { conform, SILVER_DAILY_SCHEMA } from '@fibbars/ohlcv-core';
 * const daily = conform(someFrame, SILVER_DAILY_SCHEMA, { fillMissing: ['vwap', 'transactions'] });
 */
export function conform(df: DataFrame, schema: Schema, opts: { fillMissing?: readonly string[] } = {}): DataFrame {
  const have = new Set(df.columns);
  const absent = Object.keys(schema).filter((c) => !have.has(c));
  const missing = absent.filter((c) => !(opts.fillMissing ?? []).includes(c));
  if (missing.length > 0) {
    throw new TypeError(`frame is missing column(s) ${missing.join(', ')} (has ${df.columns.join(', ') || 'none'})`);
  }
  if (absent.length === 0) return selectAs(df, schema);
  // Built once per (schema, present columns): nodejs-polars expressions cost ~1 ms each to build.
  const key = `conform:${Object.entries(schema)
    .map(([name, dtype]) => `${name}=${String(dtype)}${have.has(name) ? '' : '?'}`)
    .join(',')}`;
  return df.select(
    ...once(key, () =>
      Object.entries(schema).map(([name, dtype]) => (have.has(name) ? pl.col(name).cast(dtype).alias(name) : pl.lit(null).cast(dtype).alias(name))),
    ),
  );
}

/**
 * The columns of `schema`, in its order, each cast to its dtype (non-strict,
 * like `Expr.cast`), without building a single expression: a select by name
 * and Series casts of only the columns whose dtype differs. nodejs-polars
 * spends about a millisecond on every expression or Series object it builds
 * (its `_Expr` and `_Series` wrappers, pola-rs/nodejs-polars#265), which is
 * most of a daily job's fixed cost; DataFrame operations and `dtypes` are cheap.
 * @internal
 */
export function selectAs(df: DataFrame, schema: Schema): DataFrame {
  const picked = df.select(...Object.keys(schema));
  // `dtypes` is one cheap native call; every Series object costs as much as an expression.
  const have = picked.dtypes;
  const casts = Object.entries(schema)
    .filter(([, dtype], i) => !have[i]!.equals(dtype))
    .map(([name, dtype]) => picked.getColumn(name).cast(dtype));
  return casts.length === 0 ? picked : picked.withColumns(...casts);
}

/**
 * An empty frame with the given schema.
 *
 * @example
 * import { emptyFrame, BAR_SCHEMA } from '@fibbars/ohlcv-core';
 * emptyFrame(BAR_SCHEMA).height; // 0
 */
export function emptyFrame(schema: Schema): DataFrame {
  return pl.DataFrame(
    Object.entries(schema).map(([name, dtype]) => pl.Series(name, [], dtype)),
  );
}

/**
 * Does `df` have exactly the columns and dtypes of `schema`, in order?
 *
 * @example
 * import { hasSchema, resample, BAR_SCHEMA } from '@fibbars/ohlcv-core';
 * hasSchema(resample(daily, { days: 5 }), BAR_SCHEMA); // true
 */
export function hasSchema(df: DataFrame, schema: Schema): boolean {
  const cols = Object.keys(schema);
  if (df.columns.length !== cols.length) return false;
  return cols.every((c, i) => df.columns[i] === c && dtypeName(df.getColumn(c).dtype) === dtypeName(schema[c]!));
}

/**
 * A comparable name of a dtype (`Utf8` and `String` are the same type).
 *
 * @example
 * import pl from 'nodejs-polars';
 * import { dtypeName } from '@fibbars/ohlcv-core';
 * dtypeName(pl.Utf8) === dtypeName(pl.String); // true
 */
export function dtypeName(dtype: DataType): string {
  return String(dtype).replace(/^DataType\((.*)\)$/, '$1').replace(/^Utf8$/, 'String');
}
