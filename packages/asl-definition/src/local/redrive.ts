/**
 * Redrive (Step Functions' RedriveExecution, locally): where a FAILED or
 * ABORTED run restarts, with what input, and the record it continues in.
 * Pure: it reads the previous record and the definition, nothing else.
 */
import { ConfigError } from '@fibbars/ohlcv-core/errors';
import type { StateMachineDefinition } from '../definition.js';
import type { PipelineRunRecord, StateRun } from './types.js';

type AnyState = Record<string, unknown>;

export interface RedrivePlan {
  /** The definition that runs: StartAt moved to `from`, succeeded Parallel branches replaced by their recorded output. */
  definition: StateMachineDefinition;
  from: string;
  input: unknown;
  /** States of kept branches: their events are not recorded again. */
  kept: Set<string>;
}

/**
 * Where a redrive restarts (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html):
 * "it continues the failed execution from the unsuccessful step and uses the
 * same input ... doesn't rerun [the successful] steps", and for a Parallel
 * state "redrives only the ... branches that failed or aborted". Locally: the
 * first state of the main path (StartAt, then each Next) whose latest run did
 * not succeed, started with the input it had; inside it, a branch whose last
 * state succeeded is replaced by a Pass state giving that state's recorded output.
 */
export function redrivePlan(def: StateMachineDefinition, previous: PipelineRunRecord): RedrivePlan {
  const latest = (name: string): StateRun | undefined => [...previous.states].reverse().find((s) => s.name === name);
  const all = def.States as Record<string, AnyState>;
  const path: string[] = [];
  for (let name: string | undefined = def.StartAt; name !== undefined && !path.includes(name); ) {
    path.push(name);
    const next: unknown = all[name]?.Next;
    name = typeof next === 'string' ? next : undefined;
  }
  const from = path.find((name) => latest(name)?.status !== 'succeeded');
  if (from === undefined) throw new ConfigError(`run ${previous.runId} has nothing to redrive: every state of its main path succeeded`);
  const entered = latest(from);
  const truncated = (v: unknown) => typeof v === 'object' && v !== null && (v as { truncated?: unknown }).truncated === true;
  let input: unknown;
  if (entered?.input !== undefined && !truncated(entered.input)) input = entered.input;
  else if (entered === undefined && from === def.StartAt) input = previous.input;
  else throw new ConfigError(`run ${previous.runId} recorded no input for state ${from} (an older version wrote it): start a new run with "fibbars run"`);
  const kept = new Set<string>();
  const state = all[from] as AnyState;
  let restarted = state;
  if (state.Type === 'Parallel' && entered) {
    const branches = (state.Branches as { StartAt: string; States: Record<string, AnyState> }[]).map((branch) => {
      const end = Object.entries(branch.States).find(([, s]) => s.End === true)?.[0];
      const last = end === undefined ? undefined : latest(end);
      if (end === undefined || last?.status !== 'succeeded' || last.result === undefined || truncated(last.result)) return branch;
      for (const name of Object.keys(branch.States)) kept.add(name);
      return { StartAt: end, States: { [end]: { Type: 'Pass', Result: last.result, End: true } } };
    });
    restarted = { ...state, Branches: branches };
  }
  return { definition: { ...def, StartAt: from, States: { ...all, [from]: restarted } } as StateMachineDefinition, from, input, kept };
}

/** The record of a redrive: the same execution, RUNNING again, its earlier states kept as history. */
export function redrivenRecord(previous: PipelineRunRecord, started: Date, attempt: number, from: string): PipelineRunRecord {
  const record = structuredClone(previous);
  for (const key of ['endedAt', 'durationMs', 'error', 'abort', 'alert', 'finalState', 'lease'] as const) delete record[key];
  record.status = 'RUNNING';
  record.redriveCount = attempt;
  record.redriveDate = started.toISOString();
  record.redriveFrom = from;
  return record;
}
