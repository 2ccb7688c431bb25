// Where the full rebuild spends its time: each stage of ohlcv-core's
// resample run on its own over a cached history, with wall and CPU time.
//
//   node tools/bench/dist/profile.js .bench-data/10000x20-seed1 [days]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pl from 'nodejs-polars';
import { calendarFrame, resample, resampleLazy } from '@fibbars/ohlcv-core';
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
  const refFile = join(dir, '..', `profile-${days}d.parquet`);
  await timed(
    'write bars (sinkParquet zstd)',
    async () => {
      await reference.lazy().sinkParquet(refFile, { compression: 'zstd', statistics: true, maintainOrder: true }).collect();
      return reference;
    },
    log,
  );
  process.stdout.write(`${JSON.stringify({ rows: daily.height, days, stages })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`profile: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
