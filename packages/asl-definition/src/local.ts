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
 */
import './polyfill.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as osConstants, tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { StateMachine } from 'aws-local-stepfunctions';
import { SyntheticSource, type MarketSource } from '@fibbars/fetchers';
import {
  createMetaHandler,
  createOhlcvHandler,
  type FetchEvent,
  type FetchLogger,
  type FetchResult,
} from '@fibbars/fetchers/handlers';
import { ConfigError } from '@fibbars/ohlcv-core/errors';
import { openStore, parseLakeUri, RunStore, type OpenStoreOptions, type RunRecord } from '@fibbars/ohlcv-core/storage';
import {
  buildDefinition,
  substitute,
  DEFAULT_INTERVALS,
  type Retrier,
  type StateMachineDefinition,
  type Substitutions,
} from './definition.js';
import { readGoldenDefinition } from './golden.js';
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_STOP_POLL_MS,
  REDRIVABLE_STATUSES,
  markAborted,
  newLease,
  reconcileRun,
  reconcileRuns,
  type RunAbort,
  type RunLease,
  type StopRequest,
} from './runs.js';
import {
  CONTAINER_EXITED,
  JOB_RETRY_STRATEGIES,
  failedJobDescription,
  lambdaErrorDocument,
  lambdaTimeoutDocument,
  shouldRetry,
  type JobAttempt,
  type JobRetryStrategy,
  localLogLocations,
} from './failures.js';

export { localLogLocations };

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

export type { FetchEvent, FetchLogger, FetchResult };

/** A fetcher Lambda handler, as `createOhlcvHandler` / `createMetaHandler` build them. */
export type FetchHandler = (event: FetchEvent, context?: LocalLambdaContext) => Promise<FetchResult>;

/** The small part of a Lambda context the handlers may read. */
export interface LocalLambdaContext {
  awsRequestId: string;
  functionName: string;
  getRemainingTimeInMillis(): number;
}

/** One attempt of a Batch job as the state machine submitted it (Batch runs a new container per attempt). */
export interface BatchJob {
  /** The Task state that submitted it (`Consolidate`, `Resample8d`, ...). */
  state: string;
  jobId: string;
  jobName: string;
  jobQueue: string;
  jobDefinition: string;
  /** 1 for the first run of the job, 2 for Batch's first retry, ... (`AWS_BATCH_JOB_ATTEMPT`). */
  attempt: number;
  /** Where Batch's awslogs driver writes this attempt: `<prefix>/default/<task id>`. */
  logStreamName: string;
  command: string[];
  environment: Record<string, string>;
}

/** How one attempt ended. A binding returns this for a failed attempt too; it throws only when it could not start the job. */
export interface BatchJobResult {
  exitCode: number;
  /** The last stdout line of a successful run, parsed (batch-runner's JSON report). */
  report?: unknown;
  /** The signal that killed the process (its exit code is then 128 + the signal number, as Docker reports it). */
  signal?: string;
  /** The container's reason (`Attempts[].Container.Reason`), e.g. for a container killed for memory. */
  reason?: string;
  /** The end of the job's stderr (its log stream), for the run record. */
  logTail?: string[];
}

/** One finished attempt of a Batch job, in the run record. */
export interface BatchAttemptRun {
  jobId: string;
  attempt: number;
  exitCode?: number;
  reason?: string;
  logStreamName: string;
  logTail: string[];
}

export interface Alert {
  topicArn: string;
  subject: string;
  message: string;
}

/** Local implementations bound to the Task resources; each defaults to the real part. */
export interface LocalBindings {
  ohlcv?: FetchHandler;
  meta?: FetchHandler;
  /** Runs one attempt of a Batch job and reports its exit code; throws only when the job could not start. */
  batch?: (job: BatchJob, signal: AbortSignal) => Promise<BatchJobResult>;
  /** Receives the SNS alert; default writes one line to stderr. */
  alert?: (alert: Alert) => Promise<void> | void;
}

export type ExecutionEventType = 'execution-started' | 'execution-succeeded' | 'execution-failed' | 'execution-aborted';
export type StateEventType = 'state-entered' | 'state-retried' | 'state-succeeded' | 'state-failed';

/** A live view of the run, for a progress display. `at` is an ISO timestamp. */
export interface LocalEvent {
  type: ExecutionEventType | StateEventType;
  runId: string;
  /** The state (for execution events: the first state, or the terminal state reached). */
  state: string;
  /** 1 on the first try of a state, 2 after its first retry, ... */
  attempt: number;
  at: string;
  /** The enclosing Parallel state of a branch state. */
  parent?: string;
  error?: { name: string; cause: string };
}

export interface StateRun {
  name: string;
  type: string;
  parent?: string;
  startedAt: string;
  endedAt?: string;
  attempts: number;
  status: 'running' | 'succeeded' | 'failed' | 'caught' | 'aborted';
  retries: { at: string; error: { name: string; cause: string } }[];
  output?: unknown;
  error?: { name: string; cause: string };
  /** Batch Task states: every attempt of every job the state submitted, with the end of its log. */
  batchAttempts?: BatchAttemptRun[];
  /** Top-level states: the state's input (what a redrive restarts it with). */
  input?: unknown;
  /** The last state of a Parallel branch: the branch's output (a redrive keeps a branch that succeeded). */
  result?: unknown;
  /** The attempt of the execution that ran it: 0 the first run, n the n-th redrive. */
  redrive?: number;
}

