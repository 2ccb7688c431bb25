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
  /** The security the symbol names (its latest one), and every symbol that security had, oldest first. */
  security_id: string | null;
  history: Array<{ ticker: string; from: string | null; to: string | null }>;
}

/** The security of `t` (in force at its last row, else now) and that security's symbols, from `ticker_history`. */
function historyOf(intervals: readonly TickerIntervalLike[], t: TickerRow): Pick<TickerRow, 'security_id' | 'history'> {
  const own = intervals.filter((i) => i.ticker === t.ticker);
  if (own.length === 0) return { security_id: null, history: [] };
  const at = t.last;
  const holds = (i: TickerIntervalLike) => at === null || ((i.from === null || i.from <= at) && (i.to === null || i.to >= at));
  const pick = own.filter(holds).sort((a, b) => (a.source === 'events' ? 0 : 1) - (b.source === 'events' ? 0 : 1))[0] ?? own[0]!;
  const history = intervals
    .filter((i) => i.securityId === pick.securityId)
    .sort((a, b) => ((a.from ?? '') < (b.from ?? '') ? -1 : 1))
    .map((i) => ({ ticker: i.ticker, from: i.from, to: i.to }));
  return { security_id: pick.securityId, history };
}

/** For each symbol whose security traded under other symbols too: its history, oldest first. */
function historyLines(rows: readonly TickerRow[]): string[] {
  return rows
    .filter((r) => r.history.length > 1)
    .map((t) => `${t.ticker}: security ${t.security_id}, ${t.history.map((h) => `${h.ticker} ${h.from ?? '…'} .. ${h.to ?? 'now'}`).join(', ')}`);
}

interface TickerIntervalLike {
  securityId: string;
  ticker: string;
  from: string | null;
  to: string | null;
  source: string;
}

function intervalsFrom(records: Record<string, unknown>[]): TickerIntervalLike[] {
  const iso = (v: unknown) => (v === null || v === undefined ? null : String(v).slice(0, 10));
  return records.map((r) => ({ securityId: String(r.security_id), ticker: String(r.ticker), from: iso(r.from_date), to: iso(r.to_date), source: String(r.source) }));
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
    const intervals = opened.datasets.includes('ticker_history') ? intervalsFrom(plainRecords(await opened.lake.read('ticker_history'))) : [];
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
        security_id: null,
        history: [],
      });
    }
    for (const r of plainRecords(stats)) {
      const ticker = String(r.ticker);
      const row = byTicker.get(ticker) ?? { ticker, name: null, type: null, exchange: null, active: null, first: null, last: null, rows: 0, security_id: null, history: [] };
      byTicker.set(ticker, { ...row, first: String(r.first), last: String(r.last), rows: Number(r.rows) });
    }
    for (const row of byTicker.values()) Object.assign(row, historyOf(intervals, row));
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
    for (const l of historyLines(shown)) ctx.log.out(l);
    const more = rows.length - shown.length;
    ctx.log.out(`${count(rows.length)} ${which}ticker${rows.length === 1 ? '' : 's'}${more > 0 ? `, ${count(more)} not shown (raise --limit or use --json)` : ''}`);
  });
}
