// The run-record reducer on its own: engine events in, run record out, no
// engine, no lake, no clock (every time comes from an event or the test).
import { describe, expect, it } from '@jest/globals';
import {
  abortRun,
  applyEngineEvent,
  executionFailure,
  finishRun,
  indexStates,
  newRunRecord,
  startProgress,
  summarize,
  type EngineEvent,
  type RunShape,
  type TaskFacts,
} from '../../src/local/run-record.js';
import type { BatchAttemptRun } from '../../src/local/types.js';

// A small definition with the pipeline's shape: a Parallel of two Tasks, a Task, a Parallel with a nested Parallel.
const definition = {
  StartAt: 'Fetch',
  States: {
    Fetch: {
      Type: 'Parallel',
      Branches: [
        { StartAt: 'A', States: { A: { Type: 'Task', End: true } } },
        { StartAt: 'B', States: { B: { Type: 'Task', End: true } } },
      ],
      Next: 'Work',
    },
    Work: { Type: 'Task', Next: 'Fan' },
    Fan: {
      Type: 'Parallel',
      Branches: [
        { StartAt: 'C', States: { C: { Type: 'Task', End: true } } },
        { StartAt: 'Inner', States: { Inner: { Type: 'Parallel', Branches: [{ StartAt: 'D', States: { D: { Type: 'Task', End: true } } }], End: true } } },
      ],
      End: true,
    },
  },
};

