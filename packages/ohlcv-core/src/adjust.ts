// Read-time adjustment for cash dividends (total return), from cumulative
// factors like splits (LAKE.md, "Dividends and total return"). Nothing here
// is ever written into the daily history or the bar files.
import pl from 'nodejs-polars';
import type { DataFrame, Expr, LazyDataFrame } from 'nodejs-polars';
import { epochDayToIso } from './dates.js';
import { ConfigError } from './errors.js';
import { once } from './memo.js';
import type { TickerFactors } from './resample.js';
import { BAR_SCHEMA, DIVIDENDS_SCHEMA, conform } from './schemas.js';

/**
 * How prices are adjusted when read: `splits` (backwards to the latest split,
 * the default for bars), `total-return` (splits, then cash dividends
 * reinvested), `none` (as stored: `ohlcv_1d` as received; bars on the split
 * basis of their end date).
 */
export type Adjust = 'splits' | 'total-return' | 'none';
export const ADJUST_MODES: readonly Adjust[] = Object.freeze(['splits', 'total-return', 'none']);

/** `value` as an `Adjust` mode, or `ConfigError` naming the modes. */
export function parseAdjust(value: unknown): Adjust {
  if (typeof value === 'string' && (ADJUST_MODES as readonly string[]).includes(value)) return value as Adjust;
  throw new ConfigError(`adjust ${JSON.stringify(value)} is not one of ${ADJUST_MODES.join(', ')}`);
}

/** Dividend currencies the adjustment applies (prices are in US dollars; no FX data is kept). */
const APPLIED_CURRENCIES = new Set(['USD']);

/** One ex-date of a ticker: cash summed over the distributions going ex that day. */
interface ExEvent {
  ticker: string;
  ex: number;
  cash: number;
}

/** The product of the split ratios executed strictly after `day` (1 with none). */
function splitFactorAfter(table: ReadonlyMap<string, TickerFactors> | null, ticker: string, day: number): number {
  const f = table?.get(ticker);
  if (!f) return 1;
  // First split executed after `day`: its cumulative factor covers it and every later one.
  let lo = 0;
  let hi = f.day.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (f.day[mid]! > day) hi = mid;
    else lo = mid + 1;
  }
  return lo < f.day.length ? f.factor[lo]! : 1;
}

function exEvents(dividends: DataFrame): ExEvent[] {
  const d = conform(dividends, DIVIDENDS_SCHEMA)
    .filter(pl.col('currency').isNull().or(pl.col('currency').isIn([...APPLIED_CURRENCIES])))
    .groupBy(['ticker', 'ex_dividend_date'])
    .agg(pl.col('cash_amount').sum().alias('cash'))
    .select(pl.col('ticker'), pl.col('ex_dividend_date').cast(pl.Int32).alias('ex'), pl.col('cash'))
    .sort(['ticker', 'ex']);
  const ticker = d.getColumn('ticker').toArray() as (string | null)[];
  const ex = d.getColumn('ex').toArray() as (number | null)[];
  const cash = d.getColumn('cash').toArray() as (number | null)[];
  const out: ExEvent[] = [];
  for (let i = 0; i < d.height; i += 1) {
    const t = ticker[i];
    const e = ex[i];
    const c = cash[i];
    if (t === null || t === undefined || e === null || e === undefined || c === null || c === undefined || !(c > 0)) continue;
    out.push({ ticker: t, ex: e, cash: c });
  }
  return out;
}

/**
 * The total-return factor table: per ticker and ex-date, `__tr`, the product
 * of `1 + D / P` over that ex-date and every later one of the ticker, where
 * `D` is the day's cash per share on the latest split basis and `P` the
 * split-adjusted close of the ticker's last row before the ex-date. A row
 * dated before an ex-date (and on or after the previous one) is divided by
 * that ex-date's `__tr`.
 *
 * `rows` are split-adjusted daily rows (`ticker, date, close`) reaching the
 * ticker's latest row. A distribution is applied only when the ticker has a
 * row before its ex-date (there is a price to reinvest at) and one on or after
 * it (it has gone ex as of the data: a declared future dividend changes
 * nothing until it does).
 */
