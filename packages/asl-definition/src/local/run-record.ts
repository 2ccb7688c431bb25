/**
 * The run record as a pure reducer: engine events in, run record out. No I/O,
 * no clock, no randomness: every time comes from an event or from the caller.
 * The caller owns the writes, the live events and the jobs; the reducer says
 * when to write and what to emit, and which jobs of abandoned branches to stop.
 *
 * The reducer updates the record it is given in place (a run record is one
 * object the engine writes snapshots of).
 */
import { markAborted, type RunAbort } from '../runs.js';
import type { BatchAttemptRun, LocalEvent, PipelineRunRecord, StateRun } from './types.js';

type AnyState = Record<string, unknown>;

/** Every state of a definition (branch states too), with its enclosing Parallel state. */
export type StateIndex = Map<string, { state: AnyState; parent?: string }>;

/** Every state of a definition with its enclosing Parallel or Map state. */
export function indexStates(def: { States: Record<string, unknown> }, parent?: string, out: StateIndex = new Map()): StateIndex {
  for (const [name, raw] of Object.entries(def.States)) {
    const state = raw as AnyState;
    out.set(name, parent === undefined ? { state } : { state, parent });
    for (const branch of (state.Branches as { States: Record<string, unknown> }[] | undefined) ?? []) {
      indexStates(branch, name, out);
    }
    const processor = state.ItemProcessor as { States: Record<string, unknown> } | undefined;
    if (processor) indexStates(processor, name, out);
  }
  return out;
}

/** A state event of the engine (aws-local-stepfunctions' event log; other events are ignored). */
export interface EngineEvent {
  type: string;
  /** Epoch milliseconds. */
  timestamp: number;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  /** The Map iteration the event belongs to (aws-local-stepfunctions sets it on a Map's nested events). */
  index?: number;
  Error?: unknown;
  Cause?: unknown;
}

/** A live event before the run id is added. */
export type RunEvent = Omit<LocalEvent, 'runId'>;

/** The error of a state or run as the record keeps it: a name (default `Error`) and the cause as text. */
export function errorInfo(name: unknown, cause: unknown): { name: string; cause: string } {
  return {
    name: typeof name === 'string' && name !== '' ? name : 'Error',
    cause: typeof cause === 'string' ? cause : cause === undefined ? '' : JSON.stringify(cause),
  };
}

/** A value as the record keeps it: as it is, or a preview when its JSON is over 64 KiB. */
export function summarize(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text !== undefined && text.length > 65_536 ? { truncated: true, preview: text.slice(0, 4096) } : value;
}

/** The failure of an execution, from the error its result rejected with (the Fail state's ErrorPath/CausePath). */
export function executionFailure(error: unknown): { name: string; cause: string } {
  // The engine wraps the last error: the Fail state's ErrorPath/CausePath.
  const inner = (error as { cause?: { name?: unknown; message?: unknown } }).cause ?? (error as object);
  return errorInfo((inner as { name?: unknown }).name, (inner as { message?: unknown }).message);
}

/** What the task bindings reported so far, by Task state name (the reducer only reads it). */
export interface TaskFacts {
  /** A Task's result (Lambda payload, `{ jobId, exitCode, attempts, report }`, `{ messageId }`), summarized. */
  taskResults: ReadonlyMap<string, unknown>;
  /** Task states whose own handler or job failed (as opposed to being stopped). */
  failedTasks: ReadonlySet<string>;
  /** Per Batch Task state: every attempt of every job it submitted. */
  batchAttempts: ReadonlyMap<string, BatchAttemptRun[]>;
}

/** The run being recorded: the record, the latest run of each state, the last top-level state entered. */
export interface RunProgress {
  record: PipelineRunRecord;
  runs: Map<string, StateRun>;
  lastState: string;
  /** The states of this attempt start here in `record.states` (a redrive keeps the earlier ones as they were). */
  firstOwn: number;
}

/** Where the events come from: the definition's states, this attempt of the run, the branches a redrive keeps. */
export interface RunShape {
  states: StateIndex;
  /** 0 for the first run, n for the n-th redrive. */
  attempt: number;
  /** States of kept branches: their events are not recorded again. */
  kept?: ReadonlySet<string>;
}

/** What the caller must do after an event. */
export interface Reaction {
  /** Live events to emit, in order. */
  events: RunEvent[];
  /** Write the record now (a state entered, caught or succeeded: a run that dies then shows it). */
  save: boolean;
  /** Task states of abandoned branches whose Batch jobs must be stopped. */
  stopJobs: string[];
}

/** The record of a new run, RUNNING from `started`, no state entered yet. */
export function newRunRecord(
  run: { runId: string; date?: string | undefined; lake: string; source: string; intervals: number[]; partitions?: number },
  started: Date,
): PipelineRunRecord {
  const { runId, date, lake, source, intervals } = run;
  return {
    ...(run.partitions !== undefined && run.partitions > 1 ? { partitions: run.partitions } : {}),
    runId,
    engine: 'local',
    stateMachine: 'fibbars-daily-pipeline',
    input: date === undefined ? {} : { date },
    lake,
    source,
    intervals,
    status: 'RUNNING',
    startedAt: started.toISOString(),
    states: [],
  };
}

/** Progress of a record about to run (`lastState` starts at the definition's StartAt). */
export function startProgress(record: PipelineRunRecord, startAt: string): RunProgress {
  return { record, runs: new Map(), lastState: startAt, firstOwn: record.states.length };
}

function attachAttempts(run: StateRun, facts: TaskFacts): void {
  const list = facts.batchAttempts.get(run.name);
  if (list) run.batchAttempts = list;
}

