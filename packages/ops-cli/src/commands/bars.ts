import { Option, type Command } from 'commander';
import type { Ctx } from '../context.js';
import { positiveInt } from '../config.js';
import { UnknownTickerError, UsageError } from '../errors.js';
import { num, PRICE_DECIMALS, round, table } from '../format.js';
import { normaliseTicker, openExistingLake, plainRecords, requireInterval, requireTickerDaily, type OpenedLake } from '../lake-access.js';
import { adjustLabel, adjustOption, example, identityOptions, jsonOption, lakeOption, type AdjustMode } from '../options.js';
import { loadCore, type Anchor, type DataFrameLike } from '../seams.js';

/** One bar as printed: prices rounded to PRICE_DECIMALS, volume to 2 decimals (split-adjusted volumes can be fractional). */
export interface BarRow {
  start_date: string;
  end_date: string;
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  volume: number | null;
  vwap: number | null;
  n_days: number;
  is_complete: boolean;
  /** The symbol in force on `end_date` (it differs from the one asked for across a rename). */
  ticker?: string;
}

export function toBarRows(records: Record<string, unknown>[]): BarRow[] {
  return records.map((r) => ({
    start_date: String(r.start_date ?? r.date),
    end_date: String(r.end_date ?? r.date),
    open: round(r.open, PRICE_DECIMALS),
    high: round(r.high, PRICE_DECIMALS),
    low: round(r.low, PRICE_DECIMALS),
    close: round(r.close, PRICE_DECIMALS),
    volume: round(r.volume, 2),
    vwap: round(r.vwap, PRICE_DECIMALS),
    n_days: Number(r.n_days ?? 1),
    is_complete: r.is_complete === undefined ? true : Boolean(r.is_complete),
    ...(typeof r.ticker === 'string' ? { ticker: r.ticker } : {}),
  }));
}

/**
 * The ticker's N-day bars under an anchor, adjusted as `adjust` says
 * (default split-adjusted). The calendar anchor reads the committed dataset;
 * `ticker` and `latest` are computed from the committed daily history at
 * read time (they are never stored).
 */
export async function loadBars(opened: OpenedLake, ticker: string, days: number, anchor: Anchor, adjust: AdjustMode = 'splits', identity?: IdentityChoice): Promise<BarRow[]> {
  if (identity?.by === 'security') return loadSecurityBars(opened, ticker, days, anchor, adjust, identity.asOf);
  const daily = await requireTickerDaily(opened, ticker);
  let bars: DataFrameLike;
  if (anchor === 'calendar' && days > 1) {
    bars = await opened.lake.read(requireInterval(opened, days), { tickers: [ticker], adjust });
  } else {
    const core = await loadCore();
    const reference = async (name: 'splits' | 'dividends') => (opened.datasets.includes(name) ? await opened.lake.read(name, { tickers: [ticker] }) : undefined);
    const [splits, dividends] = await Promise.all([reference('splits'), adjust === 'total-return' ? reference('dividends') : undefined]);
    bars = await core.resample(daily, { days, anchor, adjust, ...(splits ? { splits } : {}), ...(dividends ? { dividends } : {}) });
  }
  const rows = toBarRows(plainRecords(bars));
  return rows.sort((a, b) => (a.start_date < b.start_date ? -1 : a.start_date > b.start_date ? 1 : 0));
}

/** How `bars` and `plot` key a history: by security across symbol changes (optionally resolving the symbol as of a date), or by symbol. */
export interface IdentityChoice {
  by: 'security' | 'ticker';
  asOf?: string;
}

/**
 * Bars of the security `symbol` names (as of `asOf`): one history across its
 * symbol changes. The daily rows come adjusted from the lake; calendar bars
 * are the lake's own security read (the stored interval's anchor and latest
 * session), `ticker` and `latest` anchors are resampled from those rows.
 */
async function loadSecurityBars(opened: OpenedLake, symbol: string, days: number, anchor: Anchor, adjust: AdjustMode, asOf: string | undefined): Promise<BarRow[]> {
  const read = { tickers: [symbol], identity: 'security' as const, adjust, ...(asOf ? { asOf } : {}) };
  const daily = await opened.lake.read('ohlcv_1d', read);
  if (daily.height === 0) {
    throw new UnknownTickerError(
      `unknown ticker ${symbol}${asOf ? ` on ${asOf}` : ''}: no security traded under it in the lake's daily history; check the symbol ("fibbars tickers ${symbol.slice(0, 2)}*" lists similar ones)`,
    );
  }
  let bars: DataFrameLike;
  if (days === 1) bars = daily;
  else if (anchor === 'calendar') bars = await opened.lake.read(requireInterval(opened, days), read);
  else {
    const core = await loadCore();
    const keyed = daily.drop('ticker').rename({ security_id: 'ticker' });
    bars = (await core.resample(keyed, { days, anchor, adjust: 'none' })).drop('ticker');
  }
  const symbolOn = new Map(plainRecords(daily).map((r) => [String(r.date), String(r.ticker)]));
  return toBarRows(plainRecords(bars))
    .map((b) => ({ ...b, ticker: b.ticker ?? symbolOn.get(b.end_date) ?? symbol }))
    .sort((a, b) => (a.start_date < b.start_date ? -1 : a.start_date > b.start_date ? 1 : 0));
}

