// DuckDB's version of the daily increment, on a year-partitioned copy of the
// history and of its bars: parse and validate one raw session, merge it into
// its year of the daily history, then recompute, per interval, the one bucket
// that holds the new session and rewrite the year partitions it touches.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { INTERVALS, barsSql, createSessions, sqlList, sqlString } from './duckdb.js';

const RESULT_TYPE = 'STRUCT(T VARCHAR, o DOUBLE, h DOUBLE, l DOUBLE, c DOUBLE, v DOUBLE, vw DOUBLE, n BIGINT)[]';

export interface DuckIncrementResult {
  rowsIn: number;
  accepted: number;
  quarantined: number;
  /** Daily rows accepted plus bars recomputed (what changed, comparable with ours). */
  rowsOut: number;
  /** Rows written, counting the untouched rows of every rewritten partition. */
  rowsRewritten: number;
  buckets: Record<string, number>;
}

const parquetIn = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.parquet')).map((f) => join(dir, f)) : [];

/** Replaces a partition's files by one new file holding `select`. */
async function rewritePartition(con: DuckDBConnection, dir: string, select: string, orderBy: string, tag: string): Promise<number> {
  const old = parquetIn(dir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `part-${tag}.parquet`);
  const res = await con.run(`COPY (${select} ORDER BY ${orderBy}) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`);
  for (const f of old) if (f !== file) rmSync(f);
  return res.rowsChanged;
}

export async function duckIncrement(con: DuckDBConnection, stateDir: string, rawFile: string, session: string): Promise<DuckIncrementResult> {
  const tag = `${session}-${Date.now()}`;
  await createSessions(con, session);
  const latestIdx = nyse.sessionIndex(session);
  await con.run(`CREATE TEMP TABLE raw AS
    SELECT row_number() OVER () AS ord, r.T AS ticker, DATE ${sqlString(session)} AS date, r.o AS open, r.h AS high,
           r.l AS low, r.c AS close, r.v AS volume, r.vw AS vwap, r.n AS transactions
    FROM (SELECT unnest(results) AS r FROM read_json(${sqlString(rawFile)}, format = 'array', columns = {results: '${RESULT_TYPE}'}))`);
  const valid = `open > 0 AND high > 0 AND low > 0 AND close > 0 AND isfinite(open) AND isfinite(high) AND isfinite(low)
    AND isfinite(close) AND volume >= 0 AND isfinite(volume) AND low <= least(open, close) AND greatest(open, close) <= high`;
  await con.run(`CREATE TEMP TABLE fresh AS
    SELECT ticker, date, open, high, low, close, volume, vwap, transactions FROM raw WHERE coalesce(${valid}, false)
    QUALIFY row_number() OVER (PARTITION BY ticker ORDER BY volume DESC, ord) = 1`);
  const count = async (sql: string) => Number((await con.runAndReadAll(sql)).getRows()[0]![0]);
  const rowsIn = await count('SELECT count(*) FROM raw');
  const accepted = await count('SELECT count(*) FROM fresh');

  // The daily history: this session's year, with the new rows replacing any earlier ones of that date.
  const year = session.slice(0, 4);
  const yearDir = join(stateDir, 'daily', `year=${year}`);
  const existing = parquetIn(yearDir);
  const merged = existing.length
    ? `SELECT * FROM read_parquet(${sqlList(existing)}, hive_partitioning = false) d WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.ticker = d.ticker AND f.date = d.date)
       UNION ALL SELECT * FROM fresh`
    : 'SELECT * FROM fresh';
  let rowsRewritten = await rewritePartition(con, yearDir, merged, 'ticker, date', tag);

  const buckets: Record<string, number> = {};
  for (const days of INTERVALS) {
    const bucket = Math.floor(latestIdx / days);
    const first = nyse.sessionAt(bucket * days);
    const years: string[] = [];
    for (let y = Number(first.slice(0, 4)); y <= Number(year); y++) years.push(String(y));
    const dailyFiles = years.flatMap((y) => parquetIn(join(stateDir, 'daily', `year=${y}`)));
    await con.run(`CREATE OR REPLACE TEMP TABLE bucket_bars AS ${barsSql(
      `(SELECT d.*, s.idx FROM read_parquet(${sqlList(dailyFiles)}, hive_partitioning = false) d JOIN sessions s USING (date) WHERE d.date >= DATE ${sqlString(first)})`,
      days,
      latestIdx,
    )}`);
    buckets[`${days}d`] = await count('SELECT count(*) FROM bucket_bars');
    // Bars live in the year of their start date; the bucket may start in the previous year.
    for (const y of years) {
      const dir = join(stateDir, `ohlcv_${days}d`, `year=${y}`);
      const old = parquetIn(dir);
      const keep = old.length ? `SELECT * FROM read_parquet(${sqlList(old)}, hive_partitioning = false) WHERE bucket <> ${bucket} UNION ALL ` : '';
      const fresh = `SELECT * FROM bucket_bars WHERE year(start_date) = ${y}`;
      if (!old.length && (await count(`SELECT count(*) FROM (${fresh})`)) === 0) continue;
      rowsRewritten += await rewritePartition(con, dir, `${keep}${fresh}`, 'ticker, bucket', tag);
    }
  }
  const rowsOut = accepted + Object.values(buckets).reduce((a, b) => a + b, 0);
  return { rowsIn, accepted, quarantined: rowsIn - accepted, rowsOut, rowsRewritten, buckets };
}

/** Untimed set-up: the history and DuckDB's rebuilt bars, partitioned by year as a lake keeps them. */
export async function prepareDuckState(con: DuckDBConnection, dailyFiles: string[], barsDir: string, stateDir: string): Promise<void> {
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  await con.run(`COPY (SELECT *, year(date) AS year FROM read_parquet(${sqlList(dailyFiles)}, hive_partitioning = false) ORDER BY ticker, date)
    TO ${sqlString(join(stateDir, 'daily'))} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year), WRITE_PARTITION_COLUMNS false)`);
  for (const days of INTERVALS) {
    await con.run(`COPY (SELECT *, year(start_date) AS year FROM read_parquet(${sqlString(join(barsDir, `ohlcv_${days}d.parquet`))}) ORDER BY ticker, bucket)
      TO ${sqlString(join(stateDir, `ohlcv_${days}d`))} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (year), WRITE_PARTITION_COLUMNS false)`);
  }
}
