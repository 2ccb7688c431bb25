import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type pl from 'nodejs-polars';
import type { Dataset } from '@fibbars/ohlcv-core';
import type { Ctx } from '../context.js';
import { positiveInt } from '../config.js';
import { UsageError } from '../errors.js';
import { count, table } from '../format.js';
import { intervalOf, openExistingLake, plain, type OpenedLake } from '../lake-access.js';
import { adjustOption, example, lakeOption, type AdjustMode } from '../options.js';

export type SqlFormat = 'table' | 'csv' | 'json' | 'parquet';

/** The table of the rows that `readQuarantine` returns (rejected daily rows with their `reason`). */
export const QUARANTINE_TABLE = 'quarantine' as const;

/** Tables a query can name: every committed dataset, and the quarantine. */
export function sqlTables(opened: OpenedLake): (Dataset | typeof QUARANTINE_TABLE)[] {
  return [...opened.datasets, ...(opened.datasets.includes('ohlcv_1d') ? [QUARANTINE_TABLE] : [])];
}

/** The tables a query mentions (as whole words, any case): only those are scanned. */
export function referencedTables<T extends string>(query: string, tables: readonly T[]): T[] {
  return tables.filter((t) => new RegExp(`(^|[^A-Za-z0-9_])${t}($|[^A-Za-z0-9_])`, 'i').test(query));
}

/**
 * Runs one SQL statement with Polars' SQL context over lazy scans of the
 * committed datasets the query names, read through the lake API: bars come
 * back split-adjusted exactly as `lake.read` returns them. Errors of the
 * query itself are usage errors naming the problem and the tables.
 */
export async function runSql(opened: OpenedLake, query: string, adjust?: AdjustMode): Promise<pl.DataFrame> {
  const tables = sqlTables(opened);
  const used = referencedTables(query, tables);
  // Polars is loaded when a query runs, not when the CLI starts (--help stays fast).
  const { default: polars } = await import('nodejs-polars');
  const ctx = polars.SQLContext();
  for (const name of used) {
    const prices = adjust !== undefined && intervalOf(name) !== undefined;
    ctx.register(name, name === QUARANTINE_TABLE ? (await opened.lake.readQuarantine()).lazy() : await opened.lake.scan(name, prices ? { adjust } : {}));
  }
  const lf = ctx.execute(query);
  // nodejs-polars 0.25.2 does not throw on a query it cannot plan: the native
  // context returns the error, which the wrapper stores as the frame.
  const native = (lf as unknown as { _ldf?: unknown })._ldf;
  if (Object.prototype.toString.call(native) === '[object Error]') throw sqlError((native as Error).message, tables);
  try {
    return await lf.collect();
  } catch (err) {
    throw sqlError(err instanceof Error ? err.message : String(err), tables);
  }
}

function sqlError(message: string, tables: readonly string[]): UsageError {
  const first = message.split('\n').find((l) => l.trim() !== '')?.trim() ?? message;
  return new UsageError(`SQL error: ${first} (tables: ${tables.join(', ')})`);
}

