// DuckDB's version of the daily increment, on a year-partitioned copy of the
// history and of its bars: parse and validate the raw sessions (a corrected
// earlier one and the new one), merge each into its year of the daily
// history, then recompute, per interval, the buckets that hold them, with
// the rows of a ticker that split on the new session adjusted to the split
// basis of the bar's end date (ohlcv-core's layout), and rewrite the year
// partitions those buckets touch.
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

export interface DuckIncrementInput {
  /** Raw fetches to merge, the latest session last (a corrected earlier session may come first). */
  fetches: Array<{ session: string; rawFile: string }>;
  /** Splits executed on the latest session: ratio = split_to / split_from. At most one per ticker. */
  splits: Array<{ ticker: string; executionDate: string; ratio: number }>;
}

export async function duckIncrement(con: DuckDBConnection, stateDir: string, input: DuckIncrementInput): Promise<DuckIncrementResult> {
  const latest = input.fetches.at(-1)!.session;
  const tag = `${latest}-${Date.now()}`;
  await createSessions(con, latest);
  const latestIdx = nyse.sessionIndex(latest);
  const count = async (sql: string) => Number((await con.runAndReadAll(sql)).getRows()[0]![0]);
  const splitRows = input.splits.map((x) => `(${sqlString(x.ticker)}, DATE ${sqlString(x.executionDate)}, ${x.ratio})`);
  await con.run(
    `CREATE OR REPLACE TEMP TABLE splits AS SELECT col0 AS ticker, col1 AS exec, col2::DOUBLE AS ratio FROM (VALUES ${splitRows.length ? splitRows.join(', ') : "('', DATE '1990-01-01', 1)"}) WHERE col0 <> ''`,
  );
  let rowsIn = 0;
  let accepted = 0;
  let rowsRewritten = 0;
  const valid = `open > 0 AND high > 0 AND low > 0 AND close > 0 AND isfinite(open) AND isfinite(high) AND isfinite(low)
    AND isfinite(close) AND volume >= 0 AND isfinite(volume) AND low <= least(open, close) AND greatest(open, close) <= high`;
  for (const { session, rawFile } of input.fetches) {
    await con.run(`CREATE OR REPLACE TEMP TABLE raw AS
      SELECT row_number() OVER () AS ord, r.T AS ticker, DATE ${sqlString(session)} AS date, r.o AS open, r.h AS high,
             r.l AS low, r.c AS close, r.v AS volume, r.vw AS vwap, r.n AS transactions
      FROM (SELECT unnest(results) AS r FROM read_json(${sqlString(rawFile)}, format = 'array', columns = {results: '${RESULT_TYPE}'}))`);
    await con.run(`CREATE OR REPLACE TEMP TABLE fresh AS
      SELECT ticker, date, open, high, low, close, volume, vwap, transactions FROM raw WHERE coalesce(${valid}, false)
      QUALIFY row_number() OVER (PARTITION BY ticker ORDER BY volume DESC, ord) = 1`);
    rowsIn += await count('SELECT count(*) FROM raw');
    accepted += await count('SELECT count(*) FROM fresh');
    // The daily history: this session's year, the session replaced whole (the latest fetch wins).
    const yearDir = join(stateDir, 'daily', `year=${session.slice(0, 4)}`);
    const existing = parquetIn(yearDir);
    const merged = existing.length
      ? `SELECT * FROM read_parquet(${sqlList(existing)}, hive_partitioning = false) d WHERE d.date <> DATE ${sqlString(session)} UNION ALL SELECT * FROM fresh`
      : 'SELECT * FROM fresh';
    rowsRewritten += await rewritePartition(con, yearDir, merged, 'ticker, date', tag);
  }

  // Per interval, the buckets holding a fetched session (and the previous latest session's, whose
  // is_complete may flip), rows adjusted on the split basis of the bar's end date.
  const prevLatest = nyse.previousSession(latest);
  const buckets: Record<string, number> = {};
  for (const days of INTERVALS) {
    const wanted = [...new Set([...input.fetches.map((f) => f.session), prevLatest].map((s) => Math.floor(nyse.sessionIndex(s) / days)))].sort((a, b) => a - b);
    const first = nyse.sessionAt(wanted[0]! * days);
    const years: string[] = [];
    for (let y = Number(first.slice(0, 4)); y <= Number(latest.slice(0, 4)); y++) years.push(String(y));
    const dailyFiles = years.flatMap((y) => parquetIn(join(stateDir, 'daily', `year=${y}`)));
    const rows = `(SELECT d.*, s.idx FROM read_parquet(${sqlList(dailyFiles)}, hive_partitioning = false) d JOIN sessions s USING (date)
        WHERE d.date >= DATE ${sqlString(first)} AND s.idx // ${days} IN (${wanted.join(', ')}))`;
    const withEnd = `(SELECT r.*, max(r.date) OVER (PARTITION BY r.ticker, r.idx // ${days}) AS bar_end FROM ${rows} r)`;
    const adjusted = `(SELECT w.ticker, w.date, w.open / f.ratio AS open, w.high / f.ratio AS high, w.low / f.ratio AS low, w.close / f.ratio AS close,
        w.volume * f.ratio AS volume, w.vwap / f.ratio AS vwap, w.transactions, w.idx
      FROM ${withEnd} w JOIN (SELECT w2.ticker, w2.date, coalesce(max(sp.ratio), 1) AS ratio FROM ${withEnd} w2
        LEFT JOIN splits sp ON sp.ticker = w2.ticker AND w2.date < sp.exec AND sp.exec <= w2.bar_end GROUP BY w2.ticker, w2.date) f
      USING (ticker, date))`;
    await con.run(`CREATE OR REPLACE TEMP TABLE bucket_bars AS ${barsSql(adjusted, days, latestIdx)}`);
    buckets[`${days}d`] = await count('SELECT count(*) FROM bucket_bars');
    // Bars live in the year of their start date; rewrite every year partition a recomputed bucket can touch.
    for (const y of years) {
      const dir = join(stateDir, `ohlcv_${days}d`, `year=${y}`);
      const old = parquetIn(dir);
      const keep = old.length ? `SELECT * FROM read_parquet(${sqlList(old)}, hive_partitioning = false) WHERE bucket NOT IN (${wanted.join(', ')}) UNION ALL ` : '';
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