const T0 = Date.parse('2024-03-08T21:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();

function event(type: string, name: string, ms: number, extra: Partial<EngineEvent> & { stateType?: string; input?: unknown; output?: unknown } = {}): EngineEvent {
  const { stateType = 'Task', input, output, ...rest } = extra;
  return { type, timestamp: T0 + ms, state: { name, type: stateType, input, output }, ...rest };
}

function setup(options: { attempt?: number; kept?: Set<string> } = {}) {
  const record = newRunRecord({ runId: 'r1', date: '2024-03-08', lake: '/lake', source: 'synthetic', intervals: [3] }, new Date(T0));
  const progress = startProgress(record, 'Fetch');
  const shape: RunShape = { states: indexStates(definition), attempt: options.attempt ?? 0, ...(options.kept ? { kept: options.kept } : {}) };
  const taskResults = new Map<string, unknown>();
  const failedTasks = new Set<string>();
  const batchAttempts = new Map<string, BatchAttemptRun[]>();
  const facts: TaskFacts = { taskResults, failedTasks, batchAttempts };
  const apply = (e: EngineEvent) => applyEngineEvent(progress, shape, facts, e);
  return { record, progress, apply, taskResults, failedTasks, batchAttempts, facts };
}

describe('indexStates', () => {
  it('lists every state with its enclosing Parallel state, nested branches too', () => {
    const states = indexStates(definition);
    expect([...states.keys()]).toEqual(['Fetch', 'A', 'B', 'Work', 'Fan', 'C', 'Inner', 'D']);
    expect(states.get('Fetch')?.parent).toBeUndefined();
    expect(states.get('A')?.parent).toBe('Fetch');
    expect(states.get('Inner')?.parent).toBe('Fan');
    expect(states.get('D')?.parent).toBe('Inner');
  });
});

describe('newRunRecord', () => {
  it('is RUNNING from the start time with no state, and keeps no date it was not given', () => {
    const record = newRunRecord({ runId: 'r1', date: undefined, lake: '/lake', source: 'custom', intervals: [3, 5] }, new Date(T0));
    expect(record).toEqual({
      runId: 'r1',
      engine: 'local',
      stateMachine: 'fibbars-daily-pipeline',
      input: {},
      lake: '/lake',
      source: 'custom',
      intervals: [3, 5],
      status: 'RUNNING',
      startedAt: iso(0),
      states: [],
    });
  });
});

describe('applyEngineEvent', () => {
  it('records an entered state at once: running, its input (top-level only), a live event', () => {
    const { record, progress, apply } = setup();
    const top = apply(event('StateEntered', 'Fetch', 10, { stateType: 'Parallel', input: { date: '2024-03-08' } }));
    const branch = apply(event('StateEntered', 'A', 11, { input: { x: 1 } }));
    expect(top).toEqual({ events: [{ type: 'state-entered', state: 'Fetch', attempt: 1, at: iso(10) }], save: true, stopJobs: [] });
    expect(branch.events).toEqual([{ type: 'state-entered', state: 'A', attempt: 1, at: iso(11), parent: 'Fetch' }]);
    expect(record.states).toEqual([
      { name: 'Fetch', type: 'Parallel', startedAt: iso(10), attempts: 1, status: 'running', retries: [], input: { date: '2024-03-08' } },
      { name: 'A', type: 'Task', parent: 'Fetch', startedAt: iso(11), attempts: 1, status: 'running', retries: [] },
    ]);
    expect(progress.lastState).toBe('Fetch');
  });

  it('counts retries with the error that caused each, and clears the error when the state succeeds', () => {
    const { record, apply, taskResults } = setup();
    apply(event('StateEntered', 'Work', 0));
    const failed = apply(event('StateFailed', 'Work', 5, { Error: 'RateLimitedError', Cause: '429' }));
    expect(failed).toEqual({
      events: [{ type: 'state-failed', state: 'Work', attempt: 1, at: iso(5), error: { name: 'RateLimitedError', cause: '429' } }],
      save: false,
      stopJobs: [],
    });
    expect(apply(event('StateRetried', 'Work', 6)).events).toEqual([{ type: 'state-retried', state: 'Work', attempt: 2, at: iso(6) }]);
    taskResults.set('Work', { jobId: 'j1', exitCode: 0 });
    const exited = apply(event('StateExited', 'Work', 9));
    expect(exited).toEqual({ events: [{ type: 'state-succeeded', state: 'Work', attempt: 2, at: iso(9) }], save: true, stopJobs: [] });
    expect(record.states[0]).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      endedAt: iso(9),
      retries: [{ at: iso(6), error: { name: 'RateLimitedError', cause: '429' } }],
      output: { jobId: 'j1', exitCode: 0 },
    });
    expect(record.states[0]?.error).toBeUndefined();
  });

  it('keeps a branch end state\'s output as the branch result, and attaches the Batch attempts', () => {
    const { record, apply, batchAttempts } = setup();
    apply(event('StateEntered', 'C', 0));
    batchAttempts.set('C', [{ jobId: 'j', attempt: 1, exitCode: 0, logStreamName: 's', logTail: [] }]);
    apply(event('StateExited', 'C', 3, { output: { days: 3 } }));
    expect(record.states[0]).toMatchObject({ status: 'succeeded', result: { days: 3 }, batchAttempts: [{ jobId: 'j', attempt: 1 }] });
  });

  it('a caught state stays failed when it exits towards its Catch target', () => {
    const { record, apply } = setup();
    apply(event('StateEntered', 'Work', 0));
    apply(event('StateFailed', 'Work', 1, { Error: 'States.TaskFailed', Cause: { JobId: 'j' } }));
    expect(apply(event('StateCaught', 'Work', 2))).toEqual({ events: [], save: true, stopJobs: [] });
    expect(apply(event('StateExited', 'Work', 3))).toEqual({ events: [], save: false, stopJobs: [] });
    expect(record.states[0]).toMatchObject({ status: 'caught', endedAt: iso(2), error: { name: 'States.TaskFailed', cause: '{"JobId":"j"}' } });
  });

  it('a failed Parallel state aborts the running states of its other branches and stops their jobs, nested ones too', () => {
    const { record, apply, failedTasks } = setup();
    for (const [name, type] of [['Fan', 'Parallel'], ['C', 'Task'], ['Inner', 'Parallel'], ['D', 'Task']] as const) {
      apply(event('StateEntered', name, 0, { stateType: type }));
    }
    failedTasks.add('C');
    apply(event('StateFailed', 'C', 4, { Error: 'States.TaskFailed', Cause: 'boom' }));
    const reaction = apply(event('StateFailed', 'Fan', 5, { stateType: 'Parallel', Error: 'States.TaskFailed', Cause: 'boom' }));
    expect(reaction.stopJobs).toEqual(['Inner', 'D']);
    const status = Object.fromEntries(record.states.map((s) => [s.name, s.status]));
    expect(status).toEqual({ Fan: 'running', C: 'running', Inner: 'aborted', D: 'aborted' });
    expect(record.states.find((s) => s.name === 'D')?.endedAt).toBe(iso(5));
    // An aborted state's own late events change nothing.
    expect(apply(event('StateFailed', 'D', 6, { Error: 'States.TaskFailed', Cause: 'stopped' })).events).toEqual([]);
    expect(apply(event('StateExited', 'D', 7)).events).toEqual([]);
  });

  it('ignores events without a state, and the states of branches a redrive keeps; marks a redrive\'s states', () => {
    const { record, apply } = setup({ attempt: 2, kept: new Set(['A']) });
    expect(apply({ type: 'ExecutionStarted', timestamp: T0 })).toEqual({ events: [], save: false, stopJobs: [] });
    expect(apply(event('StateEntered', 'A', 1))).toEqual({ events: [], save: false, stopJobs: [] });
    apply(event('StateEntered', 'B', 2));
    expect(record.states).toEqual([expect.objectContaining({ name: 'B', redrive: 2 })]);
  });
});

