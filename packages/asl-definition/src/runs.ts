/**
 * Run records of the local engine as executions: the lease that tells a live
 * run from a dead one, the stop request, and the statuses Step Functions uses.
 *
 * A local run holds a lease in its record (`lease`: host, pid, last heartbeat,
 * expiry) and renews it every few seconds. A run killed by Ctrl-C or SIGKILL
 * stops renewing; the next command that reads the run records
 * ({@link reconcileRun}) marks it ABORTED, as Step Functions shows a stopped
 * execution, with the state it was in. A run is dead when its lease expired,
 * or at once when it was held by a process of this host that no longer exists.
 *
 * Light on purpose (no engine import): `fibbars executions` loads this.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { RunRecord, RunStore } from '@fibbars/ohlcv-core/storage';

/** Step Functions' execution statuses (`ExecutionStatus` of ListExecutions / DescribeExecution). */
export const EXECUTION_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** Statuses a run can be redriven from (as RedriveExecution: failed, aborted or timed out). */
export const REDRIVABLE_STATUSES: readonly ExecutionStatus[] = ['FAILED', 'ABORTED', 'TIMED_OUT'];

/**
 * A new run id, sortable by start time (the one home of run ids: the local
 * engine and the `fibbars` command's jobs).
 *
 * - `newRunId(at)`: an execution of the local engine (= its execution name),
 *   `YYYYMMDDTHHmmssSSSZ-<8 hex>`: the UTC start time to the millisecond.
 * - `newRunId(at, kind)`: a job the command runs itself (`backfill`,
 *   `consolidate`, `resample`), `<kind>-YYYYMMDDTHHmmssZ-<6 hex>`: to the second.
 */
