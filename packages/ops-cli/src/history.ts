/**
 * Turns a Step Functions execution history into one row per state: when it
 * was entered and left, how many attempts its task took, and the error of a
 * failed attempt. Events are attributed to a state by following
 * `previousEventId` back to the nearest `*StateEntered`, which also works for
 * the branches of a Parallel state running side by side.
 */
import type { HistoryEvent } from '@aws-sdk/client-sfn';

export interface HistoryStateRow {
  name: string;
  type: string;
  status: 'running' | 'done' | 'failed' | 'caught';
  enteredAt: string | undefined;
  exitedAt: string | undefined;
  durationMs: number | undefined;
  attempts: number;
  errors: { error: string; cause: string }[];
}

export interface HistoryView {
  states: HistoryStateRow[];
  failure: { error: string; cause: string } | undefined;
}

const SCHEDULED = /(TaskScheduled|LambdaFunctionScheduled|ActivityScheduled)$/;
const FAILED = /(TaskFailed|TaskTimedOut|LambdaFunctionFailed|LambdaFunctionTimedOut|LambdaFunctionStartFailed|TaskSubmitFailed|TaskStartFailed|ActivityFailed|ActivityTimedOut)$/;

function failureOf(e: HistoryEvent): { error: string; cause: string } | undefined {
  const details = Object.entries(e).find(([k, v]) => k.endsWith('EventDetails') && v && typeof v === 'object' && ('error' in v || 'cause' in v));
  if (!details) return undefined;
  const d = details[1] as { error?: string; cause?: string };
  return { error: d.error ?? 'States.Unknown', cause: d.cause ?? '' };
}

export function summariseHistory(events: readonly HistoryEvent[]): HistoryView {
  const byId = new Map<number, HistoryEvent>();
  for (const e of events) if (e.id !== undefined) byId.set(e.id, e);
  const rows = new Map<number, HistoryStateRow>();
  const ownerOf = (e: HistoryEvent): HistoryStateRow | undefined => {
    let cur: HistoryEvent | undefined = e;
    for (let guard = 0; cur && guard < 10_000; guard++) {
      if (cur.type?.endsWith('StateEntered') && cur.id !== undefined) return rows.get(cur.id);
      cur = cur.previousEventId !== undefined ? byId.get(cur.previousEventId) : undefined;
    }
    return undefined;
  };
  let failure: HistoryView['failure'];
  for (const e of events) {
    const type = e.type ?? '';
    if (type.endsWith('StateEntered') && e.id !== undefined) {
      rows.set(e.id, {
        name: e.stateEnteredEventDetails?.name ?? '?',
        type: type.replace(/StateEntered$/, ''),
        status: 'running',
        enteredAt: e.timestamp?.toISOString(),
        exitedAt: undefined,
        durationMs: undefined,
        attempts: 0,
        errors: [],
      });
      continue;
    }
    if (type === 'ExecutionFailed' || type === 'ExecutionTimedOut' || type === 'ExecutionAborted') {
      failure = failureOf(e) ?? { error: type, cause: '' };
      continue;
    }
    if (type.endsWith('StateExited')) {
      // The exit event's previous event is inside the state; find the open row by name.
      const name = e.stateExitedEventDetails?.name;
      const row = [...rows.values()].reverse().find((r) => r.name === name && r.exitedAt === undefined);
      if (row) {
        row.exitedAt = e.timestamp?.toISOString();
        if (row.enteredAt && row.exitedAt) row.durationMs = Date.parse(row.exitedAt) - Date.parse(row.enteredAt);
        row.status = row.status === 'failed' ? 'caught' : 'done';
      }
      continue;
    }
    const owner = ownerOf(e);
    if (!owner) continue;
    if (SCHEDULED.test(type)) owner.attempts += 1;
    if (FAILED.test(type) || type.endsWith('Failed')) {
      const f = failureOf(e);
      if (f) owner.errors.push(f);
      owner.status = 'failed';
    }
  }
  // A state whose last attempt succeeded after failures is done; keep its errors as retries.
  for (const r of rows.values()) {
    if (r.type === 'Fail') r.status = 'failed';
    if (r.status === 'caught' && r.attempts > r.errors.length) r.status = 'done';
    if (r.status === 'running' && r.errors.length > 0 && failure) r.status = 'failed';
  }
  return { states: [...rows.values()], failure };
}
