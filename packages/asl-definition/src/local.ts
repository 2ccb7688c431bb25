/**
 * The local engine: runs the very definition that is deployed (the golden
 * JSON, placeholders filled with local pseudo-ARNs) with aws-local-stepfunctions,
 * binding each Task resource to a local implementation:
 *
 * - `lambda:invoke`      -> the fetcher handlers, in process;
 * - `batch:submitJob.sync` -> `node <batch-runner bundle> <Command...>` with the
 *   job's Environment, exactly as the container runs it;
 * - `sns:publish`        -> an alert sink (stderr and the run record).
 *
 * Each run writes `_runs/<runId>.json` to the lake.
 *
 * This module is the entry point (`@fibbars/asl-definition/local`): it checks
 * the options and composes the parts, which live in `./local/`:
 *
 * - `types.ts`          the public types (bindings, events, the run record);
 * - `resources.ts`      the local pseudo-ARNs, job retry strategies, `TaskError`;
 * - `task-bindings.ts`  the Task handlers (fetchers, Batch jobs, the alert);
 * - `batch-process.ts`  one attempt of a Batch job as a process;
 * - `execution.ts`      the aws-local-stepfunctions execution, scaled retry waits;
 * - `run-record.ts`     the pure reducer: engine events in, run record out;
 * - `redrive.ts`        where a redrive restarts, and its record;
 * - `heartbeat.ts`      the lease, the stop request and the caller's signal;
 * - `run-records.ts`    reading run records (`listRuns`, `getRun`).
 */
import './polyfill.js';
import { checkIsoDate } from '@fibbars/ohlcv-core/dates';
import { ConfigError } from '@fibbars/ohlcv-core/errors';
import { openStore, parseLakeUri, RunStore } from '@fibbars/ohlcv-core/storage';
import { buildDefinition, substitute, DEFAULT_INTERVALS, type StateMachineDefinition, type Substitutions } from './definition.js';
import { localLogLocations, type JobRetryStrategy } from './failures.js';
import { readGoldenDefinition } from './golden.js';
import { withDistributedMapSemantics } from './local/distributed-map.js';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_LEASE_MS, DEFAULT_STOP_POLL_MS, REDRIVABLE_STATUSES, newLease, newRunId } from './runs.js';
import { startExecution } from './local/execution.js';
import { startHeartbeat } from './local/heartbeat.js';
import { redrivePlan, redrivenRecord, type RedrivePlan } from './local/redrive.js';
import { LOCAL_ARNS, LOCAL_JOB_RETRY_STRATEGIES } from './local/resources.js';
import {
  abortRun,
  applyEngineEvent,
  executionFailure,
  finishRun,
  indexStates,
  newRunRecord,
  startProgress,
  type EngineEvent,
  type RunEvent,
  type RunProgress,
  type RunShape,
  type StateIndex,
} from './local/run-record.js';
import { LocalTasks, resolveBindings } from './local/task-bindings.js';
import type { Alert, PipelineRunRecord, RunLocalPipelineOptions } from './local/types.js';

export { localLogLocations, newRunId };
export type {
  Alert,
  BatchAttemptRun,
  BatchJob,
  BatchJobResult,
  ExecutionEventType,
  FetchEvent,
  FetchHandler,
  FetchLogger,
  FetchResult,
  LocalBindings,
  LocalEvent,
  LocalLambdaContext,
  PipelineRunRecord,
  RunLocalPipelineOptions,
  StateEventType,
  StateRun,
} from './local/types.js';
export { LOCAL_ARNS, LOCAL_JOB_RETRY_STRATEGIES, TaskError } from './local/resources.js';
export { batchRunnerBundlePath, createBatchRunnerBinding } from './local/batch-process.js';
export { getRun, listRuns } from './local/run-records.js';

// ---------------------------------------------------------------------------
// The options, checked
// ---------------------------------------------------------------------------


/** Everything a run needs, from its options (or the record it redrives). */
interface ResolvedRun {
  lake: string;
  runs: RunStore;
  runId: string;
  previous: PipelineRunRecord | undefined;
  /** 0 for a new run, n for the n-th redrive. */
  attempt: number;
  date: string | undefined;
  intervals: number[];
  partitions: number;
  /** Intervals or partitions other than the golden file's: the definition is generated (and validated). */
  custom: boolean;
  heartbeatMs: number;
  stopPollMs: number;
  leaseMs: number;
  scale: number | undefined;
  lambdaTimeoutSeconds: number;
  retryStrategies: Readonly<Record<string, JobRetryStrategy>>;
  /** Every state of the full definition, with its enclosing Parallel state. */
  states: StateIndex;
  /** The definition that runs (a redrive's starts where the run failed). */
  definition: StateMachineDefinition;
  plan: RedrivePlan | undefined;
}

