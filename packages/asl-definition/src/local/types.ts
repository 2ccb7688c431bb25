/**
 * The public types of the local engine: its bindings, its live events and the
 * run record it writes (`_runs/<runId>.json`).
 */
import type { MarketSource } from '@fibbars/fetchers';
import type { FetchEvent, FetchLogger, FetchResult } from '@fibbars/fetchers/handlers';
import type { OpenStoreOptions, RunRecord } from '@fibbars/ohlcv-core/storage';
import type { JobRetryStrategy } from '../failures.js';
import type { RunAbort, RunLease } from '../runs.js';

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
  /** Ticker partitions of the resample stage (absent: 1). */
  partitions?: number;
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
  /**
   * Ticker partitions of the resample stage (default 1): with P > 1 each
   * interval is a Distributed Map of P partition jobs (child processes, at
   * most `maxConcurrency` at once) and a fan-in commit.
   */
  partitions?: number;
  /** Partition jobs of one interval at once (the Map's MaxConcurrency; default: all P). */
  maxConcurrency?: number;
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
