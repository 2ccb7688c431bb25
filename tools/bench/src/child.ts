// One measurement, run in its own process so its peak RSS is its own. The
// spec comes as one JSON argument; the last stdout line is the result.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pl from 'nodejs-polars';
import { consolidateLake, openLake, resample, resampleLake } from './core.js';
import { INTERVALS, duckRebuild, openDuck } from './duckdb.js';
import { duckIncrement } from './increment.js';
import { barsFromPrepared, prepareSorted, tickerChunks } from './proposal.js';

/** Rows per ticker chunk of the proposed plan, and chunks in flight (about 3 GiB peak in all). */
const PROPOSAL_CHUNK_ROWS = 2_000_000;
const PROPOSAL_CONCURRENCY = 2;
import { nyse } from '@fibbars/ohlcv-core/calendar';

export type ChildTask =
  | { kind: 'ours-rebuild'; dailyGlob: string; lastSession: string; outDir: string }
  | { kind: 'proposal-rebuild'; dailyGlob: string; lastSession: string; outDir: string }
  | { kind: 'duck-rebuild'; dailyFiles: string[]; lastSession: string; outDir: string; threads: number }
  | { kind: 'ours-consolidate'; lake: string }
  | { kind: 'ours-increment'; lake: string }
  | { kind: 'duck-increment'; stateDir: string; rawFile: string; session: string; threads: number };

export interface ChildResult {
  seconds: number;
  /** CPU time (user + system) the child spent on the work, all threads. */
  cpuSeconds: number;
  maxRssBytes: number;
  rowsIn: number;
  rowsOut: number;
  detail?: unknown;
}

async function oursRebuild(task: Extract<ChildTask, { kind: 'ours-rebuild' }>) {
  mkdirSync(task.outDir, { recursive: true });
  const daily = await pl.scanParquet(task.dailyGlob).collect();
  const perInterval: Record<string, number> = {};
  let rowsOut = 0;
  for (const days of INTERVALS) {
    const bars = resample(daily, { days, anchor: 'calendar', asOf: task.lastSession });
    await bars
      .lazy()
      .sinkParquet(join(task.outDir, `ohlcv_${days}d.parquet`), { compression: 'zstd', statistics: true, maintainOrder: true })
      .collect();
    perInterval[`${days}d`] = bars.height;
    rowsOut += bars.height;
  }
  return { rowsIn: daily.height, rowsOut, detail: perInterval };
}

/** The same work with the plan proposed in BENCHMARKS.md, to show what it would give. */
async function proposalRebuild(task: Extract<ChildTask, { kind: 'proposal-rebuild' }>) {
  const asOf = nyse.sessionIndex(task.lastSession);
  const scan = pl.scanParquet(task.dailyGlob);
  const chunks = await tickerChunks(scan, PROPOSAL_CHUNK_ROWS);
  const perInterval: Record<string, number> = {};
  let rowsIn = 0;
  let rowsOut = 0;
  const one = async (k: number, lo: string, hi: string) => {
    // Parquet statistics prune the row groups outside the range: the files are sorted by ticker.
    const daily = await scan.filter(pl.col('ticker').gtEq(pl.lit(lo)).and(pl.col('ticker').ltEq(pl.lit(hi)))).collect();
    rowsIn += daily.height;
    const prepared = await prepareSorted(daily.lazy()).collect();
    for (const days of INTERVALS) {
      const bars = await barsFromPrepared(prepared.lazy(), days, asOf).collect();
      const dir = join(task.outDir, `ohlcv_${days}d`);
      mkdirSync(dir, { recursive: true });
      await bars
        .lazy()
        .sinkParquet(join(dir, `part-${String(k).padStart(5, '0')}.parquet`), { compression: 'zstd', statistics: true, maintainOrder: true })
        .collect();
      perInterval[`${days}d`] = (perInterval[`${days}d`] ?? 0) + bars.height;
      rowsOut += bars.height;
    }
  };
  // Most of the plan is sequential (shift, cumSum, an order-keeping group-by), so
  // PROPOSAL_CONCURRENCY chunks run at once to keep every core busy.
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const k = next++;
      const [lo, hi] = chunks[k]!;
      await one(k, lo, hi);
    }
  };
  await Promise.all(Array.from({ length: PROPOSAL_CONCURRENCY }, worker));
  return { rowsIn, rowsOut, detail: { chunks: chunks.length, concurrency: PROPOSAL_CONCURRENCY, ...perInterval } };
}

async function duckRebuildTask(task: Extract<ChildTask, { kind: 'duck-rebuild' }>) {
  mkdirSync(task.outDir, { recursive: true });
  const { con, close } = await openDuck({ threads: task.threads });
  try {
    const r = await duckRebuild(con, task.dailyFiles, task.lastSession, task.outDir);
    return { rowsIn: r.rowsIn, rowsOut: Object.values(r.rowsOut).reduce((a, b) => a + b, 0), detail: r.rowsOut };
  } finally {
    close();
  }
}

async function oursConsolidate(task: Extract<ChildTask, { kind: 'ours-consolidate' }>) {
  const report = await consolidateLake(openLake(task.lake), { runId: 'bench-consolidate' });
  return { rowsIn: report.rows.received, rowsOut: report.rows.accepted, detail: { rows: report.rows, sessions: report.sessions.length } };
}

async function oursIncrement(task: Extract<ChildTask, { kind: 'ours-increment' }>) {
  const lake = openLake(task.lake);
  const consolidated = await consolidateLake(lake, { runId: 'bench-increment' });
  const resampled = await resampleLake(lake, { days: INTERVALS, runId: 'bench-increment' });
  const barsWritten = resampled.intervals.reduce((n, i) => n + i.barsWritten, 0);
  return {
    rowsIn: consolidated.rows.received,
    rowsOut: consolidated.rows.accepted + barsWritten,
    detail: { rows: consolidated.rows, intervals: resampled.intervals.map((i) => ({ days: i.days, mode: i.mode, buckets: i.bucketsRecomputed, bars: i.barsWritten })) },
  };
}

async function duckIncrementTask(task: Extract<ChildTask, { kind: 'duck-increment' }>) {
  const { con, close } = await openDuck({ threads: task.threads });
  try {
    const r = await duckIncrement(con, task.stateDir, task.rawFile, task.session);
    return { rowsIn: r.rowsIn, rowsOut: r.rowsOut, detail: r };
  } finally {
    close();
  }
}

export async function runTask(task: ChildTask): Promise<Omit<ChildResult, 'maxRssBytes'>> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let r: { rowsIn: number; rowsOut: number; detail?: unknown };
  switch (task.kind) {
    case 'ours-rebuild':
      r = await oursRebuild(task);
      break;
    case 'proposal-rebuild':
      r = await proposalRebuild(task);
      break;
    case 'duck-rebuild':
      r = await duckRebuildTask(task);
      break;
    case 'ours-consolidate':
      r = await oursConsolidate(task);
      break;
    case 'ours-increment':
      r = await oursIncrement(task);
      break;
    case 'duck-increment':
      r = await duckIncrementTask(task);
      break;
  }
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6, ...r };
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) throw new Error('child: expected one JSON task argument');
  const result = await runTask(JSON.parse(arg) as ChildTask);
  // maxRSS is in KiB on Linux.
  const out: ChildResult = { ...result, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
