/**
 * Task failures as AWS reports them, and their decoding for a person.
 *
 * The contracts, as documented (and as seen in execution histories):
 *
 * - `arn:aws:states:::batch:submitJob.sync`: a job that ends `FAILED` fails
 *   the task with the error `States.TaskFailed`; the `Cause` is the job
 *   description (Batch `DescribeJobs` JobDetail, keys in PascalCase as every
 *   Step Functions service-integration payload): `JobId`, `JobName`, `Status`,
 *   `StatusReason`, `Attempts[].Container.{ExitCode,LogStreamName,Reason}`,
 *   `Container.{ExitCode,LogStreamName}`, `RetryStrategy`, ...
 *   https://docs.aws.amazon.com/step-functions/latest/dg/connect-batch.html
 *   https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-sync
 *   https://docs.aws.amazon.com/batch/latest/APIReference/API_JobDetail.html
 *   Errors of the SubmitJob call itself arrive as `Batch.<Exception>`
 *   (`ServiceName.ErrorName`):
 *   https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
 *   https://docs.aws.amazon.com/batch/latest/APIReference/CommonErrors.html
 * - AWS Batch retries a failed job per its `retryStrategy`: `attempts` (1-10)
 *   runs at most, `evaluateOnExit` (up to 5 entries) decides RETRY or EXIT on
 *   glob patterns of the exit code / reasons; when no entry matches, the job
 *   is retried. Each run sees `AWS_BATCH_JOB_ATTEMPT` (1, 2, ...).
 *   https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html
 *   https://docs.aws.amazon.com/batch/latest/APIReference/API_EvaluateOnExit.html
 * - `arn:aws:states:::lambda:invoke`: a function error fails the task with the
 *   runtime's `errorType` as the error and the error document as the cause;
 *   the Node.js runtime writes `{"errorType","errorMessage","trace"}` with the
 *   thrown error's `name` as `errorType`.
 *   https://docs.aws.amazon.com/lambda/latest/dg/nodejs-exceptions.html
 *   https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html
 *   https://docs.aws.amazon.com/step-functions/latest/dg/tutorial-handling-error-conditions.html
 *   A function that runs past its timeout is ended by Lambda; current runtimes
 *   return the error document
 *   `{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: <id> Error: Task timed out after N.NN seconds"}`,
 *   so the task fails with `Sandbox.Timedout`. Step Functions' own page still
 *   says such unhandled errors (timeouts, out of memory) surface as
 *   `Lambda.Unknown` (what runtimes that return no errorType produce):
 *   https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
 *   https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts
 *   Neither is retried here; both are caught and alerted. A Task whose own
 *   `TimeoutSeconds` elapses first fails with `States.Timeout`.
 *   https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
 */
// The error name <-> exit code contract has one home: @fibbars/ohlcv-core/errors.
import { EXIT_CODES, EXIT_NAMES } from '@fibbars/ohlcv-core/errors';

// ---------------------------------------------------------------------------
// Batch: retry strategies and the job description
// ---------------------------------------------------------------------------

/** One `evaluateOnExit` entry of a job definition's `retryStrategy` (Batch API field names). */
export interface EvaluateOnExit {
  action: 'RETRY' | 'EXIT';
  onExitCode?: string;
  onReason?: string;
  onStatusReason?: string;
}

/** A job definition's `retryStrategy`, as the Batch API spells it. */
export interface JobRetryStrategy {
  /** Runs at most (1-10). */
  attempts: number;
  evaluateOnExit?: EvaluateOnExit[];
}

/** Exit codes that end a job at once: a bad configuration or a failed quality gate fails the same way again. */
export const NON_RETRYABLE_EXIT_CODES: readonly number[] = Object.freeze([EXIT_CODES.ConfigError, EXIT_CODES.DataQualityError]);

const exitOnOurErrors = (): EvaluateOnExit[] => NON_RETRYABLE_EXIT_CODES.map((code) => ({ action: 'EXIT', onExitCode: String(code) }));

/**
 * The retry strategies of the two job definitions (CDK deploys them, the
 * local engine applies them). Consolidation runs twice at most (DESIGN's
 * "1 retry"), resampling once; both EXIT on exit codes 2 and 3, every other
 * failure (1, 4 = CommitConflictError, a killed container) is retried while
 * attempts remain, which is Batch's rule when no entry matches.
 */
export const JOB_RETRY_STRATEGIES: Readonly<{ consolidate: JobRetryStrategy; resample: JobRetryStrategy }> = Object.freeze({
  consolidate: { attempts: 2, evaluateOnExit: exitOnOurErrors() },
  resample: { attempts: 1, evaluateOnExit: exitOnOurErrors() },
});

/** Batch's glob: the pattern matches exactly, or, ending in `*`, as a prefix. */
function globMatches(pattern: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  return pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}

