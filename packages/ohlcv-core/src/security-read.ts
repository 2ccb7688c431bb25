// Reads keyed by security (`identity: 'security'`, LAKE.md "Identity"): the
// rows of every symbol a security traded as, joined into one history, then
// adjusted and (for bar datasets) resampled at read time, so a bar spanning a
// symbol change is one bar. Stored files stay keyed by the traded symbol.
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { adjustForSplits, resample, type Anchor } from './resample.js';
import { applyDividendFactors, dividendFactorFrame, type Adjust } from './adjust.js';
import { splitFactorTable } from './resample.js';
import { ConfigError } from './errors.js';
import { attachSecurity, securitiesOf, symbolsOf, tickerIntervals } from './identity.js';
import { BAR_SCHEMA, SILVER_DAILY_SCHEMA } from './schemas.js';
import type { Dataset, Lake, ReadOptions } from './lake.js';

function dayLit(iso: string) {
  return pl.lit(new Date(`${iso}T00:00:00Z`)).cast(pl.Date);
}

/** `frame` keyed by security: `ticker` holds the security id, `__symbol` the traded symbol; only `ids` when given. */
function keyBySecurity(frame: DataFrame, ids: readonly string[] | undefined): DataFrame {
  const kept = ids ? frame.filter(pl.col('security_id').isIn([...ids])) : frame;
  return kept.withColumns(pl.col('ticker').alias('__symbol'), pl.col('security_id').alias('ticker')).drop('security_id');
}

interface Keyed {
  rows: DataFrame;
  splits: DataFrame | null;
  dividends: DataFrame | null;
}

async function keyedInputs(lake: Lake, options: ReadOptions, adjust: Adjust, dailyVersion: number | undefined): Promise<Keyed> {
  const intervals = (await lake.head('ticker_history')) ? tickerIntervals(await lake.read('ticker_history')) : [];
  const ids = options.tickers ? securitiesOf(intervals, options.tickers, options.asOf ?? null) : undefined;
  const base = ids ? { tickers: symbolsOf(intervals, ids) } : {};
  const daily = await lake.read('ohlcv_1d', { ...base, ...(dailyVersion !== undefined ? { version: dailyVersion } : {}) });
  // One row per (security, session): where two symbols of a security both traded on a day, the first symbol's row.
  const rows = keyBySecurity(attachSecurity(daily, intervals, 'date'), ids)
    .sort(['ticker', 'date', '__symbol'])
    .unique({ subset: ['ticker', 'date'], keep: 'first', maintainOrder: true });
  const splits = adjust === 'none' ? null : keyBySecurity(attachSecurity(await lake.read('splits', base), intervals, 'execution_date'), ids);
  const dividends = adjust === 'total-return' ? keyBySecurity(attachSecurity(await lake.read('dividends', base), intervals, 'ex_dividend_date'), ids) : null;
  return { rows, splits, dividends };
}

function adjustedDaily({ rows, splits, dividends }: Keyed, adjust: Adjust): DataFrame {
  const symbols = rows.select('ticker', 'date', '__symbol');
  let out = rows.drop('__symbol');
  if (adjust !== 'none' && splits && splits.height > 0) out = adjustForSplits(out, splits);
  if (adjust === 'total-return') {
    const factors = dividendFactorFrame(out, dividends, splits && splits.height > 0 ? splitFactorTable(splits) : null);
    out = applyDividendFactors(out.sort(['ticker', 'date']).lazy(), factors).collectSync();
  }
  return out.join(symbols, { on: ['ticker', 'date'], how: 'left' });
}

/** Back to user columns: `security_id` beside `ticker`, the symbol in force. */
function unkey(df: DataFrame, columns: readonly string[], sortBy: string): DataFrame {
  return df
    .withColumns(pl.col('ticker').alias('security_id'), pl.col('__symbol').alias('ticker'))
    .select(...columns, 'security_id')
    .sort(['security_id', sortBy]);
}

/**
 * `ohlcv_1d` or a bar dataset keyed by security: `tickers` name securities
 * by any symbol they had as of `asOf` (default: the symbol in force now);
 * the rows of every symbol of each security come back as one history, with
 * `security_id` and `ticker` (the symbol in force on the row's date, for bars
 * on `end_date`). Bars are resampled at read time with the anchor and latest
 * session of the dataset's head, so a bar spanning a symbol change is whole.
 */
export async function readBySecurity(lake: Lake, dataset: Dataset, options: ReadOptions, days: number, adjust: Adjust): Promise<DataFrame> {
  if (days === 1) {
    const out = unkey(adjustedDaily(await keyedInputs(lake, options, adjust, options.version), adjust), Object.keys(SILVER_DAILY_SCHEMA), 'date');
    const lo = options.from !== undefined ? out.filter(pl.col('date').gtEq(dayLit(options.from))) : out;
    return options.to !== undefined ? lo.filter(pl.col('date').ltEq(dayLit(options.to))) : lo;
  }
  const head = options.version === undefined ? await lake.head(dataset) : await lake.commitAt(dataset, options.version);
  if (!head) return (await lake.read(dataset, { adjust: 'none' })).withColumns(pl.col('ticker').alias('security_id'));
  const anchor = (head.meta['anchor'] as Anchor | undefined) ?? 'calendar';
  const latest = head.meta['latestSession'] as string | undefined;
  const keyed = await keyedInputs(lake, options, adjust, undefined);
  const bars = resample(keyed.rows.drop('__symbol'), {
    days,
    anchor,
    adjust,
    ...(latest ? { asOf: latest } : {}),
    ...(keyed.splits ? { splits: keyed.splits } : {}),
    ...(keyed.dividends ? { dividends: keyed.dividends } : {}),
  });
  const symbols = keyed.rows.select(pl.col('ticker'), pl.col('date').alias('end_date'), pl.col('__symbol'));
  const out = unkey(bars.join(symbols, { on: ['ticker', 'end_date'], how: 'left' }), Object.keys(BAR_SCHEMA), 'start_date');
  const lo = options.from !== undefined ? out.filter(pl.col('end_date').gtEq(dayLit(options.from))) : out;
  return options.to !== undefined ? lo.filter(pl.col('start_date').ltEq(dayLit(options.to))) : lo;
}

/** `ConfigError` unless `identity: 'security'` can apply to `dataset`. */
export function assertSecurityDataset(dataset: string, days: number | undefined): asserts days is number {
  if (days === undefined) throw new ConfigError(`identity "security" applies to ohlcv_1d and bar datasets, not ${dataset}`);
}
