// The plan proposed for ohlcv-core's resample (see BENCHMARKS.md), kept here
// so the bench can measure it next to the shipped one and check it equal.
import pl from 'nodejs-polars';
import { BAR_SCHEMA, calendarFrame } from '@fibbars/ohlcv-core';

/**
 * The proposed plan: one integer group id per (ticker, bucket) run instead of
 * hashing (ticker string, bucket), open/close by position in the sorted run
 * instead of a per-group sort. Needs the input sorted by (ticker, date), which
 * the silver daily history is by contract.
 */
export function barsBySortedRuns(sortedDaily: pl.LazyDataFrame, days: number, asOfIndex: number): pl.LazyDataFrame {
  const bucket = pl.col('session_index').cast(pl.Float64).div(days).floor().cast(pl.Int64);
  const hasPair = pl.col('vwap').isNotNull().and(pl.col('volume').isNotNull());
  return sortedDaily
    // maintainOrder 'left': the run ids below rely on the (ticker, date) order.
    .join(calendarFrame().lazy(), { on: 'date', how: 'left', maintainOrder: 'left' })
    .withColumns(
      bucket.alias('bucket'),
      // Row-wise pieces computed before the group-by, so the aggregations are plain sums
      // (a when/then inside agg is evaluated group by group).
      pl.when(hasPair).then(pl.col('vwap').mul(pl.col('volume'))).otherwise(pl.lit(null)).alias('__vw_num'),
      pl.when(hasPair).then(pl.col('volume')).otherwise(pl.lit(null)).alias('__vw_den'),
      pl.col('transactions').isNotNull().cast(pl.Int64).alias('__tx_n'),
    )
    .withColumns(
      pl
        .col('ticker')
        .neq(pl.col('ticker').shift(1))
        .or(pl.col('bucket').neq(pl.col('bucket').shift(1)))
        .fillNull(true)
        .cumSum()
        .alias('__run'),
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