export function newRunId(at: Date = new Date(), kind?: string): string {
  const stamp = at.toISOString().replace(/[-:]/g, '');
  if (kind === undefined) return `${stamp.replace('.', '')}-${randomBytes(4).toString('hex')}`;
  return `${kind}-${stamp.replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

/** Who runs a local execution, and until when it counts as alive. */
export interface RunLease {
  host: string;
  pid: number;
  heartbeatAt: string;
  expiresAt: string;
}

/** Why and where a run was aborted. */
export interface RunAbort {
  at: string;
  /** `stopped`: `fibbars stop`; `process-exited`: its process is gone; `lease-expired`: no heartbeat in time. */
  reason: 'stopped' | 'process-exited' | 'lease-expired';
  /** The top-level state it was in, when there was one. */
  state?: string;
  /** StopExecution's optional error and cause. */
  error?: string;
  cause: string;
}

/** A stop request, as `fibbars stop` records it in the run store. */
export interface StopRequest {
  runId: string;
  at: string;
  /** The attempt it stops (0 for the first run, then the redrive count). */
  redriveCount: number;
  error?: string;
  cause?: string;
  by: { host: string; pid: number };
}

/** Heartbeat every 5 s; the lease lasts 30 s (a run on another host is declared dead 30 s after its last beat). */
export const DEFAULT_HEARTBEAT_MS = 5_000;
export const DEFAULT_LEASE_MS = 30_000;
/** A running local run reads its stop request every second (StopExecution on AWS takes effect at once). */
export const DEFAULT_STOP_POLL_MS = 1_000;
/** A RUNNING record written before leases existed: dead once nothing was recorded for an hour. */
export const LEGACY_RUNNING_MS = 3_600_000;

export interface LivenessProbe {
  host: string;
  /** True when a process with this id exists on this host. */
  isAlive(pid: number): boolean;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process its parent has not reaped yet (a zombie, state Z on Linux) still answers signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export const localProbe = (): LivenessProbe => ({ host: hostname(), isAlive: pidAlive });

export function newLease(now: Date, leaseMs: number, probe: LivenessProbe = localProbe()): RunLease {
  return { host: probe.host, pid: process.pid, heartbeatAt: now.toISOString(), expiresAt: new Date(now.getTime() + leaseMs).toISOString() };
}

interface StateLike {
  name?: unknown;
  parent?: unknown;
  status?: unknown;
  startedAt?: unknown;
  endedAt?: unknown;
}

function statesOf(record: RunRecord): StateLike[] {
  return Array.isArray(record.states) ? (record.states as StateLike[]) : [];
}

/** The last moment a record shows activity: its heartbeat, else its latest state time or start. */
function lastActivity(record: RunRecord): number {
  const lease = record.lease as Partial<RunLease> | undefined;
  const times = [lease?.heartbeatAt, record.startedAt, ...statesOf(record).flatMap((s) => [s.startedAt, s.endedAt])]
    .filter((t): t is string => typeof t === 'string')
    .map((t) => Date.parse(t))
    .filter((t) => Number.isFinite(t));
  return times.length === 0 ? 0 : Math.max(...times);
}

/** Why a RUNNING record's process is known to be gone, or `null` while it may be alive (or the run ended). */
export function deadRunReason(record: RunRecord, now: Date, probe: LivenessProbe = localProbe()): Omit<RunAbort, 'state'> | null {
  if (record.status !== 'RUNNING') return null;
  const lease = record.lease as Partial<RunLease> | undefined;
  if (!lease || typeof lease.expiresAt !== 'string') {
    const last = lastActivity(record);
    if (now.getTime() - last < LEGACY_RUNNING_MS) return null;
    return {
      at: new Date(last).toISOString(),
      reason: 'lease-expired',
      cause: `the run holds no lease (an older version wrote it) and recorded nothing since ${new Date(last).toISOString()}`,
    };
  }
  const beat = lease.heartbeatAt ?? lease.expiresAt;
  // The run was alive at least until its last heartbeat or its last recorded state change.
  const lastSeen = new Date(Math.max(lastActivity(record), Date.parse(beat))).toISOString();
  if (lease.host === probe.host && typeof lease.pid === 'number' && lease.pid !== process.pid && !probe.isAlive(lease.pid)) {
    return { at: lastSeen, reason: 'process-exited', cause: `its process (pid ${lease.pid} on ${lease.host}) ended without finishing the run; last heartbeat ${beat}` };
  }
  if (now.getTime() > Date.parse(lease.expiresAt)) {
    return { at: lastSeen, reason: 'lease-expired', cause: `no heartbeat from pid ${lease.pid ?? '?'} on ${lease.host ?? '?'} since ${beat} (lease expired ${lease.expiresAt})` };
  }
  return null;
}

/** The top-level state a run was in: the last one entered and not finished, else the last one entered. */
export function currentState(record: RunRecord): string | undefined {
  const top = statesOf(record).filter((s) => s.parent === undefined);
  const open = [...top].reverse().find((s) => s.status === 'running');
  const name = (open ?? top[top.length - 1])?.name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Ends a record ABORTED (in place): the states still running are aborted at
 * `abort.at`, the state it was in is its final state.
 */
export function markAborted<T extends RunRecord>(record: T, abort: Omit<RunAbort, 'state'>): T {
  const state = currentState(record);
  for (const s of statesOf(record)) {
    if (s.status === 'running') {
      s.status = 'aborted';
      s.endedAt = abort.at;
    }
  }
  const r = record as RunRecord;
  r.status = 'ABORTED';
  r.abort = { ...abort, ...(state === undefined ? {} : { state }) } satisfies RunAbort;
  if (state !== undefined) r.finalState = state;
  r.endedAt = abort.at;
  // From the start of the execution, as startDate / stopDate on AWS (a redrive keeps the start).
  if (typeof r.startedAt === 'string') r.durationMs = Math.max(0, Date.parse(abort.at) - Date.parse(r.startedAt));
  if (abort.error !== undefined) r.error = { name: abort.error, cause: abort.cause };
  return record;
}

/**
 * The record as it stands: a RUNNING record whose process is gone is marked
 * ABORTED and written back. Other records are returned as they are.
 */
export async function reconcileRun<T extends RunRecord>(runs: RunStore, record: T, now: Date = new Date(), probe?: LivenessProbe): Promise<T> {
  const dead = deadRunReason(record, now, probe);
  if (!dead) return record;
  // A stop that was requested and never acknowledged is what ended it, from the user's side.
  const stop = (await runs.stopRequest(record.runId)) as StopRequest | null;
  const aborted = markAborted(
    structuredClone(record),
    stop ? { ...dead, reason: 'stopped', ...(stop.error ? { error: stop.error } : {}), cause: stop.cause ?? dead.cause } : dead,
  );
  // Re-read: the holder may have finished in the meantime; never overwrite an ended record.
  const latest = await runs.get(record.runId);
  if (latest && latest.status !== 'RUNNING') return latest as T;
  await runs.put(aborted);
  if (stop) await runs.clearStop(record.runId);
  return aborted;
}

/** Every run record, reconciled, newest first (run ids sort by start time). */
export async function reconcileRuns(runs: RunStore, now: Date = new Date(), probe?: LivenessProbe): Promise<RunRecord[]> {
  const records = await runs.list();
  const out = await Promise.all(records.map((r) => reconcileRun(runs, r, now, probe)));
  return out.sort((a, b) => (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0));
}

/**
 * Asks a RUNNING local run to stop and waits until it ended: the holder
 * notices at its next heartbeat and ends ABORTED; a holder that is gone is
 * marked ABORTED as soon as that is known (at the latest when its lease
 * expires). Resolves to the ended record.
 */
export async function stopRun(
  runs: RunStore,
  record: RunRecord,
  options: { error?: string; cause?: string; now?: () => Date; pollMs?: number; probe?: LivenessProbe; timeoutMs?: number } = {},
): Promise<RunRecord> {
  const now = options.now ?? (() => new Date());
  const probe = options.probe ?? localProbe();
  const request: StopRequest = {
    runId: record.runId,
    at: now().toISOString(),
    redriveCount: typeof record.redriveCount === 'number' ? record.redriveCount : 0,
    ...(options.error === undefined ? {} : { error: options.error }),
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    by: { host: probe.host, pid: process.pid },
  };
  await runs.requestStop(record.runId, { ...request });
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_LEASE_MS + 2 * DEFAULT_HEARTBEAT_MS);
  for (;;) {
    const latest = await runs.get(record.runId);
    if (!latest) throw new Error(`run ${record.runId} disappeared while stopping it`);
    const current = await reconcileRun(runs, latest, now(), probe);
    if (current.status !== 'RUNNING') return current;
    if (Date.now() > deadline) {
      // The holder renews its lease but never reads the request: end the record for it.
      const aborted = markAborted(structuredClone(current), {
        at: now().toISOString(),
        reason: 'stopped',
        ...(options.error === undefined ? {} : { error: options.error }),
        cause: options.cause ?? 'stopped by fibbars stop (the run did not acknowledge the request)',
      });
      await runs.put(aborted);
      await runs.clearStop(record.runId);
      return aborted;
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
  }
}
