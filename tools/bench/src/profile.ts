// Where the full rebuild spends its time: each stage of ohlcv-core's
// resample run on its own over a cached history, with wall and CPU time,
// next to the variants proposed in BENCHMARKS.md. Every variant's bars are
// checked equal to `resample`'s before its time is reported.
//
//   node tools/bench/dist/profile.js .bench-data/10000x20-seed1 [days]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pl from 'nodejs-polars';
import { BAR_SCHEMA, calendarFrame, resample, resampleLazy } from '@fibbars/ohlcv-core';
import { compareBars, openDuck } from './duckdb.js';
import type { DailyManifest } from './generate.js';

interface Stage {
  stage: string;
  seconds: number;
  cpuSeconds: number;
  rows: number;
}

async function timed(stage: string, fn: () => Promise<pl.DataFrame> | pl.DataFrame, log: (s: Stage) => void): Promise<{ df: pl.DataFrame; s: Stage }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  const df = await fn();
  const used = process.cpuUsage(cpu);
  const s = { stage, seconds: (performance.now() - t) / 1000, cpuSeconds: (used.user + used.system) / 1e6, rows: df.height };
  log(s);
  return { df, s };
}

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
    .join(calendarFrame().lazy(), { on: 'date', how: 'left' })
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

async function main(): Promise<void> {
  const dir = process.argv[2];
  const days = Number(process.argv[3] ?? 3);
  if (!dir) throw new Error('usage: node dist/profile.js <cached history dir> [days]');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as DailyManifest;
  const stages: Stage[] = [];
  const log = (s: Stage) => {
    stages.push(s);
    process.stderr.write(`${s.stage.padEnd(64)} ${s.seconds.toFixed(2).padStart(7)} s ${s.cpuSeconds.toFixed(1).padStart(7)} s CPU ${String(s.rows).padStart(10)} rows\n`);
  };
  const glob = join(dir, 'daily', '*.parquet');
  const asOfIndex = calendarFrame().filter(pl.col('date').eq(pl.lit(new Date(`${manifest.lastSession}T00:00:00Z`)))).getColumn('session_index').get(0) as number;
  const { df: daily } = await timed('read silver daily (scanParquet + collect)', () => pl.scanParquet(glob).collect(), log);
  await timed(
    'input check 1: duplicate (ticker, date) group-by',
    () => daily.lazy().groupBy(['ticker', 'date']).agg(pl.len().alias('n')).filter(pl.col('n').gt(1)).head(1).collect(),
    log,
  );
  await timed('input check 2: anti-join with the calendar', () => daily.lazy().select('date').join(calendarFrame().lazy(), { on: 'date', how: 'anti' }).head(1).collect(), log);
  await timed(`prepare: join with the calendar (session index)`, () => daily.lazy().join(calendarFrame().lazy(), { on: 'date', how: 'left' }).collect(), log);
  const { df: reference } = await timed(`resample(daily, { days: ${days} }) as shipped`, () => resample(daily, { days, anchor: 'calendar', asOf: manifest.lastSession }), log);
  await timed(`resampleLazy(...).collect() (no input checks)`, () => resampleLazy(daily, { days, anchor: 'calendar', asOf: manifest.lastSession }).collect(), log);
  await timed(
    'group-by (ticker, bucket), no per-group sort, no output sort',
    () =>
      daily
        .lazy()
        .join(calendarFrame().lazy(), { on: 'date', how: 'left' })
        .withColumns(pl.col('session_index').cast(pl.Float64).div(days).floor().cast(pl.Int64).alias('bucket'))
        .groupBy(['ticker', 'bucket'])
        .agg(pl.col('open').first(), pl.col('high').max(), pl.col('low').min(), pl.col('close').last(), pl.col('volume').sum(), pl.len().alias('n'))
        .collect(),
    log,
  );
  await timed('output sort by (ticker, bucket)', () => reference.sort(['ticker', 'bucket']), log);
  const { df: proposed } = await timed('proposal: integer runs over sorted input, first/last', () => barsBySortedRuns(daily.lazy(), days, asOfIndex).collect(), log);
  const refFile = join(dir, '..', `profile-${days}d.parquet`);
  const propFile = join(dir, '..', `profile-${days}d-proposal.parquet`);
  await proposed.lazy().sinkParquet(propFile, { compression: 'zstd' }).collect();
  await timed(
    'write bars (sinkParquet zstd)',
    async () => {
      await reference.lazy().sinkParquet(refFile, { compression: 'zstd', statistics: true, maintainOrder: true }).collect();
      return reference;
    },
    log,
  );
  const { con, close } = await openDuck();
  const check = await compareBars(con, `${days}d`, [propFile], [refFile]);
  close();
  const same = check.equal;
  process.stderr.write(`proposal equals resample() (DuckDB full outer join): ${String(same)} ${JSON.stringify(check)}\n`);
  process.stdout.write(`${JSON.stringify({ rows: daily.height, days, proposalEqual: same, stages })}\n`);
  if (!same) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`profile: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