/** The record of one local run, stored as `_runs/<runId>.json`. */
export interface PipelineRunRecord extends RunRecord {
  runId: string;
  engine: 'local';
  stateMachine: 'fibbars-daily-pipeline';
  input: { date?: string };
  lake: string;
  source: string;
  intervals: number[];
  /** Step Functions' names: a run stopped, interrupted or whose process died ends ABORTED. */
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  startedAt: string;
  /** Held while the run is alive, renewed every heartbeat (runs.ts). */
  lease?: RunLease;
  /** Set when the run ended ABORTED: why, when, and the state it was in. */
  abort?: RunAbort;
  /** Times the run was redriven (as DescribeExecution's redriveCount), and when the last redrive started. */
  redriveCount?: number;
  redriveDate?: string;
  /** The state the last redrive restarted from. */
  redriveFrom?: string;
  endedAt?: string;
  durationMs?: number;
  /** Terminal state reached: `PipelineSucceeded` or `PipelineFailed`. */
  finalState?: string;
  states: StateRun[];
  alert?: Alert & { at: string };
  error?: { name: string; cause: string };
}

export interface RunLocalPipelineOptions {
  /** Lake URI: a folder path or `s3://bucket/prefix`. */
  lake: string;
  /** Session to fetch (`YYYY-MM-DD`); absent, the fetchers pick the latest session. */
  date?: string;
  /** Market source for the fetchers (default: the synthetic market, seed 42). */
  source?: MarketSource;
  /** Logger of the in-process fetchers (default: warnings and errors as JSON lines on stderr). */
  logger?: FetchLogger;
  /** Clock of the fetchers ("today in New York" when no date is given). */
  now?: () => Date;
  /** Intervals to resample (default {@link DEFAULT_INTERVALS}: the golden definition). */
  intervals?: readonly number[];
  /** Multiply every retry wait (for tests: 0.001 turns 60 s into 60 ms). Backoff and jitter still apply. */
  retryWaitScale?: number;
  /** Live events (state entered, retried, succeeded, failed; execution started and ended). */
  onEvent?: (event: LocalEvent) => void;
  /** Replace the real parts behind the Task resources (tests, embedding). */
  bindings?: LocalBindings;
  /** Run id (= execution name); default a sortable `YYYYMMDDTHHmmssSSSZ-<hex>`. */
  runId?: string;
  /** Options for the lake's object store (an S3 client for a custom endpoint). */
  store?: OpenStoreOptions;
  /** Extra environment for the batch-runner processes (credentials and endpoints for an S3 lake). */
  batchEnv?: Record<string, string>;
  /** Retry strategy per job definition ARN (default: `JOB_RETRY_STRATEGIES`, as deployed). */
  jobRetryStrategies?: Record<string, JobRetryStrategy>;
  /** Timeout of the local fetcher functions, in seconds (default 900, the Lambda maximum). */
  lambdaTimeoutSeconds?: number;
  /** How often the run renews its lease (default 5 s). */
  heartbeatMs?: number;
  /**
   * How often the run looks for a stop request (default 1 s, never less often
   * than the heartbeat). Step Functions' StopExecution ends an execution at
   * once; a local run can only notice a request it reads, so it reads often:
   * one small read (a file, or one GET on an S3 lake) per second of a run.
   */
  stopPollMs?: number;
  /** How long a lease lasts without a heartbeat before readers declare the run dead (default 30 s). */
  leaseMs?: number;
  /** Aborting it stops the run (Ctrl-C): the record ends ABORTED with `abortCause`. */
  signal?: AbortSignal;
  /**
   * Redrive this FAILED or ABORTED run instead of starting a new one: the same
   * run id and input, from the first state that did not succeed, keeping the
   * branches of a Parallel state that succeeded (as Step Functions'
   * RedriveExecution). `lake`, `date` and `intervals` come from the record.
   */
  redrive?: PipelineRunRecord;
}

// ---------------------------------------------------------------------------
// Local resources
// ---------------------------------------------------------------------------

const LOCAL_ACCOUNT = 'arn:aws:lambda:local:000000000000';

/** Pseudo-ARNs the local engine substitutes for the deployment's resources. */
export const LOCAL_ARNS = Object.freeze({
  OhlcvFunctionArn: `${LOCAL_ACCOUNT}:function:fibbars-ohlcv`,
  MetaFunctionArn: `${LOCAL_ACCOUNT}:function:fibbars-meta`,
  JobQueueArn: 'arn:aws:batch:local:000000000000:job-queue/fibbars-local',
  ConsolidateJobDefinitionArn: 'arn:aws:batch:local:000000000000:job-definition/fibbars-consolidate',
  ResampleJobDefinitionArn: 'arn:aws:batch:local:000000000000:job-definition/fibbars-resample',
  AlertTopicArn: 'arn:aws:sns:local:000000000000:fibbars-alerts',
});

