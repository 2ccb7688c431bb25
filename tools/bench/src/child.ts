// One measurement, run in its own process so its peak RSS is its own. The
// spec comes as one JSON argument; the last stdout line is the result.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pl from 'nodejs-polars';
import { coreApi } from './core.js';
import { INTERVALS, duckRebuild, openDuck } from './duckdb.js';
import { duckIncrement } from './increment.js';

export type ChildTask =
  | { kind: 'ours-rebuild'; dailyGlob: string; outDir: string }
  | { kind: 'duck-rebuild'; dailyFiles: string[]; lastSession: string; outDir: string; threads: number }
  | { kind: 'ours-consolidate'; lake: string }
  | { kind: 'ours-increment'; lake: string }
  | { kind: 'duck-increment'; stateDir: string; rawFile: string; session: string; threads: number };

export interface ChildResult {
  seconds: number;
  maxRssBytes: number;
  rowsIn: number;
  rowsOut: number;
  detail?: unknown;
}

async function oursRebuild(task: Extract<ChildTask, { kind: 'ours-rebuild' }>) {
  const { resample } = coreApi('resample');
  mkdirSync(task.outDir, { recursive: true });
  const daily = await pl.scanParquet(task.dailyGlob).collect();
  const perInterval: Record<string, number> = {};
  let rowsOut = 0;
  for (const days of INTERVALS) {
    const bars = await resample(daily, { days, anchor: 'calendar' });
    await bars
      .lazy()
      .sinkParquet(join(task.outDir, `ohlcv_${days}d.parquet`), { compression: 'zstd', statistics: true, maintainOrder: true })
      .collect();
    perInterval[`${days}d`] = bars.height;
    rowsOut += bars.height;
  }
  return { rowsIn: daily.height, rowsOut, detail: perInterval };
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
  const { openLake, consolidateLake } = coreApi('openLake', 'consolidateLake');
  const lake = await openLake(task.lake);
  const report = await consolidateLake(lake, { runId: 'bench-consolidate' });
  return { rowsIn: rowsOf(report, ['rows', 'accepted']), rowsOut: rowsOf(report, ['rowsOut', 'dailyRows', 'rows']), detail: report };
}

async function oursIncrement(task: Extract<ChildTask, { kind: 'ours-increment' }>) {
  const { openLake, consolidateLake, resampleLake } = coreApi('openLake', 'consolidateLake', 'resampleLake');
  const lake = await openLake(task.lake);
  const consolidated = await consolidateLake(lake, { runId: 'bench-increment' });
  const resampled: Record<string, unknown> = {};
  for (const days of INTERVALS) resampled[`${days}d`] = await resampleLake(lake, { days, runId: 'bench-increment' });
  return { rowsIn: rowsOf(consolidated, ['rows', 'accepted']), rowsOut: 0, detail: { consolidated, resampled } };
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

/** Reports are the other package's business: take the first numeric field found. */
function rowsOf(report: unknown, keys: string[]): number {
  const visit = (v: unknown, depth: number): number | undefined => {
    if (v === null || typeof v !== 'object' || depth > 3) return undefined;
    const rec = v as Record<string, unknown>;
    for (const k of keys) if (typeof rec[k] === 'number') return rec[k];
    for (const inner of Object.values(rec)) {
      const found = visit(inner, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return visit(report, 0) ?? 0;
}

export async function runTask(task: ChildTask): Promise<Omit<ChildResult, 'maxRssBytes'>> {
  const started = performance.now();
  let r: { rowsIn: number; rowsOut: number; detail?: unknown };
  switch (task.kind) {
    case 'ours-rebuild':
      r = await oursRebuild(task);
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
  return { seconds: (performance.now() - started) / 1000, ...r };
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