/** Rows as plain JSON values: dates as YYYY-MM-DD, datetimes as ISO instants. */
export function sqlRecords(df: pl.DataFrame): Record<string, unknown>[] {
  const dt = new Set(df.columns.filter((c) => df.getColumn(c).dtype.variant === 'Datetime'));
  return df.toRecords().map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, dt.has(k) && v !== null && v !== undefined ? new Date(v as unknown as string | number).toISOString() : plain(v)]),
    ),
  );
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function registerSql(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('sql')
    .description('run one SQL query (Polars SQL) over the committed datasets: ohlcv_1d (unadjusted), ohlcv_<N>d (split-adjusted bars), splits, dividends, tickers, quarantine')
    .argument('<query>', 'one SELECT statement; quote it for the shell')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'csv', 'json', 'parquet']).default('table'))
    .option('--json', 'same as --format json')
    .option('--out <file>', 'write the result to this file instead of stdout (needed for parquet)')
    .option('--max-rows <n>', 'rows printed by --format table', '100');
  adjustOption(cmd, 'ohlcv_1d none, bars splits; when given, every price table is read with it');
  lakeOption(cmd);
  example(
    cmd,
    `fibbars sql "SELECT ticker, count(*) AS rows, max(date) AS last FROM ohlcv_1d GROUP BY ticker ORDER BY rows DESC LIMIT 5"`,
    `fibbars sql "SELECT * FROM ohlcv_5d WHERE ticker = 'AOIZ' ORDER BY start_date DESC LIMIT 3"`,
    `fibbars sql "SELECT b.ticker, t.name, b.close FROM ohlcv_21d b JOIN tickers t ON b.ticker = t.ticker WHERE b.is_complete LIMIT 5" --format csv`,
    `fibbars sql "SELECT * FROM ohlcv_8d WHERE start_date >= '2026-01-01'" --format parquet --out bars_8d_2026.parquet`,
    `fibbars sql "SELECT ticker, last(close) / first(close) - 1 AS total_return FROM ohlcv_1d GROUP BY ticker" --adjust total-return`,
  );
  cmd.addHelpText(
    'after',
    `
Dates compare with ISO strings (date >= '2026-01-02'). Tables are read through
the lake API from their latest commit. To query the lake from DuckDB instead,
"fibbars duckdb-views --out views.sql" writes the same tables as views.
`,
  );
  cmd.action(async (query: string, opts: { format: SqlFormat; json?: boolean; out?: string; maxRows: string; adjust?: AdjustMode; lake?: string }) => {
    const format: SqlFormat = opts.json ? 'json' : opts.format;
    if (query.trim() === '') throw new UsageError('the query is empty: pass one SELECT statement, e.g. fibbars sql "SELECT count(*) FROM ohlcv_1d"');
    const maxRows = positiveInt('--max-rows', opts.maxRows);
    if (format === 'parquet' && opts.out === undefined) {
      throw new UsageError('--format parquet writes a file: add --out FILE.parquet');
    }
    const out = opts.out === undefined ? undefined : path.resolve(ctx.cwd, opts.out);
    if (out) {
      const stat = await fs.stat(path.dirname(out)).catch(() => null);
      if (!stat?.isDirectory()) throw new UsageError(`the folder of --out "${opts.out}" does not exist: create ${path.dirname(out)} first or pick another path`);
    }
    const cfg = ctx.config({ lake: opts.lake });
    const opened = await openExistingLake(cfg);
    const df = await runSql(opened, query, opts.adjust);

    if (out) {
      const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${randomBytes(4).toString('hex')}.tmp`);
      try {
        if (format === 'parquet') await df.writeParquet(tmp, { compression: 'zstd' });
        else if (format === 'csv') await df.writeCSV(tmp);
        else await fs.writeFile(tmp, format === 'json' ? `${JSON.stringify(sqlRecords(df), null, 2)}\n` : `${tableLines(df, df.height).join('\n')}\n`);
        await fs.rename(tmp, out);
      } finally {
        await fs.rm(tmp, { force: true });
      }
      ctx.log.info(`wrote ${count(df.height)} rows (${df.columns.length} columns) to ${opts.out} as ${format}`);
      return;
    }
    if (format === 'json') ctx.log.json(sqlRecords(df));
    else if (format === 'csv') ctx.log.stdout.write(df.writeCSV().toString());
    else {
      for (const l of tableLines(df, maxRows)) ctx.log.out(l);
      ctx.log.out(
        df.height > maxRows
          ? `${count(df.height)} rows, ${count(maxRows)} shown (raise --max-rows, or use --format csv)`
          : `${count(df.height)} row${df.height === 1 ? '' : 's'}`,
      );
    }
  });
}

function tableLines(df: pl.DataFrame, maxRows: number): string[] {
  const rows = sqlRecords(df.head(maxRows));
  const numeric = df.columns.map((c) => df.getColumn(c).isNumeric());
  return table(
    df.columns,
    rows.map((r) => df.columns.map((c) => cell(r[c]))),
    numeric.map((n) => (n ? 'r' : 'l')),
  );
}
