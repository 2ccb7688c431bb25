/**
 * The heartbeat of a running local execution: every `stopPollMs` it reads
 * its stop request (`fibbars stop`); every `heartbeatMs` it also checks that
 * no reader ended its record (a stalled heartbeat taken for a dead run) and
 * renews its lease. A stop request, an ended record or the caller's signal
 * stops the run once.
 */
import type { RunStore } from '@fibbars/ohlcv-core/storage';
import type { RunAbort, StopRequest } from '../runs.js';
import type { StopCause } from './run-record.js';

/** The cause an aborted signal gives: its reason's text, else "interrupted". */
export function abortCause(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  if (typeof reason === 'string' && reason !== '') return reason;
  if (reason instanceof Error && reason.name !== 'AbortError' && reason.message !== '') return reason.message;
  return 'interrupted';
}

/** The stop request for this attempt of the run (0 the first run, n the n-th redrive), if one was made. */
export async function requestedStop(runs: RunStore, runId: string, attempt: number): Promise<StopCause | undefined> {
  const request = (await runs.stopRequest(runId)) as StopRequest | null;
  if (!request || (request.redriveCount ?? 0) !== attempt) return undefined;
  return { reason: 'stopped', ...(request.error ? { error: request.error } : {}), cause: request.cause ?? `stopped by fibbars stop at ${request.at}` };
}

export interface HeartbeatOptions {
  runs: RunStore;
  runId: string;
  attempt: number;
  heartbeatMs: number;
  stopPollMs: number;
  /** The caller's signal (Ctrl-C): aborting it stops the run. */
  signal?: AbortSignal;
  /** Stops the execution and its jobs; called once, with why. */
  onStop: (why: StopCause) => void;
  /** Renews the lease in the record and writes it. */
  renewLease: () => Promise<void>;
}

export interface Heartbeat {
  /** Why the run was stopped, once it was. */
  readonly stopped: StopCause | undefined;
  /** Ends the beats and lets go of the caller's signal. */
  dispose(): void;
  /**
   * Why the run was stopped: as the beats saw it, else the stop request read
   * once more now (a request made after the last poll still stops the run).
   */
  lastLook(): Promise<StopCause | undefined>;
}

/** One beat: a stop request stops the run; a record a reader ended stops it too; else, when a heartbeat is due, the lease is renewed. */
async function beat(options: HeartbeatOptions, stop: (why: StopCause) => void, lastBeat: { at: number }): Promise<void> {
  const { runs, runId, heartbeatMs, stopPollMs } = options;
  const request = await requestedStop(runs, runId, options.attempt);
  if (request) {
    stop(request);
    return;
  }
  if (Date.now() - lastBeat.at < heartbeatMs - stopPollMs / 2) return;
  lastBeat.at = Date.now();
  const stored = await runs.get(runId);
  const ended = stored?.status === 'ABORTED' ? (stored.abort as RunAbort | undefined) : undefined;
  if (ended) {
    // A reader took this run for dead (a stalled heartbeat): it stays ended.
    stop({ reason: ended.reason, ...(ended.error ? { error: ended.error } : {}), cause: ended.cause });
    return;
  }
  await options.renewLease();
}

/** Starts the heartbeat (and listens to the caller's signal, which may already be aborted). */
export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  let stopped: StopCause | undefined;
  const stop = (why: StopCause): void => {
    if (stopped) return;
    stopped = why;
    options.onStop(why);
  };
  const { signal } = options;
  const onSignal = (): void => stop({ reason: 'stopped', cause: abortCause(signal) });
  if (signal?.aborted) onSignal();
  signal?.addEventListener('abort', onSignal, { once: true });
  let beating = false;
  const lastBeat = { at: Date.now() };
  const timer = setInterval(() => {
    if (beating || stopped) return;
    beating = true;
    void beat(options, stop, lastBeat)
      .catch(() => undefined)
      .finally(() => {
        beating = false;
      });
  }, options.stopPollMs);
  timer.unref();
  return {
    get stopped() {
      return stopped;
    },
    dispose() {
      clearInterval(timer);
      signal?.removeEventListener('abort', onSignal);
    },
    async lastLook() {
      if (!stopped) stopped = await requestedStop(options.runs, options.runId, options.attempt).catch(() => undefined);
      return stopped;
    },
  };
}
