// The plan proposed for ohlcv-core's resample (see BENCHMARKS.md), kept here
// so the bench can measure it next to the shipped one and check it equal.
import pl from 'nodejs-polars';
import { BAR_SCHEMA, calendarFrame } from '@fibbars/ohlcv-core';

/**
 * The row-wise part of the proposed plan, shared by every interval: the
 * session index (a calendar join that keeps the (ticker, date) order), the
 * pieces of vwap and transactions (a when/then inside `agg` is evaluated
 * group by group, a column computed before it is one vectorised pass), and
 * where each ticker starts.
 */
export function prepareSorted(sortedDaily: pl.LazyDataFrame): pl.LazyDataFrame {
  const hasPair = pl.col('vwap').isNotNull().and(pl.col('volume').isNotNull());
  return sortedDaily
    .join(calendarFrame().lazy(), { on: 'date', how: 'left', maintainOrder: 'left' })
    .withColumns(
      pl.when(hasPair).then(pl.col('vwap').mul(pl.col('volume'))).otherwise(pl.lit(null)).alias('__vw_num'),
      pl.when(hasPair).then(pl.col('volume')).otherwise(pl.lit(null)).alias('__vw_den'),
      pl.col('transactions').isNotNull().cast(pl.Int64).alias('__tx_n'),
      pl.col('ticker').neq(pl.col('ticker').shift(1)).fillNull(true).alias('__new_ticker'),
    );
}

/**
 * One interval's bars from `prepareSorted` rows: one integer id per
 * (ticker, bucket) run instead of hashing (ticker string, bucket), open and
 * close by position in the run instead of a per-group sort, and an
 * order-keeping group-by, so the bars come out sorted by (ticker, bucket).
 */
export function barsFromPrepared(prepared: pl.LazyDataFrame, days: number, asOfIndex: number): pl.LazyDataFrame {
  const bucket = pl.col('session_index').cast(pl.Float64).div(days).floor().cast(pl.Int64);
  return prepared
    .withColumns(bucket.alias('bucket'))
    .withColumns(
      pl.col('__new_ticker').or(pl.col('bucket').neq(pl.col('bucket').shift(1)).fillNull(true)).cumSum().alias('__run'),
    )
    .groupBy('__run', { maintainOrder: true })
    .agg(
      pl.col('ticker').first(),
      pl.col('bucket').first(),
      pl.col('date').first().alias('start_date'),
      pl.col('date').last().alias('end_date'),
      pl.col('open').first(),
      pl.col('high').max(),
      pl.col('low').min(),
      pl.col('close').last(),
      pl.col('volume').sum(),
      pl.col('__vw_num').sum(),
      pl.col('__vw_den').sum(),
      pl.col('transactions').sum().alias('__tx_sum'),
      pl.col('__tx_n').sum(),
      pl.len().alias('n_days'),
    )
    .withColumns(
      pl.when(pl.col('__vw_den').gt(0)).then(pl.col('__vw_num').div(pl.col('__vw_den'))).otherwise(pl.lit(null)).alias('vwap'),
      pl.when(pl.col('__tx_n').gt(0)).then(pl.col('__tx_sum')).otherwise(pl.lit(null)).alias('transactions'),
      pl.col('bucket').add(1).mul(days).sub(1).ltEq(asOfIndex).alias('is_complete'),
    )
    .select(...Object.entries(BAR_SCHEMA).map(([c, t]) => pl.col(c).cast(t).alias(c)));
}

/** The proposed plan for one interval, from rows sorted by (ticker, date) (the silver daily contract). */
export function barsBySortedRuns(sortedDaily: pl.LazyDataFrame, days: number, asOfIndex: number): pl.LazyDataFrame {
  return barsFromPrepared(prepareSorted(sortedDaily), days, asOfIndex);
}

/**
 * Ticker ranges of at most about `rowsPerChunk` rows, from a lazy scan of the
 * sorted history. Bars never span tickers, so each range can be resampled on
 * its own: peak memory follows the chunk, not the history (and the same
 * ranges are the unit a distributed resample would fan out over).
 */
export async function tickerChunks(scan: pl.LazyDataFrame, rowsPerChunk: number): Promise<Array<[string, string]>> {
  const counts = await scan.groupBy('ticker').agg(pl.len().alias('n')).sort('ticker').collect();
  const tickers = counts.getColumn('ticker').toArray() as string[];
  const n = counts.getColumn('n').toArray() as number[];
  const chunks: Array<[string, string]> = [];
  let start = 0;
  let rows = 0;
  for (let i = 0; i < tickers.length; i++) {
    rows += Number(n[i]);
    if (rows >= rowsPerChunk || i === tickers.length - 1) {
      chunks.push([tickers[start]!, tickers[i]!]);
      start = i + 1;
      rows = 0;
    }
  }
  return chunks;
}

