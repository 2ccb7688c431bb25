/**
 * The Task resources of the definition, bound to local parts:
 *
 * - `lambda:invoke`        -> the fetcher handlers, in process;
 * - `batch:submitJob.sync` -> one process per attempt of the job (batch-process.ts),
 *   retried per the job definition's retry strategy, as AWS Batch does;
 * - `sns:publish`          -> the alert sink (stderr by default).
 *
 * `LocalTasks` holds what the tasks report (results, failures, Batch
 * attempts: the reducer's `TaskFacts`) and the jobs still running.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SyntheticSource, type MarketSource } from '@fibbars/fetchers';
import { createMetaHandler, createOhlcvHandler, type FetchEvent, type FetchLogger } from '@fibbars/fetchers/handlers';
import { ConfigError } from '@fibbars/ohlcv-core/errors';
import {
  CONTAINER_EXITED,
  failedJobDescription,
  lambdaErrorDocument,
  lambdaTimeoutDocument,
  shouldRetry,
  type JobAttempt,
  type JobRetryStrategy,
} from '../failures.js';
import { createBatchRunnerBinding } from './batch-process.js';
import { LOCAL_ARNS, TaskError } from './resources.js';
import { summarize, type StateIndex, type TaskFacts } from './run-record.js';
import type { Alert, BatchAttemptRun, BatchJob, BatchJobResult, FetchHandler, RunLocalPipelineOptions } from './types.js';

// ---------------------------------------------------------------------------
// The parts behind the resources, defaults filled in
// ---------------------------------------------------------------------------

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

/** The parts a run binds its Task resources to. */
export interface ResolvedBindings {
  /** The market source's name for the record (`custom` when both fetchers are the caller's). */
  sourceName: string;
  ohlcv: FetchHandler;
  meta: FetchHandler;
  runBatch: (job: BatchJob, signal: AbortSignal) => Promise<BatchJobResult>;
  sendAlert: (alert: Alert) => Promise<void> | void;
}

/** The caller's bindings, each defaulting to the real part (the fetchers on the synthetic market, the batch-runner bundle, stderr). */
export function resolveBindings(options: RunLocalPipelineOptions, lake: string): ResolvedBindings {
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
  return { sourceName: source?.name ?? 'custom', ohlcv, meta, runBatch, sendAlert };
}

// ---------------------------------------------------------------------------
// The Task handlers
// ---------------------------------------------------------------------------

export interface LocalTasksOptions extends ResolvedBindings {
  /** Timeout of the local fetcher functions, in seconds. */
  lambdaTimeoutSeconds: number;
  /** Retry strategy per job definition ARN. */
  retryStrategies: Readonly<Record<string, JobRetryStrategy>>;
  /** Records an alert in the run record, before it is sent. */
  onAlert: (alert: Alert) => void;
}

type TaskHandler = (input: unknown) => Promise<unknown>;

interface SubmitJobParameters {
  JobName: string;
  JobQueue: string;
  JobDefinition: string;
  ContainerOverrides?: { Command?: string[]; Environment?: { Name: string; Value: string }[] };
}

/** A job as `batch:submitJob.sync` submitted it: its id, command, environment and retry strategy. */
interface SubmitJobRequest {
  params: SubmitJobParameters;
  jobId: string;
  command: string[];
  environment: Record<string, string>;
  strategy: JobRetryStrategy;
  /** The awslogs stream prefix of its attempts (`<prefix>/default/<task id>`). */
  streamPrefix: string;
  createdAt: number;
}

function submittedJob(input: unknown, retryStrategies: Readonly<Record<string, JobRetryStrategy>>): SubmitJobRequest {
  const params = input as SubmitJobParameters;
  const environment: Record<string, string> = {};
  for (const { Name, Value } of params.ContainerOverrides?.Environment ?? []) environment[Name] = Value;
  const jobId = randomUUID();
  const command = params.ContainerOverrides?.Command ?? [];
  const strategy = retryStrategies[params.JobDefinition] ?? { attempts: 1 };
  // The awslogs stream of an attempt: <streamPrefix>/default/<task id>; the stack's prefix is the job's role.
  const streamPrefix = (params.JobDefinition.split('/').pop() ?? 'job').split(':')[0]?.split('-').pop() ?? 'job';
  return { params, jobId, command, environment, strategy, streamPrefix, createdAt: Date.now() };
}

