// Runs a measurement in child processes: warm-up runs first, then the median
// of the timed runs, with the largest peak RSS any run reached.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildResult, ChildTask } from './child.js';

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

export interface Measurement {
  name: string;
  runs: number;
  rowsIn: number;
  rowsOut: number;
  /** Median of the timed runs, measured inside the child around the work. */
  seconds: number;
  /** Median wall time of the measured process(es), start-up and module loading included. */
  wallSeconds: number;
  allSeconds: number[];
  /** Median CPU seconds (all threads): less sensitive than wall time to other load on the machine. */
  cpuSeconds: number;
  rowsPerSecond: number;
  peakRssBytes: number;
  detail?: unknown;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function runChild(task: ChildTask): Promise<ChildResult & { wallSeconds: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(task)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        // The child's first stderr line is its error message; the rest (the stack) goes to our stderr.
        process.stderr.write(err);
        reject(new Error(`${task.kind} failed (exit ${String(code)}): ${err.trim().split('\n')[0] ?? ''}`));
        return;
      }
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve({ ...(JSON.parse(last) as ChildResult), wallSeconds: (performance.now() - started) / 1000 });
      } catch {
        reject(new Error(`${task.kind}: the child printed no result line: ${out.slice(-500)}`));
      }
    });
  });
}

export interface MeasureOptions {
  runs: number;
  warmup: number;
  /** Called before every run (warm-up included), untimed: e.g. restores a lake to its starting state. */
  prepare?: (run: number) => Promise<ChildTask> | ChildTask;
  log?: (msg: string) => void;
}

export async function measure(name: string, task: ChildTask, opts: MeasureOptions): Promise<Measurement> {
  const results: (ChildResult & { wallSeconds: number })[] = [];
  for (let i = 0; i < opts.warmup + opts.runs; i++) {
    const t = opts.prepare ? await opts.prepare(i) : task;
    const warm = i < opts.warmup;
    const r = await runChild(t);
    opts.log?.(`${name}: ${warm ? 'warm-up' : `run ${i - opts.warmup + 1}/${opts.runs}`} ${r.seconds.toFixed(2)} s (${r.cpuSeconds.toFixed(1)} s CPU), ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB`);
    if (!warm) results.push(r);
  }
  const seconds = median(results.map((r) => r.seconds));
  const last = results.at(-1)!;
  return {
    name,
    runs: results.length,
    rowsIn: last.rowsIn,
    rowsOut: last.rowsOut,
    seconds,
    wallSeconds: median(results.map((r) => r.processSeconds ?? r.wallSeconds)),
    allSeconds: results.map((r) => r.seconds),
    cpuSeconds: median(results.map((r) => r.cpuSeconds)),
    rowsPerSecond: seconds > 0 ? last.rowsIn / seconds : 0,
    peakRssBytes: Math.max(...results.map((r) => r.maxRssBytes)),
    detail: last.detail,
  };
}