/** `--identity` / `--as-of` as given, checked: security is the default once the lake keeps a ticker history. */
export async function identityChoice(opened: OpenedLake, opts: { identity?: 'security' | 'ticker'; asOf?: string }, now: Date): Promise<IdentityChoice> {
  const by = opts.identity ?? (opened.datasets.includes('ticker_history') ? 'security' : 'ticker');
  if (opts.asOf === undefined) return { by };
  if (by !== 'security') throw new UsageError('--as-of resolves the symbol to the security it named on that date: use it with --identity security (the default once the lake has a ticker history)');
  const { parseIsoDate } = await import('../dates.js');
  return { by, asOf: parseIsoDate('--as-of', opts.asOf, now) };
}

export function registerBars(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('bars')
    .description('print a ticker\'s N-session bars (split-adjusted, or --adjust total-return) from the committed lake')
    .argument('<ticker>', 'ticker symbol, e.g. AOIZ (see fibbars tickers)')
    .requiredOption('--days <n>', 'bar length in sessions (1 = daily; a configured interval: 3, 5, 8, 13, 21, 34)')
    .option('--last <k>', 'only the last K bars', '20')
    .addOption(new Option('--anchor <anchor>', 'bucket alignment').choices(['calendar', 'ticker', 'latest']).default('calendar'));
  adjustOption(cmd, 'splits');
  identityOptions(cmd);
  lakeOption(cmd);
  jsonOption(cmd);
  example(
    cmd,
    'fibbars bars AOIZ --days 5 --last 10',
    'fibbars bars BHOQ --days 8 --anchor latest --json',
    'fibbars bars AOIZ --days 21 --adjust total-return',
    'fibbars bars AOIZ --days 34 --as-of 2026-09-01',
  );
  cmd.action(async (tickerArg: string, opts: { days: string; last: string; anchor: Anchor; adjust?: AdjustMode; identity?: 'security' | 'ticker'; asOf?: string; lake?: string; json?: boolean }) => {
    const adjust = opts.adjust ?? 'splits';
    const days = positiveInt('--days', opts.days, { max: 10_000 });
    const last = positiveInt('--last', opts.last);
    const ticker = normaliseTicker(tickerArg);
    const cfg = ctx.config({ lake: opts.lake });
    const opened = await openExistingLake(cfg);
    if (days > 1) requireInterval(opened, days);
    const identity = await identityChoice(opened, opts, ctx.now());
    const bars = (await loadBars(opened, ticker, days, opts.anchor, adjust, identity)).slice(-last);
    const symbols = [...new Set(bars.map((b) => b.ticker ?? ticker))];
    if (opts.json) {
      ctx.log.json({ ticker, days, anchor: opts.anchor, adjust, identity: identity.by, ...(identity.asOf ? { asOf: identity.asOf } : {}), bars });
      return;
    }
    // Daily bars have no buckets, so no anchor to name.
    const label = adjustLabel(adjust, days);
    ctx.log.out(`${ticker} ${days === 1 ? `daily bars (${label})` : `${days}-session bars (anchor ${opts.anchor}, ${label})`}, last ${bars.length}`);
    // One security under several symbols: say so, and show each bar's symbol.
    if (symbols.length > 1) ctx.log.out(`traded as ${symbols.join(', ')} over these bars (one security; the ticker column is the symbol on each bar's end date)`);
    const lines = table(
      ['start', 'end', 'open', 'high', 'low', 'close', 'volume', 'vwap', 'days', 'complete', ...(symbols.length > 1 ? ['ticker'] : [])],
      bars.map((b) => [
        b.start_date,
        b.end_date,
        num(b.open),
        num(b.high),
        num(b.low),
        num(b.close),
        num(b.volume),
        num(b.vwap),
        String(b.n_days),
        b.is_complete ? 'yes' : 'no',
        ...(symbols.length > 1 ? [b.ticker ?? ticker] : []),
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'l'],
    );
    for (const l of lines) ctx.log.out(l);
  });
}