/** What `DescribeJobs` says of a job that SUCCEEDED, as `.sync` returns it. */
function succeededJobDetail(submitted: SubmitJobRequest, job: BatchJob, startedAt: number): Record<string, unknown> {
  const { params } = submitted;
  return {
    JobId: submitted.jobId,
    JobName: params.JobName,
    JobQueue: params.JobQueue,
    JobDefinition: params.JobDefinition,
    Status: 'SUCCEEDED',
    StatusReason: CONTAINER_EXITED,
    CreatedAt: submitted.createdAt,
    StartedAt: startedAt,
    StoppedAt: Date.now(),
    Container: { Command: submitted.command, ExitCode: 0, LogStreamName: job.logStreamName },
  };
}

/** The Task handlers of a run, and what they reported (read by the run-record reducer). */
export class LocalTasks implements TaskFacts {
  readonly taskResults = new Map<string, unknown>();
  readonly failedTasks = new Set<string>();
  readonly batchAttempts = new Map<string, BatchAttemptRun[]>();
  /** Invocations per Task state (the scaled retry waits count them). */
  readonly attempts = new Map<string, number>();
  /** aws-local-stepfunctions' `taskResourceLocalHandlers`, by Task state name. */
  readonly handlers: Record<string, TaskHandler> = {};
  private readonly jobs = new AbortController();
  // Per Task state: stops its Batch job when its branch is abandoned.
  private readonly stopJob = new Map<string, AbortController>();
  private readonly runningJobs = new Set<Promise<unknown>>();

  /** Binds every Task state by its Resource; throws `ConfigError` for a resource it cannot bind. */
  constructor(
    states: StateIndex,
    private readonly options: LocalTasksOptions,
  ) {
    for (const [name, { state }] of states) {
      if (state.Type !== 'Task') continue;
      const resource = state.Resource as string;
      const handler = this.handlerFor(name, resource);
      if (!handler) throw new ConfigError(`state ${name} uses ${resource}, which the local engine cannot bind`);
      this.handlers[name] = (input) => {
        this.attempts.set(name, (this.attempts.get(name) ?? 0) + 1);
        return handler(input);
      };
    }
  }

  /** Stops the Batch job of a Task state (its branch was abandoned). */
  stopState(name: string): void {
    this.stopJob.get(name)?.abort();
  }

  /** Stops every Batch job of the run. */
  stopAll(): void {
    this.jobs.abort();
  }

  /** No job outlives the run: stops what is left and waits for the processes to exit. */
  async settle(): Promise<void> {
    this.jobs.abort();
    await Promise.allSettled([...this.runningJobs]);
  }

  private handlerFor(name: string, resource: string): TaskHandler | undefined {
    switch (resource) {
      case 'arn:aws:states:::lambda:invoke':
        return (input) => this.invokeLambda(name, input);
      case 'arn:aws:states:::batch:submitJob.sync':
        return (input) => this.runBatchJob(name, input);
      case 'arn:aws:states:::sns:publish':
        return (input) => this.publishAlert(name, input);
      default:
        return undefined;
    }
  }

