import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { isS3Uri } from '../config.js';
import { UsageError } from '../errors.js';
import { intervalOf, openExistingLake, type OpenedLake } from '../lake-access.js';
import { example, lakeOption } from '../options.js';

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
const END_DATE_BASIS = 'end-date';

function fileList(root: string, files: readonly { path: string }[]): string {
  return `[${files.map((f) => quote(`${root}/${f.path}`)).join(', ')}]`;
}

/**
 * A DuckDB script of one view per committed dataset, over exactly the files
 * of its head commit, with the split factors LAKE.md describes applied to
 * the bars: `SELECT * FROM ohlcv_5d` in DuckDB then equals `lake.read`. The
 * file lists are a snapshot: the script is re-made after each run.
 */
export async function duckdbViews(opened: OpenedLake, lakeUri: string, now: Date): Promise<string> {
  const root = lakeUri.replace(/\/+$/, '');
  const out = [
    `-- DuckDB views of the fibbars lake ${root}, as committed at ${now.toISOString()}.`,
    '-- Each view reads exactly the files of its dataset\'s head commit; bars are split-adjusted as lake.read returns them.',
    '-- Re-create the views after each run: the next commit lists other files. Requires DuckDB 1.1 or later.',
  ];
  if (isS3Uri(root)) out.push('INSTALL httpfs;', 'LOAD httpfs;', '-- and an S3 secret: CREATE SECRET (TYPE s3, PROVIDER credential_chain);');
  for (const dataset of opened.datasets) {
    const head = await opened.lake.head(dataset);
    if (!head || head.files.length === 0) {
      out.push(`-- ${dataset}: its head commit lists no files (an empty dataset), so no view.`);
      continue;
    }
    const files = fileList(root, head.files);
    const splitsVersion = Number(head.meta['splitsVersion'] ?? 0);
    const splits = intervalOf(dataset) !== undefined && dataset !== 'ohlcv_1d' && head.meta['basis'] === END_DATE_BASIS && splitsVersion > 0
      ? await opened.lake.commitAt('splits', splitsVersion)
      : null;
    if (!splits || splits.files.length === 0) {
      out.push(`CREATE OR REPLACE VIEW ${dataset} AS SELECT * FROM read_parquet(${files}, hive_partitioning = false);`);
      continue;
    }
    out.push(
      `CREATE OR REPLACE VIEW ${dataset} AS
WITH factors AS (
  SELECT ticker, execution_date,
         product(split_to / split_from) OVER (
           PARTITION BY ticker ORDER BY execution_date DESC
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS factor
  FROM read_parquet(${fileList(root, splits.files)}, hive_partitioning = false)
)
SELECT b.ticker, b.start_date, b.end_date,
       b.open   / coalesce(f.factor, 1) AS open,
       b.high   / coalesce(f.factor, 1) AS high,
       b.low    / coalesce(f.factor, 1) AS low,
       b.close  / coalesce(f.factor, 1) AS close,
       b.volume * coalesce(f.factor, 1) AS volume,
       b.vwap   / coalesce(f.factor, 1) AS vwap,
       b.transactions, b.n_days, b.bucket, b.is_complete
FROM read_parquet(${files}, hive_partitioning = false) AS b
ASOF LEFT JOIN factors AS f ON b.ticker = f.ticker AND b.end_date < f.execution_date;`,
    );
  }
  const daily = await opened.lake.head('ohlcv_1d');
  if (daily && daily.quarantine.length > 0) {
    out.push(`CREATE OR REPLACE VIEW quarantine AS SELECT * FROM read_parquet(${fileList(root, daily.quarantine)}, hive_partitioning = false);`);
  }
  return `${out.join('\n')}\n`;
}

export function registerDuckdbViews(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('duckdb-views')
    .description('write a DuckDB script that creates one view per committed dataset (bars split-adjusted), for reading the lake with DuckDB')
    .option('--out <file>', 'write the script to this file instead of stdout');
  lakeOption(cmd);
  example(cmd, 'fibbars duckdb-views --out views.sql');
  cmd.addHelpText('after', '\nThen, in DuckDB: .read views.sql  and  SELECT * FROM ohlcv_5d WHERE ticker = \'AOIZ\' ORDER BY start_date;\n');
  cmd.action(async (opts: { out?: string; lake?: string }) => {
    const out = opts.out === undefined ? undefined : path.resolve(ctx.cwd, opts.out);
    if (out) {
      const stat = await fs.stat(path.dirname(out)).catch(() => null);
      if (!stat?.isDirectory()) throw new UsageError(`the folder of --out "${opts.out}" does not exist: create ${path.dirname(out)} first or pick another path`);
    }
    const cfg = ctx.config({ lake: opts.lake });
    const opened = await openExistingLake(cfg);
    const script = await duckdbViews(opened, cfg.lake, ctx.now());
    if (!out) {
      ctx.log.stdout.write(script);
      return;
    }
    const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await fs.writeFile(tmp, script);
      await fs.rename(tmp, out);
    } finally {
      await fs.rm(tmp, { force: true });
    }
    ctx.log.info(`wrote DuckDB views of ${opened.datasets.length} datasets to ${opts.out}: run it with duckdb -c ".read ${opts.out}"`);
  });
}