/** Path of the esbuild bundle that the batch image runs. */
export function batchRunnerBundlePath(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@fibbars/batch-runner/package.json')), 'dist', 'bundle', 'main.js');
}

/** An error carrying the name a task reported, so Retry and Catch match it (its message is the Cause). */
export class TaskError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The retry strategy of each local job definition: the deployed ones. */
export const LOCAL_JOB_RETRY_STRATEGIES: Readonly<Record<string, JobRetryStrategy>> = Object.freeze({
  [LOCAL_ARNS.ConsolidateJobDefinitionArn]: JOB_RETRY_STRATEGIES.consolidate,
  [LOCAL_ARNS.ResampleJobDefinitionArn]: JOB_RETRY_STRATEGIES.resample,
});

// Variables a job inherits from the engine: what node and the AWS SDK need, nothing else.
const INHERITED_ENV = /^(PATH|HOME|TMPDIR|TZ|LANG|AWS_[A-Z0-9_]+)$/;
const LOG_TAIL_LINES = 20;

function lastJsonLine(text: string, accept: (value: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]?.trim();
    if (!line || !line.startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value) && accept(value as Record<string, unknown>)) {
        return value as Record<string, unknown>;
      }
    } catch {
      // not a JSON line: a log line of some other shape
    }
  }
  return undefined;
}

/**
 * Runs one attempt of a Batch job as the container would: `node <bundle>
 * <Command...>`, the job's Environment plus what Batch sets, a fresh working
 * directory. Reports the exit code (a process killed by a signal exits with
 * 128 + its number, as Docker reports it) and the end of stderr; the job's
 * JSON error line stays in its log, as on AWS, where only the exit code
 * reaches Step Functions.
 */
export function createBatchRunnerBinding(
  options: { bundle?: string; extraEnv?: Record<string, string>; onStderr?: (job: BatchJob, line: string) => void } = {},
): (job: BatchJob, signal: AbortSignal) => Promise<BatchJobResult> {
  return async (job, signal) => {
    const bundle = options.bundle ?? batchRunnerBundlePath();
    const cwd = await mkdtemp(path.join(tmpdir(), 'fibbars-job-'));
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && INHERITED_ENV.test(key)) env[key] = value;
    }
    // What AWS Batch sets in every container, then the job's own Environment.
    const batchEnv = {
      AWS_BATCH_JOB_ID: job.jobId,
      AWS_BATCH_JQ_NAME: job.jobQueue.split('/').pop() ?? job.jobQueue,
      AWS_BATCH_JOB_ATTEMPT: String(job.attempt),
    };
    Object.assign(env, options.extraEnv, batchEnv, job.environment);
    try {
      const { code, signal: killedBy, stdout, stderr } = await new Promise<{
        code: number | null;
        signal: NodeJS.Signals | null;
        stdout: string;
        stderr: string;
      }>((resolve, reject) => {
        const child: ChildProcess = spawn(process.execPath, [bundle, ...job.command], {
          cwd,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
          signal,
          killSignal: 'SIGTERM',
        });
        let out = '';
        let err = '';
        let pending = '';
        child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
        });
        child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
          err += chunk;
          if (options.onStderr) {
            pending += chunk;
            const lines = pending.split('\n');
            pending = lines.pop() ?? '';
            for (const line of lines) options.onStderr(job, line);
          }
        });
        child.on('error', (error) => {
          if ((error as { name?: string }).name === 'AbortError') return; // 'close' reports the kill
          reject(error);
        });
        child.on('close', (c, s) => resolve({ code: c, signal: s, stdout: out, stderr: err }));
      });
      const logTail = stderr.split('\n').filter((l) => l.trim() !== '').slice(-LOG_TAIL_LINES);
      if (code === 0) {
        // The last stdout line is the report, bare or as batch-runner logs it: { msg: 'done', report }.
        const line = lastJsonLine(stdout, () => true);
        const report = line && typeof line.report === 'object' && line.report !== null ? line.report : line;
        return report === undefined ? { exitCode: 0, logTail } : { exitCode: 0, report, logTail };
      }
      if (code === null) {
        const number = killedBy ? osConstants.signals[killedBy] : undefined;
        return { exitCode: 128 + (number ?? 0), signal: String(killedBy), logTail };
      }
      return { exitCode: code, logTail };
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  };
}

/** Default alert sink: one line on stderr. */
function stderrAlert(alert: Alert): void {
  process.stderr.write(`ALERT ${alert.subject}: ${alert.message}\n`);
}

