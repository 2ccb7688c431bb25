import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { positiveInt } from '../config.js';
import { CommandFailedError, UsageError } from '../errors.js';
import { count, table } from '../format.js';
import { openExistingLake, plainRecords } from '../lake-access.js';
import { example, jsonOption, lakeOption } from '../options.js';

export interface TickerRow {
  ticker: string;
  name: string | null;
  type: string | null;
  exchange: string | null;
  active: boolean | null;
  /** First and last session with a row in the daily history, null when it has none. */
  first: string | null;
  last: string | null;
  rows: number;
}

/**
 * A PATTERN with `*` or `?` is a glob on the symbol (`A*`, `?OIZ`); any other
 * text matches symbols and names that contain it. Both ignore case.
 */
export function tickerMatcher(pattern: string | undefined): (t: { ticker: string; name: string | null }) => boolean {
  if (pattern === undefined || pattern.trim() === '') return () => true;
  const p = pattern.trim().toUpperCase();
  if (/[*?]/.test(p)) {
    const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\/-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return (t) => re.test(t.ticker);
  }
  return (t) => t.ticker.includes(p) || (t.name ?? '').toUpperCase().includes(p);
}

export function registerTickers(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('tickers')
    .description('the universe: symbols from the ticker snapshot with their first and last session and row count in the lake')
    .argument('[pattern]', 'a glob on the symbol (A*, ?OIZ) or text found in the symbol or name (case-insensitive)')
    .option('--active', 'only tickers listed as active')
    .option('--delisted', 'only delisted tickers')
    .option('--limit <n>', 'rows printed in the text output (all with --json)', '50');
  lakeOption(cmd);
  jsonOption(cmd);
  example(cmd, 'fibbars tickers --active --limit 5', 'fibbars tickers "AO*"', 'fibbars tickers holdings --delisted --json');
  cmd.action(async (pattern: string | undefined, opts: { active?: boolean; delisted?: boolean; limit: string; lake?: string; json?: boolean }) => {
    if (opts.active && opts.delisted) throw new UsageError('--active and --delisted exclude each other: pass one of them, or neither for all tickers');
    const limit = positiveInt('--limit', opts.limit);
    const cfg = ctx.config({ lake: opts.lake });
    const opened = await openExistingLake(cfg);
    // Polars is loaded when the command runs, not when the CLI starts (--help stays fast).
    const { default: pl } = await import('nodejs-polars');
    // Aggregated from a scan of two columns: the history is never materialised.
    const stats = await (await opened.lake.scan('ohlcv_1d'))
      .select('ticker', 'date')
      .groupBy('ticker')
      .agg(pl.col('date').min().alias('first'), pl.col('date').max().alias('last'), pl.col('date').count().alias('rows'))
      .collect();
    const snapshot = opened.datasets.includes('tickers') ? await opened.lake.read('tickers') : undefined;
    const byTicker = new Map<string, TickerRow>();
    for (const r of snapshot ? plainRecords(snapshot) : []) {
      const ticker = String(r.ticker);
      byTicker.set(ticker, {
        ticker,
        name: (r.name as string | null) ?? null,
        type: (r.type as string | null) ?? null,
        exchange: (r.primary_exchange as string | null) ?? null,
        active: typeof r.active === 'boolean' ? r.active : null,
        first: null,
        last: null,
        rows: 0,
      });
    }
    for (const r of plainRecords(stats)) {
      const ticker = String(r.ticker);
      const row = byTicker.get(ticker) ?? { ticker, name: null, type: null, exchange: null, active: null, first: null, last: null, rows: 0 };
      byTicker.set(ticker, { ...row, first: String(r.first), last: String(r.last), rows: Number(r.rows) });
    }
    const matches = tickerMatcher(pattern);
    const rows = [...byTicker.values()]
      .filter((t) => matches(t))
      .filter((t) => (opts.active ? t.active === true : opts.delisted ? t.active === false : true))
      .sort((a, b) => (a.ticker < b.ticker ? -1 : a.ticker > b.ticker ? 1 : 0));
    const which = opts.active ? 'active ' : opts.delisted ? 'delisted ' : '';
    if (opts.json) ctx.log.json({ pattern: pattern ?? null, tickers: rows });
    if (rows.length === 0) {
      throw new CommandFailedError(
        `no ${which}ticker matches${pattern ? ` "${pattern}"` : ''} among ${count(byTicker.size)} in lake ${cfg.lakeInput}: try a shorter pattern, or "fibbars tickers" for all`,
      );
    }
    if (opts.json) return;
    const shown = rows.slice(0, limit);
    const lines = table(
      ['ticker', 'name', 'type', 'exchange', 'status', 'first', 'last', 'rows'],
      shown.map((t) => [
        t.ticker,
        t.name ?? '-',
        t.type ?? '-',
        t.exchange ?? '-',
        t.active === null ? '-' : t.active ? 'active' : 'delisted',
        t.first ?? '-',
        t.last ?? '-',
        count(t.rows),
      ]),
      ['l', 'l', 'l', 'l', 'l', 'l', 'l', 'r'],
    );
    for (const l of lines) ctx.log.out(l);
    const more = rows.length - shown.length;
    ctx.log.out(`${count(rows.length)} ${which}ticker${rows.length === 1 ? '' : 's'}${more > 0 ? `, ${count(more)} not shown (raise --limit or use --json)` : ''}`);
  });
}
