// The reference: the same work as ohlcv-core's, written as plain SQL for
// DuckDB over the same Parquet files. It also checks our outputs against its
// own (a full outer join per interval), so the comparison is never by hand.
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { DEFAULT_INTERVALS } from '@fibbars/ohlcv-core';
import { nyse } from '@fibbars/ohlcv-core/calendar';

/** The six intervals every measurement covers (3, 5, 8, 13, 21, 34). */
export const INTERVALS: readonly number[] = DEFAULT_INTERVALS;

export async function openDuck(options: { threads?: number; memoryLimit?: string } = {}): Promise<{ con: DuckDBConnection; close: () => void }> {
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(options.threads ?? 2),
    preserve_insertion_order: 'false',
    // The checks share their process with Polars: a limit makes DuckDB spill instead of growing past the machine.
    ...(options.memoryLimit ? { memory_limit: options.memoryLimit } : {}),
  });
  const con = await instance.connect();
  return {
    con,
    close: () => {
      con.closeSync();
      instance.closeSync();
    },
  };
}

export const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;
export const sqlList = (files: string[]): string => `[${files.map(sqlString).join(', ')}]`;

/** `sessions(date, idx)`: every NYSE session from 1990-01-02 to `to`, with its calendar index. */
export async function createSessions(con: DuckDBConnection, to: string): Promise<void> {
  const last = nyse.sessionIndex(nyse.latestSessionOnOrBefore(to));
  const rows: string[] = [];
  for (let i = 0; i <= last; i++) rows.push(`(DATE '${nyse.sessionAt(i)}', ${i})`);
  await con.run(`CREATE OR REPLACE TABLE sessions AS SELECT col0 AS date, col1::INTEGER AS idx FROM (VALUES ${rows.join(', ')})`);
}

/**
 * Calendar-anchored N-session bars of `source` (a table or subquery with the
 * silver-daily columns plus `idx`), as a SELECT. `latestIdx` is the session
 * index of the latest session in the lake (it decides `is_complete`).
 */
export function barsSql(source: string, days: number, latestIdx: number, where = ''): string {
  const both = 'vwap IS NOT NULL AND volume IS NOT NULL';
  return `SELECT ticker,
      min(date) AS start_date,
      max(date) AS end_date,
      arg_min(open, date) AS open,
      max(high) AS high,
      min(low) AS low,
      arg_max(close, date) AS close,
      sum(volume) AS volume,
      sum(vwap * volume) FILTER (WHERE ${both}) / sum(volume) FILTER (WHERE ${both}) AS vwap,
      sum(transactions) AS transactions,
      count(*)::INTEGER AS n_days,
      (idx // ${days})::BIGINT AS bucket,
      (idx // ${days}) * ${days} + ${days - 1} <= ${latestIdx} AS is_complete
    FROM ${source} ${where}
    GROUP BY ticker, idx // ${days}`;
}

export interface RebuildResult {
  rowsIn: number;
  rowsOut: Record<string, number>;
}

/** Full rebuild: silver daily Parquet -> six interval Parquet files under `outDir`. */
export async function duckRebuild(con: DuckDBConnection, dailyFiles: string[], lastSession: string, outDir: string): Promise<RebuildResult> {
  await createSessions(con, lastSession);
  const latestIdx = nyse.sessionIndex(lastSession);
  await con.run(
    `CREATE OR REPLACE TEMP TABLE daily AS SELECT d.*, s.idx FROM read_parquet(${sqlList(dailyFiles)}) d JOIN sessions s USING (date)`,
  );
  const rowsIn = Number((await con.runAndReadAll('SELECT count(*) FROM daily')).getRows()[0]![0]);
  const rowsOut: Record<string, number> = {};
  for (const days of INTERVALS) {
    const out = `${outDir}/ohlcv_${days}d.parquet`;
    const res = await con.run(
      `COPY (${barsSql('daily', days, latestIdx)} ORDER BY ticker, bucket) TO ${sqlString(out)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    rowsOut[`${days}d`] = res.rowsChanged;
  }
  await con.run('DROP TABLE daily');
  return { rowsIn, rowsOut };
}

export interface Comparison {
  interval: string;
  oursRows: number;
  duckRows: number;
  onlyOurs: number;
  onlyDuck: number;
  differ: number;
  equal: boolean;
  /** Aggregate checksums of our bars and DuckDB's. */
  checksums: { ours: Checksum; duck: Checksum };
}

export interface Checksum {
  volume: number;
  /** Sum of close * 1e4 (prices have 4 decimals, so this sum is exact). */
  closeE4: number;
  nDays: number;
}

/**
 * Full outer join of our bars with DuckDB's on (ticker, bucket): every row must
 * be on both sides with the same values (prices and volumes exactly, vwap to a
 * relative 1e-9 since its sum depends on the summation order).
 */
export async function compareBars(con: DuckDBConnection, interval: string, ours: string[], duck: string[]): Promise<Comparison> {
  const close = (a: string, b: string) => `((${a} IS NULL AND ${b} IS NULL) OR abs(${a} - ${b}) <= 1e-9 * greatest(1, abs(${b})))`;
  const same = [
    'a.start_date = b.start_date',
    'a.end_date = b.end_date',
    'a.open = b.open',
    'a.high = b.high',
    'a.low = b.low',
    'a.close = b.close',
    'a.volume = b.volume',
    close('a.vwap', 'b.vwap'),
    'a.transactions IS NOT DISTINCT FROM b.transactions',
    'a.n_days = b.n_days',
    'a.is_complete = b.is_complete',
  ].join(' AND ');
  const reader = await con.runAndReadAll(`
    WITH a AS (SELECT * FROM read_parquet(${sqlList(ours)})),
         b AS (SELECT * FROM read_parquet(${sqlList(duck)}))
    SELECT
      (SELECT count(*) FROM a)::BIGINT,
      (SELECT count(*) FROM b)::BIGINT,
      count(*) FILTER (WHERE b.ticker IS NULL)::BIGINT,
      count(*) FILTER (WHERE a.ticker IS NULL)::BIGINT,
      count(*) FILTER (WHERE a.ticker IS NOT NULL AND b.ticker IS NOT NULL AND NOT coalesce(${same}, false))::BIGINT,
      (SELECT sum(volume) FROM a)::DOUBLE, (SELECT sum(round(close * 10000))::HUGEINT FROM a)::DOUBLE, (SELECT sum(n_days) FROM a)::BIGINT,
      (SELECT sum(volume) FROM b)::DOUBLE, (SELECT sum(round(close * 10000))::HUGEINT FROM b)::DOUBLE, (SELECT sum(n_days) FROM b)::BIGINT
    FROM a FULL OUTER JOIN b ON a.ticker = b.ticker AND a.bucket = b.bucket`);
  const r = reader.getRows()[0]!.map((v) => Number(v));
  const [oursRows, duckRows, onlyOurs, onlyDuck, differ, ov, oc, on, dv, dc, dn] = r as [number, ...number[]];
  return {
    interval,
    oursRows,
    duckRows: duckRows!,
    onlyOurs: onlyOurs!,
    onlyDuck: onlyDuck!,
    differ: differ!,
    equal: oursRows === duckRows && onlyOurs === 0 && onlyDuck === 0 && differ === 0,
    checksums: { ours: { volume: ov!, closeE4: oc!, nDays: on! }, duck: { volume: dv!, closeE4: dc!, nDays: dn! } },
  };
}