/** Default fetcher logger: on a laptop stdout is the user's, so only warnings and errors, on stderr. */
const quietLogger: FetchLogger = {
  info: () => undefined,
  warn: (message, extra) => process.stderr.write(`${JSON.stringify({ level: 'warn', message, ...extra })}\n`),
  error: (message, extra) => process.stderr.write(`${JSON.stringify({ level: 'error', message, ...extra })}\n`),
};

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A sortable run id: the UTC start time to the millisecond, then 8 hex digits. */
export function newRunId(at: Date = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

function errorInfo(name: unknown, cause: unknown): { name: string; cause: string } {
  return {
    name: typeof name === 'string' && name !== '' ? name : 'Error',
    cause: typeof cause === 'string' ? cause : cause === undefined ? '' : JSON.stringify(cause),
  };
}

type AnyState = Record<string, unknown>;

/** Every state of a definition with its enclosing Parallel state. */
function indexStates(def: { States: Record<string, unknown> }, parent?: string, out = new Map<string, { state: AnyState; parent?: string }>()) {
  for (const [name, raw] of Object.entries(def.States)) {
    const state = raw as AnyState;
    out.set(name, parent === undefined ? { state } : { state, parent });
    for (const branch of (state.Branches as { States: Record<string, unknown> }[] | undefined) ?? []) {
      indexStates(branch, name, out);
    }
  }
  return out;
}

/**
 * Waits between retries, scaled. aws-local-stepfunctions only takes a fixed
 * override per retrier, so these getters recompute it before each retry from
 * the attempt count: interval x backoff^(attempt-1), capped, with full jitter.
 */
function scaledRetryWaits(states: Map<string, { state: AnyState }>, scale: number, attempts: Map<string, number>) {
  const overrides: Record<string, number[]> = {};
  for (const [name, { state }] of states) {
    const retriers = state.Retry as Retrier[] | undefined;
    if (!retriers?.length) continue;
    Object.defineProperty(overrides, name, {
      enumerable: true,
      get: () => {
        const failures = Math.max(1, attempts.get(name) ?? 1);
        return retriers.map((r) => {
          let seconds = (r.IntervalSeconds ?? 1) * Math.pow(r.BackoffRate ?? 2, failures - 1);
          if (r.MaxDelaySeconds !== undefined) seconds = Math.min(seconds, r.MaxDelaySeconds);
          let ms = seconds * 1000 * scale;
          if (r.JitterStrategy === 'FULL') ms = Math.random() * ms;
          return Math.max(0, Math.round(ms));
        });
      },
    });
  }
  return overrides;
}

function summarize(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text !== undefined && text.length > 65_536 ? { truncated: true, preview: text.slice(0, 4096) } : value;
}

/** The cause an aborted signal gives: its reason's text, else "interrupted". */
function abortCause(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  if (typeof reason === 'string' && reason !== '') return reason;
  if (reason instanceof Error && reason.name !== 'AbortError' && reason.message !== '') return reason.message;
  return 'interrupted';
}

interface RedrivePlan {
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
function redrivePlan(def: StateMachineDefinition, previous: PipelineRunRecord): RedrivePlan {
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
function redrivenRecord(previous: PipelineRunRecord, started: Date, attempt: number, from: string): PipelineRunRecord {
  const record = structuredClone(previous);
  for (const key of ['endedAt', 'durationMs', 'error', 'abort', 'alert', 'finalState', 'lease'] as const) delete record[key];
  record.status = 'RUNNING';
  record.redriveCount = attempt;
  record.redriveDate = started.toISOString();
  record.redriveFrom = from;
  return record;
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
  // --- validate everything before writing anything
  const location = parseLakeUri(options.lake);
  const lake = location.kind === 'file' ? location.root : options.lake.trim();
  const previous = options.redrive;
  if (previous && !REDRIVABLE_STATUSES.includes(previous.status)) {
    throw new ConfigError(`run ${previous.runId} is ${previous.status}: only a FAILED, ABORTED or TIMED_OUT run can be redriven`);
  }
  // A redrive uses the same input as the original execution.
  const date = previous ? previous.input.date : options.date;
  if (date !== undefined) {
    // An impossible date (2024-13-01) makes an Invalid Date, whose toISOString throws.
    const parsed = new Date(`${date}T00:00:00Z`);
    if (!ISO_DATE.test(date) || Number.isNaN(parsed.getTime()) || !parsed.toISOString().startsWith(date)) {
      throw new ConfigError(`date ${JSON.stringify(date)} is not a calendar date YYYY-MM-DD`);
    }
  }
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
  let template: StateMachineDefinition;
  const requested = previous ? previous.intervals : options.intervals;
  const intervals = [...(requested ?? DEFAULT_INTERVALS)];
  const custom = requested !== undefined && intervals.join(',') !== DEFAULT_INTERVALS.join(',');
  try {
    // The default run executes the reviewed golden file itself.
    template = custom ? buildDefinition({ intervals }) : readGoldenDefinition();
  } catch (error) {
    if (error instanceof RangeError) throw new ConfigError(error.message);
    throw error;
  }
  const runId = previous ? previous.runId : (options.runId ?? newRunId());
  const runs = new RunStore(openStore(lake, options.store ?? {}));
  const logLocations = localLogLocations(runId);
  const values: Substitutions = {
    ...LOCAL_ARNS,
    LakeUri: lake,
    JobLogGroupName: logLocations.jobLogGroup,
    OhlcvLogGroupName: logLocations.functionLogGroups[0],
    MetaLogGroupName: logLocations.functionLogGroups[1],
  };
  const retryStrategies = options.jobRetryStrategies ?? LOCAL_JOB_RETRY_STRATEGIES;
  const lambdaTimeoutSeconds = options.lambdaTimeoutSeconds ?? 900;
  if (!(Number.isFinite(lambdaTimeoutSeconds) && lambdaTimeoutSeconds > 0)) {
    throw new ConfigError(`lambdaTimeoutSeconds ${String(lambdaTimeoutSeconds)} must be a number > 0`);
  }
  const full = JSON.parse(substitute(JSON.stringify(template), values)) as StateMachineDefinition;
  const states = indexStates(full);
  const plan = previous ? redrivePlan(full, previous) : undefined;
  const definition = plan?.definition ?? full;

  const bindings = options.bindings ?? {};
  const source: MarketSource | undefined = options.source ?? (bindings.ohlcv && bindings.meta ? undefined : new SyntheticSource());
  const fetchDeps = () => ({
    source: source as MarketSource,
    lake,
    logger: options.logger ?? quietLogger,
    ...(options.now ? { now: options.now } : {}),
    ...(options.store ? { store: options.store } : {}),
  });
  const ohlcv: FetchHandler = bindings.ohlcv ?? createOhlcvHandler(fetchDeps());
  const meta: FetchHandler = bindings.meta ?? createMetaHandler(fetchDeps());
  const runBatch = bindings.batch ?? createBatchRunnerBinding(options.batchEnv ? { extraEnv: options.batchEnv } : {});
  const sendAlert = bindings.alert ?? stderrAlert;

  // --- the record, kept current as events arrive
  const started = new Date();
  const attempt = previous ? (previous.redriveCount ?? 0) + 1 : 0;
  const record: PipelineRunRecord = previous
    ? redrivenRecord(previous, started, attempt, plan?.from ?? definition.StartAt)
    : {
        runId,
        engine: 'local',
        stateMachine: 'fibbars-daily-pipeline',
        input: date === undefined ? {} : { date },
        lake,
        source: source?.name ?? 'custom',
        intervals,
        status: 'RUNNING',
        startedAt: started.toISOString(),
        states: [],
      };
  record.lease = newLease(started, leaseMs);
  // The states of this attempt start here (a redrive keeps the earlier ones as they were).
  const firstOwn = record.states.length;
  // A stop request left from an earlier attempt must not stop this one.
  if (previous) await runs.clearStop(runId);
  // Writes are serialized; one that fails (a flaky S3) does not stop the run,
  // but the final write must succeed.
  let writes: Promise<unknown> = Promise.resolve();
  const save = (): Promise<void> => {
    const snapshot = structuredClone(record);
    const write = writes.then(() => runs.put(snapshot));
    writes = write.catch(() => undefined);
    return write;
  };
  await save();

  const emit = (event: Omit<LocalEvent, 'runId'>): void => {
    try {
      options.onEvent?.({ runId, ...event });
    } catch {
      // a broken progress display must not break the run
    }
  };
  const current = new Map<string, StateRun>();
  const taskResults = new Map<string, unknown>();
  const attempts = new Map<string, number>();
  const jobs = new AbortController();
  // Per Task state: stops its Batch job when its branch is abandoned.
  const stopJob = new Map<string, AbortController>();
  const runningJobs = new Set<Promise<unknown>>();
  // Task states whose own handler or job failed (as opposed to being stopped).
  const failedTasks = new Set<string>();
  // Per Batch Task state: every attempt of every job it submitted.
  const batchAttempts = new Map<string, BatchAttemptRun[]>();
  const attachAttempts = (run: StateRun): void => {
    const list = batchAttempts.get(run.name);
    if (list) run.batchAttempts = list;
  };

  // --- bindings, chosen by each Task's Resource (and function name)
  const lambdaHandlers: Record<string, FetchHandler> = {
    [LOCAL_ARNS.OhlcvFunctionArn]: ohlcv,
    [LOCAL_ARNS.MetaFunctionArn]: meta,
  };
  const taskResourceLocalHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [name, { state }] of states) {
    if (state.Type !== 'Task') continue;
    const resource = state.Resource as string;
    const count = () => attempts.set(name, (attempts.get(name) ?? 0) + 1);
    if (resource === 'arn:aws:states:::lambda:invoke') {
      taskResourceLocalHandlers[name] = async (input) => {
        count();
        const { FunctionName, Payload } = input as { FunctionName: string; Payload: FetchEvent };
        const handler = lambdaHandlers[FunctionName];
        if (!handler) throw new TaskError('Lambda.ResourceNotFoundException', `no local function ${FunctionName}`);
        const requestId = randomUUID();
        const deadline = Date.now() + lambdaTimeoutSeconds * 1000;
        let timer: NodeJS.Timeout | undefined;
        // Lambda ends a function at its timeout and reports Sandbox.Timedout
        // (see failures.ts); an in-process handler cannot be killed, so its
        // late result is ignored.
        const timedOut = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const doc = lambdaTimeoutDocument(requestId, lambdaTimeoutSeconds);
            reject(new TaskError(doc.errorType, JSON.stringify(doc)));
          }, lambdaTimeoutSeconds * 1000);
        });
        const invocation = Promise.resolve().then(() =>
          handler(Payload, {
            awsRequestId: requestId,
            functionName: FunctionName.split(':').pop() ?? FunctionName,
            getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
          }),
        );
        invocation.catch(() => undefined);
        try {
          const result = await Promise.race([invocation, timedOut]);
          taskResults.set(name, summarize(result));
          return { StatusCode: 200, ExecutedVersion: '$LATEST', Payload: result };
        } catch (error) {
          failedTasks.add(name);
          if (error instanceof TaskError && error.name === 'Sandbox.Timedout') throw error;
          // As Step Functions reports a function error: Error = the runtime's
          // errorType (the thrown error's name), Cause = its error document.
          const doc = lambdaErrorDocument(error);
          throw new TaskError(doc.errorType, JSON.stringify(doc));
        } finally {
          clearTimeout(timer);
        }
      };
    } else if (resource === 'arn:aws:states:::batch:submitJob.sync') {
      taskResourceLocalHandlers[name] = async (input) => {
        count();
        const params = input as {
          JobName: string;
          JobQueue: string;
          JobDefinition: string;
          ContainerOverrides?: { Command?: string[]; Environment?: { Name: string; Value: string }[] };
        };
        const environment: Record<string, string> = {};
        for (const { Name, Value } of params.ContainerOverrides?.Environment ?? []) environment[Name] = Value;
        const jobId = randomUUID();
        const command = params.ContainerOverrides?.Command ?? [];
        const strategy = retryStrategies[params.JobDefinition] ?? { attempts: 1 };
        // The awslogs stream of an attempt: <streamPrefix>/default/<task id>; the stack's prefix is the job's role.
        const streamPrefix = (params.JobDefinition.split('/').pop() ?? 'job').split(':')[0]?.split('-').pop() ?? 'job';
        const createdAt = Date.now();
        const stop = new AbortController();
        stopJob.set(name, stop);
        const signal = AbortSignal.any([jobs.signal, stop.signal]);
        const done: JobAttempt[] = [];
        for (let attempt = 1; ; attempt++) {
          const taskId = randomBytes(16).toString('hex');
          const job: BatchJob = {
            state: name,
            jobId,
            jobName: params.JobName,
            jobQueue: params.JobQueue,
            jobDefinition: params.JobDefinition,
            attempt,
            logStreamName: `${streamPrefix}/default/${taskId}`,
            command,
            environment,
          };
          const startedAt = Date.now();
          const pending = runBatch(job, signal);
          runningJobs.add(pending);
          let result: BatchJobResult;
          try {
            result = await pending;
          } catch (error) {
            if (signal.aborted) throw error;
            // The container never ran: no exit code, a reason (as ECS gives CannotStartContainerError).
            const message = error instanceof Error ? error.message : String(error);
            result = { exitCode: Number.NaN, reason: `CannotStartContainerError: ${message}` };
          } finally {
            runningJobs.delete(pending);
          }
          if (signal.aborted) throw new TaskError('States.TaskFailed', `batch job ${jobId} was stopped`);
          const exitCode = Number.isNaN(result.exitCode) ? undefined : result.exitCode;
          const attemptRun: BatchAttemptRun = {
            jobId,
            attempt,
            ...(exitCode === undefined ? {} : { exitCode }),
            ...(result.reason === undefined ? {} : { reason: result.reason }),
            logStreamName: job.logStreamName,
            logTail: result.logTail ?? [],
          };
          batchAttempts.set(name, [...(batchAttempts.get(name) ?? []), attemptRun]);
          if (exitCode === 0) {
            taskResults.set(name, summarize({ jobId, exitCode: 0, attempts: attempt, ...(result.report === undefined ? {} : { report: result.report }) }));
            return {
              JobId: jobId,
              JobName: params.JobName,
              JobQueue: params.JobQueue,
              JobDefinition: params.JobDefinition,
              Status: 'SUCCEEDED',
              StatusReason: CONTAINER_EXITED,
              CreatedAt: createdAt,
              StartedAt: startedAt,
              StoppedAt: Date.now(),
              Container: { Command: command, ExitCode: 0, LogStreamName: job.logStreamName },
            };
          }
          done.push({
            ...(exitCode === undefined ? {} : { exitCode }),
            ...(result.reason === undefined ? {} : { reason: result.reason }),
            statusReason: CONTAINER_EXITED,
            logStreamName: job.logStreamName,
            taskArn: `arn:aws:ecs:local:000000000000:task/fibbars-local/${taskId}`,
            startedAt,
            stoppedAt: Date.now(),
          });
          const exit = { ...(exitCode === undefined ? {} : { exitCode }), ...(result.reason === undefined ? {} : { reason: result.reason }), statusReason: CONTAINER_EXITED };
          if (!shouldRetry(strategy, attempt, exit)) break;
        }
        failedTasks.add(name);
        const description = failedJobDescription(
          { jobId, jobName: params.JobName, jobQueue: params.JobQueue, jobDefinition: params.JobDefinition, command, environment, createdAt },
          done,
          strategy,
        );
        // What Step Functions reports for a job that ended FAILED (failures.ts).
        throw new TaskError('States.TaskFailed', JSON.stringify(description));
      };
    } else if (resource === 'arn:aws:states:::sns:publish') {
      taskResourceLocalHandlers[name] = async (input) => {
        count();
        const { TopicArn, Subject, Message } = input as { TopicArn: string; Subject?: string; Message: string };
        const alert: Alert = { topicArn: TopicArn, subject: Subject ?? '', message: String(Message) };
        record.alert = { ...alert, at: new Date().toISOString() };
        await sendAlert(alert);
        const messageId = randomBytes(16).toString('hex');
        taskResults.set(name, { messageId });
        return { MessageId: messageId };
      };
    } else {
      throw new ConfigError(`state ${name} uses ${resource}, which the local engine cannot bind`);
    }
  }

  // asl-validator takes ~1.5 s: the golden file is validated by this package's
  // tests, so only a definition generated for other intervals is checked here.
  const machine = new StateMachine(definition as never, {
    validationOptions: custom && !plan ? { checkArn: true, checkPaths: true } : { noValidate: true },
  });
  const execution = machine.run((plan ? plan.input : record.input) as never, {
    overrides: {
      taskResourceLocalHandlers: taskResourceLocalHandlers as never,
      ...(scale === undefined ? {} : { retryIntervalOverrides: scaledRetryWaits(states, scale, attempts) }),
    },
    context: {
      Execution: { Id: `arn:aws:states:local:000000000000:execution:fibbars-daily-pipeline:${runId}`, Name: runId },
      StateMachine: { Id: 'arn:aws:states:local:000000000000:stateMachine:fibbars-daily-pipeline', Name: 'fibbars-daily-pipeline' },
    },
  });

  emit({ type: 'execution-started', state: definition.StartAt, attempt: 1, at: started.toISOString() });
  let lastState = definition.StartAt;
  // A failed Parallel state abandons its other branches: mark their running
  // states aborted and stop their jobs, as Step Functions does.
  const abandonBranches = (parallel: string, at: string): void => {
    for (const [child, where] of states) {
      if (where.parent !== parallel) continue;
      const run = current.get(child);
      if (run && run.status === 'running' && !failedTasks.has(child)) {
        run.status = 'aborted';
        run.endedAt = at;
      }
      if (!failedTasks.has(child)) stopJob.get(child)?.abort();
      if (where.state.Type === 'Parallel') abandonBranches(child, at);
    }
  };
  const consume = (async () => {
    for await (const event of execution.eventLogs) {
      const at = new Date(event.timestamp).toISOString();
      if (!('state' in event) || !event.state) continue;
      const name = event.state.name;
      // A branch a redrive keeps (its recorded output, replayed): not run again, not recorded again.
      if (plan?.kept.has(name)) continue;
      const parent = states.get(name)?.parent;
      const where = parent === undefined ? {} : { parent };
      let run = current.get(name);
      switch (event.type) {
        case 'StateEntered': {
          run = { name, type: event.state.type, ...where, startedAt: at, attempts: 1, status: 'running', retries: [] };
          if (parent === undefined) run.input = summarize(event.state.input);
          if (attempt > 0) run.redrive = attempt;
          current.set(name, run);
          record.states.push(run);
          if (parent === undefined) lastState = name;
          emit({ type: 'state-entered', state: name, attempt: 1, at, ...where });
          // Recorded at once, so a run that dies here shows the state it was in.
          void save().catch(() => undefined);
          break;
        }
        case 'StateFailed': {
          if (!run || run.status === 'aborted') break;
          if (event.state.type === 'Parallel') abandonBranches(name, at);
          run.error = errorInfo(event.Error, event.Cause);
          emit({ type: 'state-failed', state: name, attempt: run.attempts, at, ...where, error: run.error });
          break;
        }
        case 'StateRetried': {
          if (!run) break;
          run.retries.push({ at, error: run.error ?? errorInfo(undefined, undefined) });
          run.attempts += 1;
          emit({ type: 'state-retried', state: name, attempt: run.attempts, at, ...where });
          break;
        }
        case 'StateCaught': {
          if (!run) break;
          run.status = 'caught';
          run.endedAt = at;
          attachAttempts(run);
          void save().catch(() => undefined);
          break;
        }
        case 'StateExited': {
          // A caught state exits too, towards its Catch target: it still failed.
          if (!run || run.status === 'caught' || run.status === 'aborted') break;
          run.status = 'succeeded';
          run.endedAt = at;
          delete run.error;
          const result = taskResults.get(name);
          if (result !== undefined) run.output = result;
          if (parent !== undefined && states.get(name)?.state.End === true) run.result = summarize(event.state.output);
          attachAttempts(run);
          emit({ type: 'state-succeeded', state: name, attempt: run.attempts, at, ...where });
          void save().catch(() => undefined);
          break;
        }
        default:
          break;
      }
    }
  })();

  // --- the lease: renewed every heartbeat; a stop request (fibbars stop), a
  // record another reader ended, or the caller's signal aborts the run.
  let stopped: Omit<RunAbort, 'at' | 'state'> | undefined;
  const stop = (why: Omit<RunAbort, 'at' | 'state'>): void => {
    if (stopped) return;
    stopped = why;
    execution.abort();
    jobs.abort();
  };
  const onSignal = (): void => stop({ reason: 'stopped', cause: abortCause(options.signal) });
  if (options.signal?.aborted) onSignal();
  options.signal?.addEventListener('abort', onSignal, { once: true });
  let beating = false;
  let lastBeat = Date.now();
  /** The stop request for this attempt of the run, if one was made. */
  const requestedStop = async (): Promise<Omit<RunAbort, 'at' | 'state'> | undefined> => {
    const request = (await runs.stopRequest(runId)) as StopRequest | null;
    if (!request || (request.redriveCount ?? 0) !== attempt) return undefined;
    return { reason: 'stopped', ...(request.error ? { error: request.error } : {}), cause: request.cause ?? `stopped by fibbars stop at ${request.at}` };
  };
  const heartbeat = setInterval(() => {
    if (beating || stopped) return;
    beating = true;
    void (async () => {
      const request = await requestedStop();
      if (request) {
        stop(request);
        return;
      }
      if (Date.now() - lastBeat < heartbeatMs - stopPollMs / 2) return;
      lastBeat = Date.now();
      const stored = await runs.get(runId);
      const ended = stored?.status === 'ABORTED' ? (stored.abort as RunAbort | undefined) : undefined;
      if (ended) {
        // A reader took this run for dead (a stalled heartbeat): it stays ended.
        stop({ reason: ended.reason, ...(ended.error ? { error: ended.error } : {}), cause: ended.cause });
        return;
      }
      record.lease = newLease(new Date(), leaseMs);
      await save();
    })()
      .catch(() => undefined)
      .finally(() => {
        beating = false;
      });
  }, stopPollMs);
  heartbeat.unref();

  let failure: { name: string; cause: string } | undefined;
  try {
    await execution.result;
  } catch (error) {
    if (!stopped) {
      // The engine wraps the last error: the Fail state's ErrorPath/CausePath.
      const inner = (error as { cause?: { name?: unknown; message?: unknown } }).cause ?? (error as object);
      failure = errorInfo((inner as { name?: unknown }).name, (inner as { message?: unknown }).message);
    }
  } finally {
    clearInterval(heartbeat);
    options.signal?.removeEventListener('abort', onSignal);
  }
  await consume;
  // No job outlives the run: stop what is left and wait for the processes to exit.
  jobs.abort();
  await Promise.allSettled([...runningJobs]);

  // A stop requested while the run was RUNNING ends it ABORTED, even when the
  // request came after the last poll: StopExecution on a RUNNING execution
  // aborts it, whatever its tasks were about to do.
  if (!stopped) stopped = await requestedStop().catch(() => undefined);
  const ended = new Date();
  delete record.lease;
  const own = record.states.slice(firstOwn);
  if (stopped) {
    for (const run of own) attachAttempts(run);
    markAborted(record, { at: ended.toISOString(), ...stopped });
    await save();
    await runs.clearStop(runId).catch(() => undefined);
    emit({ type: 'execution-aborted', state: record.finalState ?? lastState, attempt: 1, at: ended.toISOString() });
    return record;
  }
  for (const run of own) {
    attachAttempts(run);
    if (run.status === 'running') {
      run.status = failedTasks.has(run.name) || (run.error && failure) ? 'failed' : 'aborted';
      run.endedAt = ended.toISOString();
    }
  }
  record.status = failure ? 'FAILED' : 'SUCCEEDED';
  record.finalState = lastState;
  if (failure) record.error = failure;
  record.endedAt = ended.toISOString();
  record.durationMs = ended.getTime() - Date.parse(record.startedAt);
  await save();
  emit({
    type: failure ? 'execution-failed' : 'execution-succeeded',
    state: record.finalState,
    attempt: 1,
    at: record.endedAt,
    ...(failure ? { error: failure } : {}),
  });
  return record;
}

// ---------------------------------------------------------------------------
// Reading run records (`fibbars executions`, `fibbars describe`)
// ---------------------------------------------------------------------------

/** Every run record of a lake, newest first; a run whose process is gone is marked ABORTED first. */
export async function listRuns(lake: string, options: OpenStoreOptions = {}): Promise<PipelineRunRecord[]> {
  return (await reconcileRuns(new RunStore(openStore(lake, options)))) as PipelineRunRecord[];
}

/** One run record (marked ABORTED when its process is gone), or `null` when the lake has no run with that id. */
export async function getRun(lake: string, runId: string, options: OpenStoreOptions = {}): Promise<PipelineRunRecord | null> {
  const runs = new RunStore(openStore(lake, options));
  const record = await runs.get(runId);
  return record ? ((await reconcileRun(runs, record)) as PipelineRunRecord) : null;
}
