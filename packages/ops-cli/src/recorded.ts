/**
 * A command that is not the state machine (a backfill) recorded as an
 * execution, in the same run store and shape as the local engine's records:
 * `executions` lists it, `describe` shows it stage by stage, it holds a lease
 * (so a killed backfill shows ABORTED), `stop` stops it at the next stage and
 * `redrive` runs it again as a new attempt of the same execution.
 */
import { DEFAULT_HEARTBEAT_MS, DEFAULT_LEASE_MS, markAborted, newLease, type RunAbort, type StopRequest } from '@fibbars/asl-definition';
import type { RunRecord, RunStore } from '@fibbars/ohlcv-core/storage';
import { CommandFailedError } from './errors.js';

interface StageRun {
  name: string;
  type: 'Task';
  startedAt: string;
  endedAt?: string;
  attempts: number;
  status: 'running' | 'succeeded' | 'failed' | 'aborted';
  retries: never[];
  output?: unknown;
  error?: { name: string; cause: string };
  redrive?: number;
}

export interface RecordedInit {
  runId: string;
  /** What kind of execution: `backfill`. */
  kind: string;
  input: Record<string, unknown>;
  lake: string;
  source: string;
  /** The record of the run this one redrives. */
  previous?: RunRecord;
  heartbeatMs?: number;
}

export class RecordedExecution {
  private readonly record: RunRecord & { states: StageRun[] };
  private readonly attempt: number;
  private stopped: Omit<RunAbort, 'at' | 'state'> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writes: Promise<unknown> = Promise.resolve();
  private readonly leaseMs: number;

  private constructor(
    private readonly runs: RunStore,
    init: RecordedInit,
    now: Date,
  ) {
    const heartbeatMs = init.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.leaseMs = Math.max(DEFAULT_LEASE_MS, 3 * heartbeatMs);
    this.attempt = init.previous ? (typeof init.previous.redriveCount === 'number' ? init.previous.redriveCount : 0) + 1 : 0;
    if (init.previous) {
      const r = structuredClone(init.previous) as RunRecord & { states: StageRun[] };
      for (const key of ['endedAt', 'durationMs', 'error', 'abort', 'finalState']) delete r[key];
      r.status = 'RUNNING';
      r.redriveCount = this.attempt;
      r.redriveDate = now.toISOString();
      r.redriveFrom = r.states.find((s) => s.status !== 'succeeded')?.name ?? r.states[0]?.name;
      if (!Array.isArray(r.states)) r.states = [];
      this.record = r;
    } else {
      this.record = {
        runId: init.runId,
        engine: 'local',
        kind: init.kind,
        input: init.input,
        lake: init.lake,
        source: init.source,
        status: 'RUNNING',
        startedAt: now.toISOString(),
        states: [],
      };
    }
    this.record.lease = newLease(now, this.leaseMs);
    this.timer = setInterval(() => void this.beat(), heartbeatMs);
    this.timer.unref();
  }

  get runId(): string {
    return this.record.runId;
  }

  static async start(runs: RunStore, init: RecordedInit, now: Date = new Date()): Promise<RecordedExecution> {
    const run = new RecordedExecution(runs, init, now);
    if (init.previous) await runs.clearStop(run.runId);
    await run.save();
    return run;
  }

  private save(): Promise<void> {
    const snapshot = structuredClone(this.record);
    const write = this.writes.then(() => this.runs.put(snapshot));
    this.writes = write.catch(() => undefined);
    return write;
  }

  private async beat(): Promise<void> {
    if (this.stopped || this.record.status !== 'RUNNING') return;
    try {
      const request = (await this.runs.stopRequest(this.runId)) as StopRequest | null;
      if (request && (request.redriveCount ?? 0) === this.attempt) {
        this.stopped = { reason: 'stopped', ...(request.error ? { error: request.error } : {}), cause: request.cause ?? `stopped by fibbars stop at ${request.at}` };
        return;
      }
      this.record.lease = newLease(new Date(), this.leaseMs);
      await this.save();
    } catch {
      // a missed heartbeat is retried at the next one
    }
  }

  /** Runs one stage, recorded; a stop requested before it ends the execution ABORTED instead. */
  async stage<T>(name: string, work: () => Promise<T>, output?: (value: T) => unknown): Promise<T> {
    await this.checkStopped();
    const run: StageRun = { name, type: 'Task', startedAt: new Date().toISOString(), attempts: 1, status: 'running', retries: [] };
    if (this.attempt > 0) run.redrive = this.attempt;
    this.record.states.push(run);
    await this.save().catch(() => undefined);
    try {
      const value = await work();
      run.status = 'succeeded';
      run.endedAt = new Date().toISOString();
      if (output) run.output = output(value);
      await this.save().catch(() => undefined);
      return value;
    } catch (err) {
      run.status = 'failed';
      run.endedAt = new Date().toISOString();
      run.error = { name: err instanceof Error ? err.name : 'Error', cause: err instanceof Error ? err.message : String(err) };
      await this.end('FAILED', run.error);
      throw err;
    }
  }

  private async checkStopped(): Promise<void> {
    if (!this.stopped) await this.beat();
    if (!this.stopped) return;
    this.finish();
    markAborted(this.record, { at: new Date().toISOString(), ...this.stopped });
    await this.save();
    await this.runs.clearStop(this.runId).catch(() => undefined);
    throw new CommandFailedError(
      `the ${String(this.record.kind)} ${this.runId} was stopped before its next stage (${this.stopped.cause}): redrive it with "fibbars redrive ${this.runId}"`,
    );
  }

  private finish(): void {
    clearInterval(this.timer);
    delete this.record.lease;
  }

  private async end(status: 'SUCCEEDED' | 'FAILED', error?: { name: string; cause: string }): Promise<void> {
    this.finish();
    const ended = new Date();
    this.record.status = status;
    this.record.endedAt = ended.toISOString();
    this.record.durationMs = ended.getTime() - Date.parse(String(this.record.startedAt));
    const last = this.record.states[this.record.states.length - 1];
    if (last) this.record.finalState = last.name;
    if (error) this.record.error = error;
    await this.save();
  }

  /** Ends the execution SUCCEEDED (a stop that came during the last stage still aborts it). */
  async succeed(): Promise<void> {
    await this.checkStopped();
    await this.end('SUCCEEDED');
  }
}
