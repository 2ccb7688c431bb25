// Test bindings for the fetcher Lambdas and the Batch jobs: they behave like the
// real parts at the seam (same event, result and error names) without a market
// or a lake, so the engine's Retry/Catch/record logic can be driven precisely.
import { RateLimitedError } from '@fibbars/fetchers/errors';
import type { BatchJob, BatchJobResult, FetchEvent, FetchHandler, FetchResult, LocalBindings } from '../../src/local.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function okFetch(kind: 'ohlcv' | 'meta', calls: FetchEvent[] = []): FetchHandler {
  return async (event) => {
    calls.push(event);
    await sleep(5);
    const session = event.date ?? '2024-03-08';
    const result: FetchResult = {
      status: 'ok',
      lake: event.lake ?? '',
      sessions: [session],
      caughtUp: [],
      rows: kind === 'ohlcv' ? 300 : 2,
      rawKeys: [`raw/${kind === 'ohlcv' ? 'ohlcv' : 'tickers'}/date=${session}/x.json.gz`],
    };
    return result;
  };
}

/** Throws RateLimitedError `times` times, then answers like okFetch. */
export function flakyFetch(times: number): FetchHandler & { calls: number } {
  const ok = okFetch('ohlcv');
  const fn = (async (event, context) => {
    fn.calls += 1;
    if (fn.calls <= times) throw new RateLimitedError(`429 from vendor (try ${fn.calls})`);
    return ok(event, context);
  }) as FetchHandler & { calls: number };
  fn.calls = 0;
  return fn;
}

export interface JobLogEntry {
  job: BatchJob;
  start: number;
  end: number;
  aborted: boolean;
}

/**
 * A Batch binding that takes `ms`, logs each attempt, and ends the attempts
 * `fail` picks with the exit code it returns (`attempt` counts the processes of that state).
 */
export function recordingBatch(
  log: JobLogEntry[],
  options: { ms?: number; fail?: (job: BatchJob, attempt: number) => number | undefined; slow?: (job: BatchJob) => number } = {},
): NonNullable<LocalBindings['batch']> {
  const tries = new Map<string, number>();
  return async (job, signal): Promise<BatchJobResult> => {
    const attempt = (tries.get(job.state) ?? 0) + 1;
    tries.set(job.state, attempt);
    const entry: JobLogEntry = { job, start: Date.now(), end: 0, aborted: false };
    log.push(entry);
    const ms = options.slow?.(job) ?? options.ms ?? 50;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        entry.aborted = true;
        resolve();
      });
    });
    entry.end = Date.now();
    const exitCode = options.fail?.(job, attempt);
    if (exitCode !== undefined) return { exitCode, logTail: [`{"level":"error","error":"exit ${exitCode}"}`] };
    return { exitCode: 0, report: { command: job.command[0] } };
  };
}