/** How an attempt ended, in the terms `evaluateOnExit` matches on. */
export interface AttemptExit {
  exitCode?: number;
  /** The container's reason (`Attempts[].Container.Reason`). */
  reason?: string;
  /** The attempt's status reason. */
  statusReason?: string;
}

/**
 * The action Batch takes after a failed attempt: the first entry whose every
 * given condition matches decides; no match means RETRY (AWS Batch user guide,
 * "Automated job retries"). The action is case-insensitive.
 */
export function retryAction(strategy: JobRetryStrategy, exit: AttemptExit): 'RETRY' | 'EXIT' {
  for (const entry of strategy.evaluateOnExit ?? []) {
    const conditions: [string | undefined, string | undefined][] = [
      [entry.onExitCode, exit.exitCode === undefined ? undefined : String(exit.exitCode)],
      [entry.onReason, exit.reason],
      [entry.onStatusReason, exit.statusReason],
    ];
    const given = conditions.filter(([pattern]) => pattern !== undefined);
    if (given.length > 0 && given.every(([pattern, value]) => globMatches(pattern as string, value))) {
      return entry.action.toUpperCase() === 'EXIT' ? 'EXIT' : 'RETRY';
    }
  }
  return 'RETRY';
}

/** Whether Batch runs another attempt after attempt number `attempt` (1-based) failed. */
export function shouldRetry(strategy: JobRetryStrategy, attempt: number, exit: AttemptExit): boolean {
  return attempt < Math.min(10, Math.max(1, strategy.attempts)) && retryAction(strategy, exit) === 'RETRY';
}

/** The status reason Batch gives an attempt whose essential container exited. */
export const CONTAINER_EXITED = 'Essential container in task exited';

/** One finished attempt of a job, as the engine saw it. */
export interface JobAttempt {
  exitCode?: number;
  reason?: string;
  statusReason: string;
  logStreamName: string;
  taskArn: string;
  startedAt: number;
  stoppedAt: number;
}

/** The job a Task state submitted. */
export interface SubmittedJob {
  jobId: string;
  jobName: string;
  jobQueue: string;
  jobDefinition: string;
  command: string[];
  environment: Record<string, string>;
  createdAt: number;
}

/**
 * The job description of a FAILED job, shaped as Step Functions puts it in the
 * `Cause` of `States.TaskFailed` (JobDetail, PascalCase keys).
 */
export function failedJobDescription(job: SubmittedJob, attempts: JobAttempt[], strategy: JobRetryStrategy): Record<string, unknown> {
  const last = attempts.at(-1);
  const container = (a: JobAttempt | undefined) => ({
    ...(a?.exitCode === undefined ? {} : { ExitCode: a.exitCode }),
    ...(a === undefined ? {} : { LogStreamName: a.logStreamName }),
    NetworkInterfaces: [],
    ...(a?.reason === undefined ? {} : { Reason: a.reason }),
    ...(a === undefined ? {} : { TaskArn: a.taskArn }),
  });
  const region = job.jobQueue.split(':')[3] ?? 'local';
  const account = job.jobQueue.split(':')[4] ?? '000000000000';
  return {
    Attempts: attempts.map((a) => ({ Container: container(a), StartedAt: a.startedAt, StatusReason: a.statusReason, StoppedAt: a.stoppedAt })),
    Container: {
      Command: job.command,
      Environment: Object.entries(job.environment).map(([Name, Value]) => ({ Name, Value })),
      ...container(last),
    },
    CreatedAt: job.createdAt,
    DependsOn: [],
    JobArn: `arn:aws:batch:${region}:${account}:job/${job.jobId}`,
    JobDefinition: job.jobDefinition,
    JobId: job.jobId,
    JobName: job.jobName,
    JobQueue: job.jobQueue,
    Parameters: {},
    RetryStrategy: {
      Attempts: strategy.attempts,
      EvaluateOnExit: (strategy.evaluateOnExit ?? []).map((e) => ({
        Action: e.action.toLowerCase(),
        ...(e.onExitCode === undefined ? {} : { OnExitCode: e.onExitCode }),
        ...(e.onReason === undefined ? {} : { OnReason: e.onReason }),
        ...(e.onStatusReason === undefined ? {} : { OnStatusReason: e.onStatusReason }),
      })),
    },
    ...(attempts[0] ? { StartedAt: attempts[0].startedAt } : {}),
    Status: 'FAILED',
    StatusReason: last?.statusReason ?? CONTAINER_EXITED,
    ...(last ? { StoppedAt: last.stoppedAt } : {}),
  };
}

// ---------------------------------------------------------------------------
// Lambda: the error document of the Node.js runtime
// ---------------------------------------------------------------------------

