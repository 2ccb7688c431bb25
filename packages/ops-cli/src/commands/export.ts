import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { Ctx } from '../context.js';
import { positiveInt } from '../config.js';
import { UsageError } from '../errors.js';
import { count } from '../format.js';
import { normaliseTicker, openExistingLake, requireInterval, requireTickers } from '../lake-access.js';
import { adjustOption, example, identityOptions, jsonOption, lakeOption, type AdjustMode } from '../options.js';

export function registerExport(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('export')
    .description('write a committed dataset to CSV or Parquet (N=1 is the daily history, unadjusted; N>1 the split-adjusted bars)')
    .requiredOption('--days <n>', 'dataset: 1 for the daily history, or a configured interval (3, 5, 8, 13, 21, 34)')
    .addOption(new Option('--format <format>', 'file format (default: from --out\'s extension)').choices(['csv', 'parquet']))
    .requiredOption('--out <file>', 'output file (written atomically; an existing file is replaced)')
    .option('--tickers <list>', 'comma-separated tickers (default: all)')
    .option('--from <date>', 'first date (YYYY-MM-DD)')
    .option('--to <date>', 'last date (YYYY-MM-DD)');
  adjustOption(cmd, 'none for --days 1, splits for bars');
  identityOptions(cmd, 'ticker, the files as stored; security resamples at read time, slower for a whole universe');
  lakeOption(cmd);
  jsonOption(cmd);
  example(
    cmd,
    'fibbars export --days 1 --format csv --out daily.csv',
    'fibbars export --days 8 --format parquet --out bars_8d.parquet',
    'fibbars export --days 5 --tickers AOIZ,BHOQ --from 2026-09-01 --out aoiz-bhoq-5d.csv',
    'fibbars export --days 1 --adjust total-return --tickers AOIZ --out aoiz-total-return.csv',
    'fibbars export --days 5 --tickers AOIZ --identity security --out aoiz-5d-by-security.csv',
  );
  cmd.action((opts: ExportFlags) => runExport(ctx, opts));
}

interface ExportFlags {
  days: string;
  format?: 'csv' | 'parquet';
  out: string;
  tickers?: string;
  from?: string;
  to?: string;
  adjust?: AdjustMode;
  identity?: 'security' | 'ticker';
  asOf?: string;
  lake?: string;
  json?: boolean;
}

/** The export itself: every flag checked before the lake is opened, the file written atomically. */
async function runExport(ctx: Ctx, opts: ExportFlags): Promise<void> {
  const days = positiveInt('--days', opts.days, { max: 10_000 });
  const out = path.resolve(ctx.cwd, opts.out);
  const ext = path.extname(out).toLowerCase();
  const format = opts.format ?? (ext === '.csv' ? 'csv' : ext === '.parquet' ? 'parquet' : undefined);
  if (!format) throw new UsageError(`cannot tell the format of "${opts.out}": pass --format csv or --format parquet`);
  const dir = path.dirname(out);
  const stat = await fs.stat(dir).catch(() => null);
  if (!stat?.isDirectory()) throw new UsageError(`the folder of --out "${opts.out}" does not exist: create ${dir} first or pick another path`);
  const { parseIsoDate } = await import('../dates.js');
  const from = opts.from === undefined ? undefined : parseIsoDate('--from', opts.from, ctx.now());
  const to = opts.to === undefined ? undefined : parseIsoDate('--to', opts.to, ctx.now());
  if (from !== undefined && to !== undefined && from > to) {
    throw new UsageError(`--from ${from} is after --to ${to}: the range would be empty; swap them (--from ${to} --to ${from})`);
  }
  const identity = opts.identity ?? 'ticker';
  if (opts.asOf !== undefined && identity !== 'security') {
    throw new UsageError('--as-of resolves each symbol to the security it named on that date: use it with --identity security');
  }
  const asOf = opts.asOf === undefined ? undefined : parseIsoDate('--as-of', opts.asOf, ctx.now());
  const tickers = opts.tickers?.split(',').filter((t) => t.trim() !== '').map(normaliseTicker);
  if (opts.tickers !== undefined && tickers?.length === 0) {
    throw new UsageError(`--tickers "${opts.tickers}" names no ticker: pass a comma-separated list, e.g. --tickers AOIZ,BHOQ, or leave it out for all`);
  }

  const cfg = ctx.config({ lake: opts.lake });
  const opened = await openExistingLake(cfg);
  const dataset = days === 1 ? 'ohlcv_1d' : requireInterval(opened, days);
  // A symbol --as-of names may be one the security no longer trades under: the read says so itself.
  if (tickers && asOf === undefined) await requireTickers(opened, tickers);
  const df = await opened.lake.read(dataset, {
    ...(tickers ? { tickers } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    ...(opts.adjust ? { adjust: opts.adjust } : {}),
    ...(identity === 'security' ? { identity: 'security' as const, ...(asOf ? { asOf } : {}) } : {}),
  });
  if (tickers && identity === 'security' && df.height === 0) {
    throw new UsageError(`no security traded under ${tickers.join(', ')}${asOf ? ` on ${asOf}` : ''} in the lake's daily history: check the symbols ("fibbars tickers ..." shows a symbol's history)`);
  }
  const tmp = path.join(dir, `.${path.basename(out)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    if (format === 'csv') await df.writeCSV(tmp);
    else await df.writeParquet(tmp, { compression: 'zstd' });
    await fs.rename(tmp, out);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  const bytes = (await fs.stat(out)).size;
  const adjust = opts.adjust ?? (days === 1 ? 'none' : 'splits');
  const result = { dataset, format, adjust, identity, ...(asOf ? { asOf } : {}), out, rows: df.height, columns: df.columns, bytes };
  if (opts.json) ctx.log.json(result);
  else ctx.log.out(`wrote ${count(df.height)} rows of ${dataset} (${df.columns.length} columns, ${count(bytes)} bytes) to ${opts.out} as ${format} (${adjust === 'none' ? 'unadjusted' : adjust === 'splits' ? 'split-adjusted' : 'total-return'}${identity === 'security' ? ', by security' : ''})`);
}
