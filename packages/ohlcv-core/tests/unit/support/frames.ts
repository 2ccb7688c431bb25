// Small builders for hand-written test frames.
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { RAW_DAILY_SCHEMA, SILVER_DAILY_SCHEMA, isoToEpochDay } from '../../../src/index.js';

export interface RawRow {
  ticker: string | null;
  date: string;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  volume: number | null;
  vwap?: number | null;
  transactions?: number | null;
  fetched_at?: string;
  fetch_id?: string | null;
}

/** A raw-daily frame from plain rows (dates and timestamps as ISO strings). */
export function rawFrame(rows: RawRow[]): DataFrame {
  return pl.DataFrame([
    pl.Series('ticker', rows.map((r) => r.ticker), pl.Utf8),
    pl.Series('date', rows.map((r) => isoToEpochDay(r.date)), pl.Int32).cast(pl.Date),
    pl.Series('open', rows.map((r) => r.open), pl.Float64),
    pl.Series('high', rows.map((r) => r.high), pl.Float64),
    pl.Series('low', rows.map((r) => r.low), pl.Float64),
    pl.Series('close', rows.map((r) => r.close), pl.Float64),
    pl.Series('volume', rows.map((r) => r.volume), pl.Float64),
    pl.Series('vwap', rows.map((r) => r.vwap ?? null), pl.Float64),
    pl.Series('transactions', rows.map((r) => r.transactions ?? null), pl.Int64),
    pl.Series('fetched_at', rows.map((r) => Date.parse(r.fetched_at ?? '2024-01-01T00:00:00Z')), pl.Float64)
      .cast(pl.Int64)
      .cast(pl.Datetime('ms', 'UTC')),
    pl.Series('fetch_id', rows.map((r) => r.fetch_id ?? null), pl.Utf8),
  ]).select(...Object.keys(RAW_DAILY_SCHEMA));
}

/** A silver-daily frame from plain rows. */
export function dailyFrame(rows: RawRow[]): DataFrame {
  return rawFrame(rows).select(...Object.keys(SILVER_DAILY_SCHEMA));
}

/** A frame as plain records with Date columns rendered as ISO dates. */
export function records(df: DataFrame): Record<string, unknown>[] {
  const dateCols = df.columns.filter((c) => String(df.getColumn(c).dtype) === 'DataType(Date)');
  return df
    .withColumns(...dateCols.map((c) => pl.col(c).cast(pl.Utf8)))
    .toRecords()
    .map((r) => ({ ...r }));
}

/** A plausible valid bar around `price`. */
export function bar(ticker: string, date: string, price: number, volume = 1000, extra: Partial<RawRow> = {}): RawRow {
  return { ticker, date, open: price, high: price * 1.02, low: price * 0.98, close: price * 1.01, volume, vwap: price, transactions: 10, ...extra };
}