/** The heartbeat, stop poll and lease periods, and the retry wait scale; bad values throw `ConfigError`. */
function resolveTiming(options: RunLocalPipelineOptions): Pick<ResolvedRun, 'heartbeatMs' | 'stopPollMs' | 'leaseMs' | 'scale'> {
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const stopPollMs = Math.min(options.stopPollMs ?? DEFAULT_STOP_POLL_MS, heartbeatMs);
  if (!(Number.isFinite(stopPollMs) && stopPollMs > 0)) throw new ConfigError(`stopPollMs ${String(options.stopPollMs)} must be > 0`);
  const leaseMs = options.leaseMs ?? Math.max(DEFAULT_LEASE_MS, 3 * heartbeatMs);
  if (!(Number.isFinite(heartbeatMs) && heartbeatMs > 0 && Number.isFinite(leaseMs) && leaseMs > heartbeatMs)) {
    throw new ConfigError(`heartbeatMs ${String(heartbeatMs)} must be > 0 and leaseMs ${String(leaseMs)} longer than it`);
  }
  const scale = options.retryWaitScale;
  if (scale !== undefined && !(Number.isFinite(scale) && scale >= 0)) {
    throw new ConfigError(`retryWaitScale ${String(scale)} must be a finite number >= 0`);
  }
  return { heartbeatMs, stopPollMs, leaseMs, scale };
}

/** The definition to run, before substitution: the reviewed golden file, or one generated for other intervals or partitions. */
function definitionTemplate(custom: boolean, intervals: number[], scale: { partitions: number; maxConcurrency?: number }): StateMachineDefinition {
  try {
    // The default run executes the reviewed golden file itself.
    if (!custom) return readGoldenDefinition();
    return withDistributedMapSemantics(buildDefinition({ intervals, ...(scale.partitions > 1 ? scale : {}) }));
  } catch (error) {
    if (error instanceof RangeError) throw new ConfigError(error.message);
    throw error;
  }
}

/** The values of the definition's placeholders for a local run. */
function localSubstitutions(lake: string, runId: string): Substitutions {
  const logLocations = localLogLocations(runId);
  return {
    ...LOCAL_ARNS,
    LakeUri: lake,
    JobLogGroupName: logLocations.jobLogGroup,
    OhlcvLogGroupName: logLocations.functionLogGroups[0],
    MetaLogGroupName: logLocations.functionLogGroups[1],
  };
}