export function dividendFactorFrame(rows: DataFrame, dividends: DataFrame | null | undefined, splits: ReadonlyMap<string, TickerFactors> | null): DataFrame {
  const empty = pl.DataFrame([pl.Series('ticker', [], pl.Utf8), pl.Series('__exdiv', [], pl.Int32).cast(pl.Date), pl.Series('__tr', [], pl.Float64)]);
  if (!dividends || dividends.height === 0 || rows.height === 0) return empty;
  const events = exEvents(dividends);
  if (events.length === 0) return empty;
  const ev = pl.DataFrame([
    pl.Series('ticker', events.map((e) => e.ticker), pl.Utf8),
    pl.Series('__ex', events.map((e) => e.ex), pl.Int32).cast(pl.Date),
    pl.Series('__i', events.map((_, i) => i), pl.Int32),
  ]);
  const daily = rows.select(pl.col('ticker'), pl.col('date').cast(pl.Date), pl.col('close').cast(pl.Float64).alias('__prev')).sort(['ticker', 'date']);
  const last = daily.groupBy('ticker').agg(pl.col('date').max().alias('__last'));
  const joined = ev
    .joinAsof(daily, { leftOn: '__ex', rightOn: 'date', by: 'ticker', strategy: 'backward', allowExactMatches: false, checkSortedness: false })
    .join(last, { on: 'ticker', how: 'left' })
    .filter(pl.col('__prev').isNotNull().and(pl.col('__prev').gt(0)).and(pl.col('__last').gtEq(pl.col('__ex'))))
    .select(pl.col('__i'), pl.col('__prev'))
    .sort('__i');
  const index = joined.getColumn('__i').toArray() as number[];
  const prev = joined.getColumn('__prev').toArray() as number[];
  const ticker: string[] = [];
  const day: number[] = [];
  const factor: number[] = [];
  // Backwards per ticker: each ex-date's factor covers it and every later one.
  let acc = 1;
  for (let k = index.length - 1; k >= 0; k -= 1) {
    const e = events[index[k]!]!;
    if (k === index.length - 1 || events[index[k + 1]!]!.ticker !== e.ticker) acc = 1;
    const cash = e.cash / splitFactorAfter(splits, e.ticker, e.ex);
    acc *= 1 + cash / prev[k]!;
    if (!Number.isFinite(acc)) throw new ConfigError(`total-return factor of ${e.ticker} on ${epochDayToIso(e.ex)} is not finite`);
    ticker.push(e.ticker);
    day.push(e.ex);
    factor.push(acc);
  }
  ticker.reverse();
  day.reverse();
  factor.reverse();
  return pl.DataFrame([pl.Series('ticker', ticker, pl.Utf8), pl.Series('__exdiv', day, pl.Int32).cast(pl.Date), pl.Series('__tr', factor, pl.Float64)]);
}

const PRICES = ['open', 'high', 'low', 'close', 'vwap'] as const;

/**
 * Divides the prices of split-adjusted daily rows (sorted by ticker, date)
 * by the total-return factor of their date (`dividendFactorFrame`); volume,
 * transactions and every other column pass through.
 */
export function applyDividendFactors(rows: LazyDataFrame, factors: DataFrame): LazyDataFrame {
  if (factors.height === 0) return rows;
  const divide = once('tr-divide', (): Expr[] => PRICES.map((c) => pl.col(c).div(pl.col('__tr').fillNull(1)).alias(c)));
  return rows
    .joinAsof(factors.lazy(), { leftOn: 'date', rightOn: '__exdiv', by: 'ticker', strategy: 'forward', allowExactMatches: false, checkSortedness: false })
    .withColumns(...divide)
    .drop(['__exdiv', '__tr']);
}

/**
 * Total-return bars from split-adjusted bars and the total-return daily rows
 * they were built from: open, high, low, close and vwap are taken again from
 * the rows inside each bar (`start_date` to `end_date`), so a bar with an
 * ex-date inside it is aggregated from rows on one basis. Volume,
 * transactions, `n_days`, `bucket` and `is_complete` are the bar's own.
 * Bars of tickers in `only` (when given) are recomputed; others pass through.
 */
export function totalReturnBars(bars: DataFrame, daily: DataFrame, only?: ReadonlySet<string>): DataFrame {
  if (bars.height === 0) return bars;
  const pick = only ? pl.col('ticker').isIn([...only]) : pl.lit(true);
  const target = only ? bars.filter(pick) : bars;
  if (target.height === 0) return bars;
  const spans = target.select(pl.col('ticker'), pl.col('start_date'), pl.col('end_date').alias('__end')).sort(['ticker', 'start_date']);
  const hasPair = pl.col('vwap').isNotNull().and(pl.col('volume').isNotNull());
  const agg = daily
    .lazy()
    .sort(['ticker', 'date'])
    .joinAsof(spans.lazy(), { leftOn: 'date', rightOn: 'start_date', by: 'ticker', strategy: 'backward', allowExactMatches: true, checkSortedness: false })
    .filter(pl.col('start_date').isNotNull().and(pl.col('date').ltEq(pl.col('__end'))))
    .groupBy(['ticker', 'start_date'], true)
    .agg(
      pl.col('open').first().alias('__o'),
      pl.col('high').max().alias('__h'),
      pl.col('low').min().alias('__l'),
      pl.col('close').last().alias('__c'),
      pl.when(hasPair).then(pl.col('vwap').mul(pl.col('volume'))).otherwise(pl.lit(null)).sum().alias('__vn'),
      pl.when(hasPair).then(pl.col('volume')).otherwise(pl.lit(null)).sum().alias('__vd'),
    )
    .collectSync();
  const redone = target
    .join(agg, { on: ['ticker', 'start_date'], how: 'left' })
    .withColumns(
      pl.col('__o').fillNull(pl.col('open')).alias('open'),
      pl.col('__h').fillNull(pl.col('high')).alias('high'),
      pl.col('__l').fillNull(pl.col('low')).alias('low'),
      pl.col('__c').fillNull(pl.col('close')).alias('close'),
      pl.when(pl.col('__vd').gt(0)).then(pl.col('__vn').div(pl.col('__vd'))).when(pl.col('__o').isNull()).then(pl.col('vwap')).otherwise(pl.lit(null)).alias('vwap'),
    )
    .select(...Object.keys(BAR_SCHEMA));
  const rest = only ? bars.filter(pick.not()) : null;
  return (rest ? pl.concat([rest.select(...Object.keys(BAR_SCHEMA)), redone], { how: 'vertical' }) : redone).sort(['ticker', 'start_date']);
}