describe('ending the record', () => {
  it('a run that was not stopped ends SUCCEEDED, its running states aborted', () => {
    const { record, progress, apply, facts } = setup();
    record.lease = { host: 'h', pid: 1, heartbeatAt: iso(0), expiresAt: iso(30_000) };
    apply(event('StateEntered', 'Work', 0));
    const last = finishRun(progress, facts, new Date(T0 + 1000), undefined);
    expect(last).toEqual({ type: 'execution-succeeded', state: 'Work', attempt: 1, at: iso(1000) });
    expect(record).toMatchObject({ status: 'SUCCEEDED', finalState: 'Work', endedAt: iso(1000), durationMs: 1000 });
    expect(record.lease).toBeUndefined();
    expect(record.states[0]).toMatchObject({ status: 'aborted', endedAt: iso(1000) });
  });

  it('a failed run ends FAILED with its error; a state whose own task failed, or that held the error, is failed', () => {
    const { record, progress, apply, facts, failedTasks } = setup();
    apply(event('StateEntered', 'Fetch', 0, { stateType: 'Parallel' }));
    apply(event('StateEntered', 'A', 1));
    apply(event('StateEntered', 'B', 1));
    failedTasks.add('A');
    apply(event('StateFailed', 'Fetch', 2, { stateType: 'Parallel', Error: 'X', Cause: 'y' }));
    const failure = executionFailure(Object.assign(new Error('wrapped'), { cause: { name: 'X', message: 'y' } }));
    expect(failure).toEqual({ name: 'X', cause: 'y' });
    const last = finishRun(progress, facts, new Date(T0 + 10), failure);
    expect(last).toEqual({ type: 'execution-failed', state: 'Fetch', attempt: 1, at: iso(10), error: failure });
    expect(record).toMatchObject({ status: 'FAILED', error: failure, finalState: 'Fetch' });
    expect(Object.fromEntries(record.states.map((s) => [s.name, s.status]))).toEqual({ Fetch: 'failed', A: 'failed', B: 'aborted' });
  });

  it('a stopped run ends ABORTED in the state it was in, only this attempt\'s states touched', () => {
    const { record, facts, batchAttempts } = setup();
    record.states.push({ name: 'Old', type: 'Task', startedAt: iso(-5), attempts: 1, status: 'running', retries: [] });
    const progress = startProgress(record, 'Fetch');
    const shape: RunShape = { states: indexStates(definition), attempt: 1 };
    applyEngineEvent(progress, shape, facts, event('StateEntered', 'Work', 0));
    batchAttempts.set('Old', []);
    batchAttempts.set('Work', [{ jobId: 'j', attempt: 1, logStreamName: 's', logTail: ['x'] }]);
    const last = abortRun(progress, facts, new Date(T0 + 500), { reason: 'stopped', cause: 'stopped by fibbars stop' });
    expect(last).toEqual({ type: 'execution-aborted', state: 'Work', attempt: 1, at: iso(500) });
    expect(record).toMatchObject({ status: 'ABORTED', finalState: 'Work', abort: { reason: 'stopped', state: 'Work', at: iso(500) } });
    expect(record.states.find((s) => s.name === 'Work')).toMatchObject({ status: 'aborted', batchAttempts: [{ jobId: 'j' }] });
    expect(record.states.find((s) => s.name === 'Old')?.batchAttempts).toBeUndefined();
  });
});

describe('summarize', () => {
  it('keeps small values and previews large ones', () => {
    expect(summarize({ a: 1 })).toEqual({ a: 1 });
    const big = summarize('x'.repeat(70_000)) as { truncated: boolean; preview: string };
    expect(big.truncated).toBe(true);
    expect(big.preview).toHaveLength(4096);
  });
});