/** Checks every option before anything is written (`ConfigError`), and prepares the definition. */
function resolveRun(options: RunLocalPipelineOptions): ResolvedRun {
  const location = parseLakeUri(options.lake);
  const lake = location.kind === 'file' ? location.root : options.lake.trim();
  const previous = options.redrive;
  if (previous && !REDRIVABLE_STATUSES.includes(previous.status)) {
    throw new ConfigError(`run ${previous.runId} is ${previous.status}: only a FAILED, ABORTED or TIMED_OUT run can be redriven`);
  }
  // A redrive uses the same input as the original execution.
  const date = previous ? previous.input.date : options.date;
  if (date !== undefined) checkIsoDate(date);
  const timing = resolveTiming(options);
  const requested = previous ? previous.intervals : options.intervals;
  const intervals = [...(requested ?? DEFAULT_INTERVALS)];
  const partitions = previous ? (previous.partitions ?? 1) : (options.partitions ?? 1);
  const scale = { partitions, ...(options.maxConcurrency !== undefined ? { maxConcurrency: options.maxConcurrency } : {}) };
  const custom = partitions !== 1 || (requested !== undefined && intervals.join(',') !== DEFAULT_INTERVALS.join(','));
  const template = definitionTemplate(custom, intervals, scale);
  const runId = previous ? previous.runId : (options.runId ?? newRunId());
  const runs = new RunStore(openStore(lake, options.store ?? {}));
  const retryStrategies = options.jobRetryStrategies ?? LOCAL_JOB_RETRY_STRATEGIES;
  const lambdaTimeoutSeconds = options.lambdaTimeoutSeconds ?? 900;
  if (!(Number.isFinite(lambdaTimeoutSeconds) && lambdaTimeoutSeconds > 0)) {
    throw new ConfigError(`lambdaTimeoutSeconds ${String(lambdaTimeoutSeconds)} must be a number > 0`);
  }
  const full = JSON.parse(substitute(JSON.stringify(template), localSubstitutions(lake, runId))) as StateMachineDefinition;
  const plan = previous ? redrivePlan(full, previous) : undefined;
  const attempt = previous ? (previous.redriveCount ?? 0) + 1 : 0;
  const definition = plan?.definition ?? full;
  return { lake, runs, runId, previous, attempt, date, intervals, partitions, custom, ...timing, lambdaTimeoutSeconds, retryStrategies, states: indexStates(full), definition, plan };
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/**
 * Writes of the record, serialized: each writes a snapshot taken when it was
 * asked for. One that fails (a flaky S3) does not stop the run, but the
 * caller awaits the final write, which must succeed.
 */
function recordWriter(runs: RunStore, record: PipelineRunRecord): () => Promise<void> {
  let writes: Promise<unknown> = Promise.resolve();
  return () => {
    const snapshot = structuredClone(record);
    const write = writes.then(() => runs.put(snapshot));
    writes = write.catch(() => undefined);
    return write;
  };
}

/** The caller's live events, with the run id; a broken progress display must not break the run. */
function eventSink(runId: string, onEvent: RunLocalPipelineOptions['onEvent']): (event: RunEvent) => void {
  return (event) => {
    try {
      onEvent?.({ runId, ...event });
    } catch {
      // a broken progress display must not break the run
    }
  };
}

/** Feeds the engine's events to the reducer and does what it says: stop abandoned jobs, emit, write. */
async function recordEvents(
  events: AsyncIterable<EngineEvent>,
  run: { progress: RunProgress; shape: RunShape; tasks: LocalTasks },
  emit: (event: RunEvent) => void,
  save: () => Promise<void>,
): Promise<void> {
  for await (const event of events) {
    const reaction = applyEngineEvent(run.progress, run.shape, run.tasks, event);
    for (const name of reaction.stopJobs) run.tasks.stopState(name);
    for (const live of reaction.events) emit(live);
    if (reaction.save) void save().catch(() => undefined);
  }
}

/**
 * Run the daily pipeline locally and return its run record (also written to
 * `_runs/<runId>.json` in the lake). A pipeline failure is not thrown: it is a
 * record with `status: 'FAILED'`, the alert and the error. Bad options throw
 * `ConfigError` before anything is written.
 *
 * @example
 * const record = await runLocalPipeline({ lake: './lake', date: '2024-03-08' });
 * console.log(record.status, record.states.map((s) => `${s.name}:${s.status}`));
 */
export async function runLocalPipeline(options: RunLocalPipelineOptions): Promise<PipelineRunRecord> {
  const run = resolveRun(options);
  const { runs, runId, previous, definition, plan } = run;
  const bindings = resolveBindings(options, run.lake);

  // The record, kept current as events arrive (a redrive continues the record it redrives).
  const started = new Date();
  const record = previous
    ? redrivenRecord(previous, started, run.attempt, plan?.from ?? definition.StartAt)
    : newRunRecord({ ...run, source: bindings.sourceName }, started);
  record.lease = newLease(started, run.leaseMs);
  const progress = startProgress(record, definition.StartAt);
  // A stop request left from an earlier attempt must not stop this one.
  if (previous) await runs.clearStop(runId);
  const save = recordWriter(runs, record);
  await save();
  const emit = eventSink(runId, options.onEvent);

  const { lambdaTimeoutSeconds, retryStrategies, states, scale } = run;
  const onAlert = (alert: Alert): void => {
    record.alert = { ...alert, at: new Date().toISOString() };
  };
  const tasks = new LocalTasks(states, { ...bindings, lambdaTimeoutSeconds, retryStrategies, onAlert });
  // asl-validator takes ~1.5 s: the golden file is validated by this package's
  // tests, so only a definition generated for other intervals is checked here.
  const validate = run.custom && !plan;
  const execution = startExecution(definition, plan ? plan.input : record.input, { runId, handlers: tasks.handlers, validate, scale, states, attempts: tasks.attempts });
  emit({ type: 'execution-started', state: definition.StartAt, attempt: 1, at: started.toISOString() });
  const shape: RunShape = { states, attempt: run.attempt, ...(plan ? { kept: plan.kept } : {}) };
  const consume = recordEvents(execution.eventLogs, { progress, shape, tasks }, emit, save);

  // A stop request (fibbars stop), a record another reader ended, or the caller's signal aborts the run.
  const heartbeat = startHeartbeat({
    runs,
    runId,
    attempt: run.attempt,
    heartbeatMs: run.heartbeatMs,
    stopPollMs: run.stopPollMs,
    signal: options.signal,
    onStop: () => {
      execution.abort();
      tasks.stopAll();
    },
    renewLease: () => {
      record.lease = newLease(new Date(), run.leaseMs);
      return save();
    },
  });
  let failure: { name: string; cause: string } | undefined;
  try {
    await execution.result;
  } catch (error) {
    if (!heartbeat.stopped) failure = executionFailure(error);
  } finally {
    heartbeat.dispose();
  }
  await consume;
  await tasks.settle();

  // A stop requested while the run was RUNNING ends it ABORTED, even when the
  // request came after the last poll: StopExecution on a RUNNING execution
  // aborts it, whatever its tasks were about to do.
  const stopped = await heartbeat.lastLook();
  const ended = new Date();
  const last = stopped ? abortRun(progress, tasks, ended, stopped) : finishRun(progress, tasks, ended, failure);
  await save();
  if (stopped) await runs.clearStop(runId).catch(() => undefined);
  emit(last);
  return record;
}
