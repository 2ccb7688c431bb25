/** Small hand-made frames for lake tests, in the silver schemas. */
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { isoToEpochDay } from '../../src/dates.js';
import { SILVER_DAILY_SCHEMA } from '../../src/schemas.js';

export interface DailyRow {
  ticker: string;
  date: string;
  open?: number;
  high?: number;
  low?: number;
  close?: number;
  volume?: number;
  vwap?: number | null;
  transactions?: number | null;
}

/** A silver daily frame from rows; missing prices default to a valid bar around 10. */
export function dailyFrame(rows: DailyRow[]): DataFrame {
  return pl
    .DataFrame({
      ticker: rows.map((r) => r.ticker),
      date: rows.map((r) => isoToEpochDay(r.date)),
      open: rows.map((r) => r.open ?? 10),
      high: rows.map((r) => r.high ?? 11),
      low: rows.map((r) => r.low ?? 9),
      close: rows.map((r) => r.close ?? 10.5),
      volume: rows.map((r) => r.volume ?? 1000),
      vwap: rows.map((r) => (r.vwap === undefined ? 10.2 : r.vwap)),
      transactions: rows.map((r) => (r.transactions === undefined ? 50 : r.transactions)),
    })
    .select(...Object.entries(SILVER_DAILY_SCHEMA).map(([name, dtype]) => pl.col(name).cast(dtype)));
}

/** ISO strings of a Date column (for readable assertions). */
export function isoColumn(df: DataFrame, column: string): string[] {
  return (df.getColumn(column).cast(pl.Int32).toArray() as number[]).map((d) => new Date(d * 86_400_000).toISOString().slice(0, 10));
}