  /** `lambda:invoke`: the fetcher handler chosen by `FunctionName`, in process, under the function's timeout. */
  private async invokeLambda(name: string, input: unknown): Promise<unknown> {
    const { lambdaTimeoutSeconds } = this.options;
    const lambdaHandlers: Record<string, FetchHandler> = {
      [LOCAL_ARNS.OhlcvFunctionArn]: this.options.ohlcv,
      [LOCAL_ARNS.MetaFunctionArn]: this.options.meta,
    };
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
      this.taskResults.set(name, summarize(result));
      return { StatusCode: 200, ExecutedVersion: '$LATEST', Payload: result };
    } catch (error) {
      this.failedTasks.add(name);
      if (error instanceof TaskError && error.name === 'Sandbox.Timedout') throw error;
      // As Step Functions reports a function error: Error = the runtime's
      // errorType (the thrown error's name), Cause = its error document.
      const doc = lambdaErrorDocument(error);
      throw new TaskError(doc.errorType, JSON.stringify(doc));
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * `batch:submitJob.sync`: runs the job's attempts (same job id, a new task
   * per attempt) until one exits 0 or the retry strategy says EXIT; a job
   * that ends FAILED fails the task as Step Functions reports it.
   */
  private async runBatchJob(name: string, input: unknown): Promise<unknown> {
    const submitted = submittedJob(input, this.options.retryStrategies);
    const { params, jobId, strategy } = submitted;
    const stop = new AbortController();
    this.stopJob.set(name, stop);
    const signal = AbortSignal.any([this.jobs.signal, stop.signal]);
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
        logStreamName: `${submitted.streamPrefix}/default/${taskId}`,
        command: submitted.command,
        environment: submitted.environment,
      };
      const startedAt = Date.now();
      const result = await this.runAttempt(job, signal);
      if (signal.aborted) throw new TaskError('States.TaskFailed', `batch job ${jobId} was stopped`);
      const exitCode = Number.isNaN(result.exitCode) ? undefined : result.exitCode;
      const ended = { ...(exitCode === undefined ? {} : { exitCode }), ...(result.reason === undefined ? {} : { reason: result.reason }) };
      const attemptRun: BatchAttemptRun = { jobId, attempt, ...ended, logStreamName: job.logStreamName, logTail: result.logTail ?? [] };
      this.batchAttempts.set(name, [...(this.batchAttempts.get(name) ?? []), attemptRun]);
      if (exitCode === 0) {
        this.taskResults.set(name, summarize({ jobId, exitCode: 0, attempts: attempt, ...(result.report === undefined ? {} : { report: result.report }) }));
        return succeededJobDetail(submitted, job, startedAt);
      }
      done.push({
        ...ended,
        statusReason: CONTAINER_EXITED,
        logStreamName: job.logStreamName,
        taskArn: `arn:aws:ecs:local:000000000000:task/fibbars-local/${taskId}`,
        startedAt,
        stoppedAt: Date.now(),
      });
      if (!shouldRetry(strategy, attempt, { ...ended, statusReason: CONTAINER_EXITED })) break;
    }
    this.failedTasks.add(name);
    const { command, environment, createdAt } = submitted;
    const description = failedJobDescription(
      { jobId, jobName: params.JobName, jobQueue: params.JobQueue, jobDefinition: params.JobDefinition, command, environment, createdAt },
      done,
      strategy,
    );
    // What Step Functions reports for a job that ended FAILED (failures.ts).
    throw new TaskError('States.TaskFailed', JSON.stringify(description));
  }

  /** One attempt of a job; a job that could not start is an attempt without an exit code. */
  private async runAttempt(job: BatchJob, signal: AbortSignal): Promise<BatchJobResult> {
    const pending = this.options.runBatch(job, signal);
    this.runningJobs.add(pending);
    try {
      return await pending;
    } catch (error) {
      if (signal.aborted) throw error;
      // The container never ran: no exit code, a reason (as ECS gives CannotStartContainerError).
      const message = error instanceof Error ? error.message : String(error);
      return { exitCode: Number.NaN, reason: `CannotStartContainerError: ${message}` };
    } finally {
      this.runningJobs.delete(pending);
    }
  }

  /** `sns:publish`: the alert goes to the record, then to the sink. */
  private async publishAlert(name: string, input: unknown): Promise<unknown> {
    const { TopicArn, Subject, Message } = input as { TopicArn: string; Subject?: string; Message: string };
    const alert: Alert = { topicArn: TopicArn, subject: Subject ?? '', message: String(Message) };
    this.options.onAlert(alert);
    await this.options.sendAlert(alert);
    const messageId = randomBytes(16).toString('hex');
    this.taskResults.set(name, { messageId });
    return { MessageId: messageId };
  }
}