/** What the Node.js runtime reports for a thrown value: `errorType` is the error's `name`. */
export function lambdaErrorDocument(error: unknown): { errorType: string; errorMessage: string; trace: string[] } {
  const e = error as { name?: unknown; message?: unknown; stack?: unknown };
  const errorType = error instanceof Error || (typeof e?.name === 'string' && e.name !== '') ? String(e.name || 'Error') : 'Error';
  const errorMessage = typeof e?.message === 'string' ? e.message : String(error);
  const trace = typeof e?.stack === 'string' ? e.stack.split('\n') : [];
  return { errorType, errorMessage, trace };
}

/** What Lambda returns when a function runs past its timeout. */
export function lambdaTimeoutDocument(requestId: string, timeoutSeconds: number): { errorType: string; errorMessage: string } {
  return { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${requestId} Error: Task timed out after ${timeoutSeconds.toFixed(2)} seconds` };
}

// ---------------------------------------------------------------------------
// Decoding a failure for a person
// ---------------------------------------------------------------------------

/** `EXIT_NAMES[code]`: the batch-runner error name of an exit code (1 = any other error). */
export { EXIT_NAMES };

/** Placeholders for fields a job description or error document may lack. */
export const DECODE_DEFAULTS = Object.freeze({
  job: { JobId: '-', JobName: '-', StatusReason: 'no status reason', Attempts: [] as unknown[], Container: {} },
  container: { ExitCode: 'none', LogStreamName: 'no log stream', Reason: 'no reason given' },
  function: { errorMessage: 'no error message' },
});

/** Where the logs of a deployment (or of a local run) are. */
export interface LogLocations {
  /** The Batch jobs' CloudWatch log group. */
  jobLogGroup: string;
  /** The fetcher functions' log groups (ohlcv, meta). */
  functionLogGroups: readonly [string, string];
}

/**
 * Where the logs of a local run are, in the alert text: a Batch job's log is
 * kept (its end) in the run record, a fetcher's goes to the engine's stderr.
 */
export function localLogLocations(runId: string): LogLocations {
  return { jobLogGroup: `run record ${runId}`, functionLogGroups: ['stderr of fibbars-ohlcv', 'stderr of fibbars-meta'] };
}

/**
 * The log groups of a deployment, from the name prefix of its resources
 * (`<env>-fibbars`, the CDK stack's naming: `/aws/batch/<prefix>`,
 * `/aws/lambda/<prefix>-<fetcher>`).
 */
export function deployedLogLocations(prefix: string): LogLocations {
  return { jobLogGroup: `/aws/batch/${prefix}`, functionLogGroups: [`/aws/lambda/${prefix}-ohlcv`, `/aws/lambda/${prefix}-meta`] };
}

/** The batch-runner meaning of an exit code, as the alert spells it. */
export function exitPhrase(exitCode: unknown, reason: string): string {
  if (typeof exitCode !== 'number') return `stopped without an exit code (${reason})`;
  if (exitCode >= 0 && exitCode < EXIT_NAMES.length) return `exited with code ${exitCode} (${EXIT_NAMES[exitCode]})`;
  if (exitCode >= 128) return `exited with code ${exitCode} (killed by signal ${exitCode - 128})`;
  return `exited with code ${exitCode} (Error)`;
}

const BATCH_STAGES = new Set(['Consolidate', 'Resample']);
const FETCH_STAGE = 'FetchAll';

/**
 * One line an operator can act on: for a failed Batch job, the job, the exit
 * code mapped back to the error name, the attempts, the status reason and the
 * log group and stream; for a fetcher error, the message and the functions'
 * log groups; otherwise the cause as it is. The state machine's alert
 * (ShapeAlert -> ... -> NotifyFailure) renders the same text with intrinsic
 * functions; a test holds the two equal.
 */
export function explainFailure(stage: string, error: string, cause: string, logs: LogLocations): string {
  if (BATCH_STAGES.has(stage) && error === 'States.TaskFailed' && cause.startsWith('{')) {
    const parsed = parseObject(cause);
    if (parsed) {
      const job = { ...DECODE_DEFAULTS.job, ...parsed } as Record<string, unknown>;
      const container = { ...DECODE_DEFAULTS.container, ...(job.Container as object) } as Record<string, unknown>;
      const attempts = Array.isArray(job.Attempts) ? job.Attempts.length : 0;
      return (
        `batch job ${str(job.JobId)} (${str(job.JobName)}) ${exitPhrase(container.ExitCode, str(container.Reason))} ` +
        `after ${attempts} attempt(s): ${str(job.StatusReason)}; logs: ${logs.jobLogGroup} ${str(container.LogStreamName)}`
      );
    }
  }
  if (stage === FETCH_STAGE && cause.startsWith('{')) {
    const parsed = parseObject(cause);
    if (parsed) {
      const doc = { ...DECODE_DEFAULTS.function, ...parsed } as Record<string, unknown>;
      return `${str(doc.errorMessage)}; logs: ${logs.functionLogGroups[0]} or ${logs.functionLogGroups[1]}`;
    }
  }
  return cause;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
