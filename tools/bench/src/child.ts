// One measurement, run in its own process so its peak RSS is its own. The
// spec comes as one JSON argument; the last stdout line is the result.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pl from 'nodejs-polars';
import { consolidateLake, openLake, resample } from './core.js';
import { INTERVALS, duckRebuild, openDuck } from './duckdb.js';
import { duckIncrement, type DuckIncrementInput } from './increment.js';

export type ChildTask =
  | { kind: 'ours-rebuild'; dailyGlob: string; lastSession: string; outDir: string }
  | { kind: 'bundle'; bundle: string; lake: string; steps: string[][]; runId: string }
  | { kind: 'duck-rebuild'; dailyFiles: string[]; lastSession: string; outDir: string; threads: number }
  | { kind: 'ours-consolidate'; lake: string }
  | ({ kind: 'duck-increment'; stateDir: string; threads: number } & DuckIncrementInput);

export interface ChildResult {
  /** Seconds of work (for batch-runner processes: the jobs' own elapsed time, process start excluded). */
  seconds: number;
  /** Wall seconds of the measured processes, start-up included (batch-runner processes only). */
  processSeconds?: number;
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

/** `0m1.250s 0m0.310s` (bash `times`) -> seconds. */
function bashSeconds(text: string): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(text.trim());
  if (!m) throw new Error(`bench: cannot read a bash time from ${JSON.stringify(text)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

interface JobReport {
  elapsedMs: number;
  maxRssMiB: number;
  consolidate?: { rows: { received: number; accepted: number } };
  resample?: Array<{ days: number; mode: string; bucketsRecomputed: number; barsWritten: number; bytesWritten: number }>;
}

/**
 * The production jobs as the container runs them: `node <batch-runner bundle>
 * <step...>`, one process per step, in order. CPU comes from bash's `times`
 * (the children's user and system time), peak RSS and work time from the
 * job's own closing report.
 */
async function bundleTask(task: Extract<ChildTask, { kind: 'bundle' }>) {
  let seconds = 0;
  let processSeconds = 0;
  let cpuSeconds = 0;
  let maxRssBytes = 0;
  const reports: JobReport[] = [];
  for (const args of task.steps) {
    const timesFile = join(tmpdir(), `fibbars-bench-times-${process.pid}-${reports.length}`);
    const started = performance.now();
    const r = spawnSync('bash', ['-c', '"$@"; rc=$?; times > "$BENCH_TIMES"; exit $rc', 'bash', process.execPath, task.bundle, ...args], {
      env: { ...process.env, FIBBARS_LAKE: task.lake, FIBBARS_RUN_ID: `${task.runId}-${args[0]}`, BENCH_TIMES: timesFile },
      encoding: 'utf8',
      maxBuffer: 256 * 2 ** 20,
    });
    processSeconds += (performance.now() - started) / 1000;
    if (r.status !== 0) {
      throw new Error(`batch-runner ${args.join(' ')} exited with ${String(r.status)}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    }
    const [, children] = readFileSync(timesFile, 'utf8').trim().split('\n');
    rmSync(timesFile, { force: true });
    const [user, sys] = (children ?? '').trim().split(/\s+/);
    cpuSeconds += bashSeconds(user ?? '') + bashSeconds(sys ?? '');
    const done = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg?: string; report?: JobReport })
      .find((l) => l.msg === 'done');
    if (!done?.report) throw new Error(`batch-runner ${args.join(' ')} printed no done report`);
    reports.push(done.report);
    seconds += done.report.elapsedMs / 1000;
    maxRssBytes = Math.max(maxRssBytes, done.report.maxRssMiB * 2 ** 20);
  }
  const resampled = reports.flatMap((r) => r.resample ?? []);
  const consolidated = reports.find((r) => r.consolidate)?.consolidate;
  const barsWritten = resampled.reduce((n, i) => n + i.barsWritten, 0);
  return {
    seconds,
    processSeconds,
    cpuSeconds,
    maxRssBytes,
    rowsIn: consolidated?.rows.received ?? 0,
    rowsOut: (consolidated?.rows.accepted ?? 0) + barsWritten,
    detail: {
      bytesWritten: resampled.reduce((n, i) => n + i.bytesWritten, 0),
      intervals: resampled.map((i) => ({ days: i.days, mode: i.mode, buckets: i.bucketsRecomputed, bars: i.barsWritten, bytes: i.bytesWritten })),
      jobs: reports.map((r) => ({ seconds: r.elapsedMs / 1000, maxRssMiB: r.maxRssMiB })),
    },
  };
}

async function duckIncrementTask(task: Extract<ChildTask, { kind: 'duck-increment' }>) {
  const { con, close } = await openDuck({ threads: task.threads });
  try {
    const r = await duckIncrement(con, task.stateDir, task);
    return { rowsIn: r.rowsIn, rowsOut: r.rowsOut, detail: r };
  } finally {
    close();
  }
}

export async function runTask(task: ChildTask): Promise<Omit<ChildResult, 'maxRssBytes'> & { maxRssBytes?: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let r: { rowsIn: number; rowsOut: number; detail?: unknown };
  if (task.kind === 'bundle') return bundleTask(task);
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
  const out: ChildResult = { ...result, maxRssBytes: result.maxRssBytes ?? process.resourceUsage().maxRSS * 1024 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
