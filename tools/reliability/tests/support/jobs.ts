/**
 * Lakes with raw fetches written by the real fetcher handlers, and the
 * batch-runner jobs run in process (`main`) or as the bundle in a child
 * process, which a test may SIGKILL.
 */
import { spawn } from 'node:child_process';
import { main } from '@fibbars/batch-runner';
import { createMetaHandler, createOhlcvHandler, type MarketSource } from '@fibbars/fetchers';
import { requireBundle } from './pipeline.js';

/** Fetches each session into the lake's raw zone with the real handlers. */
export async function fetchSessions(lake: string, source: MarketSource, sessions: readonly string[], env: { store?: object } = {}): Promise<void> {
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const deps = { source, lake, logger: quiet, ...(env.store ? { store: env.store } : {}) };
  const ohlcv = createOhlcvHandler(deps);
  const meta = createMetaHandler(deps);
  for (const date of sessions) {
    await ohlcv({ date });
    await meta({ date });
  }
}

/** batch-runner in process; throws with its error line unless it exits 0. */
export async function job(lake: string, argv: string[], env: Record<string, string> = {}): Promise<number> {
  const err: string[] = [];
  const code = await main(argv, { FIBBARS_LAKE: lake, FIBBARS_HEARTBEAT_MS: '0', ...env }, {
    stdout: { write: () => true },
    stderr: { write: (l: string) => err.push(l) },
  });
  if (code !== 0) throw new Error(`batch-runner ${argv.join(' ')} exited ${code}: ${err.join('')}`);
  return code;
}

export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from the job's `start` line to the exit. */
  ms: number;
  stderr: string;
}

/**
 * Runs the batch-runner bundle as the container does. With `killAfterMs`, the
 * process gets SIGKILL that long after its `start` line (modules loaded,
 * configuration valid, the job begun).
 */
export function runBundle(argv: string[], env: Record<string, string>, killAfterMs?: number): Promise<ChildOutcome> {
  const bundle = requireBundle();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ...argv], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FIBBARS_HEARTBEAT_MS: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let started = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stderr = '';
    let seenStart = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (seenStart || !chunk.includes('"msg":"start"')) return;
      seenStart = true;
      started = Date.now();
      if (killAfterMs !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - started, stderr });
    });
  });
}