/**
 * A failed Parallel state abandons its other branches: their running states
 * are aborted (the caller stops their jobs), as Step Functions does.
 */
function abandonBranches(progress: RunProgress, shape: RunShape, facts: TaskFacts, parallel: string, at: string, stopJobs: string[]): void {
  for (const [child, where] of shape.states) {
    if (where.parent !== parallel) continue;
    const run = progress.runs.get(child);
    if (run && run.status === 'running' && !facts.failedTasks.has(child)) {
      run.status = 'aborted';
      run.endedAt = at;
    }
    if (!facts.failedTasks.has(child)) stopJobs.push(child);
    if (where.state.Type === 'Parallel' || where.state.Type === 'Map') abandonBranches(progress, shape, facts, child, at, stopJobs);
  }
}

/** Applies one engine event to the record; returns what the caller must do (nothing for events it ignores). */
export function applyEngineEvent(progress: RunProgress, shape: RunShape, facts: TaskFacts, event: EngineEvent): Reaction {
  const reaction: Reaction = { events: [], save: false, stopJobs: [] };
  const at = new Date(event.timestamp).toISOString();
  if (!event.state) return reaction;
  const base = event.state.name;
  // A Map's iterations run the same states: each iteration's are recorded as `<state>#<index>`.
  const name = event.index === undefined ? base : `${base}#${event.index}`;
  // A branch a redrive keeps (its recorded output, replayed): not run again, not recorded again.
  if (shape.kept?.has(base)) return reaction;
  const parent = shape.states.get(base)?.parent;
  const where = parent === undefined ? {} : { parent };
  const run = progress.runs.get(name);
  switch (event.type) {
    case 'StateEntered': {
      const entered: StateRun = { name, type: event.state.type, ...where, startedAt: at, attempts: 1, status: 'running', retries: [] };
      if (parent === undefined) entered.input = summarize(event.state.input);
      if (shape.attempt > 0) entered.redrive = shape.attempt;
      progress.runs.set(name, entered);
      progress.record.states.push(entered);
      if (parent === undefined) progress.lastState = name;
      reaction.events.push({ type: 'state-entered', state: name, attempt: 1, at, ...where });
      // Recorded at once, so a run that dies here shows the state it was in.
      reaction.save = true;
      break;
    }
    case 'StateFailed': {
      if (!run || run.status === 'aborted') break;
      if (event.state.type === 'Parallel') abandonBranches(progress, shape, facts, name, at, reaction.stopJobs);
      run.error = errorInfo(event.Error, event.Cause);
      reaction.events.push({ type: 'state-failed', state: name, attempt: run.attempts, at, ...where, error: run.error });
      break;
    }
    case 'StateRetried': {
      if (!run) break;
      run.retries.push({ at, error: run.error ?? errorInfo(undefined, undefined) });
      run.attempts += 1;
      reaction.events.push({ type: 'state-retried', state: name, attempt: run.attempts, at, ...where });
      break;
    }
    case 'StateCaught': {
      if (!run) break;
      run.status = 'caught';
      run.endedAt = at;
      attachAttempts(run, facts);
      reaction.save = true;
      break;
    }
    case 'StateExited': {
      // A caught state exits too, towards its Catch target: it still failed.
      if (!run || run.status === 'caught' || run.status === 'aborted') break;
      run.status = 'succeeded';
      run.endedAt = at;
      delete run.error;
      const result = facts.taskResults.get(base);
      if (result !== undefined) run.output = result;
      if (parent !== undefined && shape.states.get(base)?.state.End === true) run.result = summarize(event.state.output);
      attachAttempts(run, facts);
      reaction.events.push({ type: 'state-succeeded', state: name, attempt: run.attempts, at, ...where });
      reaction.save = true;
      break;
    }
    default:
      break;
  }
  return reaction;
}

/** Why a run was stopped (`abort` of the record, without the time and state the end adds). */
export type StopCause = Omit<RunAbort, 'at' | 'state'>;

/** Ends a stopped run ABORTED at `ended`; returns its last live event. */
export function abortRun(progress: RunProgress, facts: TaskFacts, ended: Date, stopped: StopCause): RunEvent {
  const { record } = progress;
  delete record.lease;
  for (const run of record.states.slice(progress.firstOwn)) attachAttempts(run, facts);
  markAborted(record, { at: ended.toISOString(), ...stopped });
  return { type: 'execution-aborted', state: record.finalState ?? progress.lastState, attempt: 1, at: ended.toISOString() };
}

/**
 * Ends a run that was not stopped at `ended`: FAILED with `failure`, else
 * SUCCEEDED. A state still running failed when its own task failed (or it
 * held the error the run failed with), else it was aborted. Returns the last live event.
 */
export function finishRun(progress: RunProgress, facts: TaskFacts, ended: Date, failure: { name: string; cause: string } | undefined): RunEvent {
  const { record } = progress;
  delete record.lease;
  for (const run of record.states.slice(progress.firstOwn)) {
    attachAttempts(run, facts);
    if (run.status === 'running') {
      run.status = facts.failedTasks.has(run.name) || (run.error && failure) ? 'failed' : 'aborted';
      run.endedAt = ended.toISOString();
    }
  }
  record.status = failure ? 'FAILED' : 'SUCCEEDED';
  record.finalState = progress.lastState;
  if (failure) record.error = failure;
  record.endedAt = ended.toISOString();
  record.durationMs = ended.getTime() - Date.parse(record.startedAt);
  return {
    type: failure ? 'execution-failed' : 'execution-succeeded',
    state: record.finalState,
    attempt: 1,
    at: record.endedAt,
    ...(failure ? { error: failure } : {}),
  };
}
