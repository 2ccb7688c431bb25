/**
 * The fibbars daily pipeline as Amazon States Language (JSONPath), generated
 * from typed code so that the interval list and the retry policies are data,
 * and so that the error names come from the packages that throw them.
 */
import { DEFAULT_INTERVALS } from '@fibbars/ohlcv-core/calendar';
import { MAX_PARTITIONS } from '@fibbars/ohlcv-core/partitions';
import { FETCHER_ERROR_NAMES } from '@fibbars/fetchers/errors';
import { DECODE_DEFAULTS, EXIT_NAMES } from './failures.js';

/** Fibonacci session counts resampled by default, one Batch branch each (their one home is ohlcv-core's calendar). */
export { DEFAULT_INTERVALS };

/**
 * Placeholders in the definition, filled by CDK `definitionSubstitutions` on
 * AWS and by the local engine on a laptop. Each appears as `${Key}`.
 */
export const SUBSTITUTION_KEYS = Object.freeze([
  'OhlcvFunctionArn',
  'MetaFunctionArn',
  'JobQueueArn',
  'ConsolidateJobDefinitionArn',
  'ResampleJobDefinitionArn',
  'AlertTopicArn',
  'LakeUri',
  'JobLogGroupName',
  'OhlcvLogGroupName',
  'MetaLogGroupName',
] as const);

export type SubstitutionKey = (typeof SUBSTITUTION_KEYS)[number];
export type Substitutions = Record<SubstitutionKey, string>;

/** One `Retry` entry, as the States Language spells it. */
export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE';
}

export interface RetryPolicies {
  /** Both fetcher Lambda tasks (`FetchOhlcv`, `FetchMeta`). */
  fetch: Retrier[];
  /** The consolidation Batch job. */
  consolidate: Retrier[];
  /** Every resampler Batch job (one per interval). */
  resample: Retrier[];
}

export interface BuildDefinitionOptions {
  /** Session counts to resample, one Parallel branch each. Default {@link DEFAULT_INTERVALS}. */
  intervals?: readonly number[];
  /** Replace one or more stage retry policies (an empty list disables retries for that stage). */
  retry?: Partial<RetryPolicies>;
  /** Task timeouts in seconds. Defaults: fetch 900 (the Lambda maximum), consolidate 3600, resample 3600. */
  timeoutSeconds?: Partial<Record<keyof RetryPolicies, number>>;
  /**
   * Ticker partitions of the resample stage (DESIGN §6; default 1, today's
   * topology). With P > 1 each interval's branch is a Distributed Map over
   * the partitions, one Batch job each (`resample --partition i/P`), then
   * one fan-in job (`commit-partitions`) that publishes them as one version.
   */
  partitions?: number;
  /** Partition jobs of one interval running at once (the Map's MaxConcurrency; default: all P). */
  maxConcurrency?: number;
}

/** The largest partition count the definition accepts: ohlcv-core's, whose jobs run the partitions. */
export const MAX_DEFINITION_PARTITIONS = MAX_PARTITIONS;

/** Errors raised by the Lambda service itself, worth a retry (AWS's recommended set). */
export const LAMBDA_SERVICE_ERRORS = Object.freeze([
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
]);

/**
 * Errors of the Batch SubmitJob call itself (the job never ran): Step Functions
 * names them `Batch.<Exception>`. A job that ran and failed arrives as
 * `States.TaskFailed` and is not retried here: the job definitions'
 * `retryStrategy` already retried it where that helps (see `JOB_RETRY_STRATEGIES`).
 * https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
 * https://docs.aws.amazon.com/batch/latest/APIReference/CommonErrors.html
 */
export const BATCH_SUBMIT_ERRORS = Object.freeze(['Batch.AWSBatchException', 'Batch.ServerException', 'Batch.TooManyRequestsException']);

/** The retry policies of DESIGN §4. */
const DEFAULT_RETRY_POLICIES: RetryPolicies = {
  fetch: [
    {
      ErrorEquals: [
        ...LAMBDA_SERVICE_ERRORS,
        FETCHER_ERROR_NAMES.RateLimitedError,
        FETCHER_ERROR_NAMES.UpstreamUnavailableError,
      ],
      IntervalSeconds: 3,
      MaxAttempts: 2,
      BackoffRate: 2,
      JitterStrategy: 'FULL',
    },
  ],
  // On AWS a failed job is States.TaskFailed whatever its exit code, so a
  // state-machine retry of it would repeat configuration and data errors too.
  // Job failures are retried by Batch (retryStrategy, EXIT on exit codes 2
  // and 3); the state machine retries only a SubmitJob call that failed.
  consolidate: [{ ErrorEquals: [...BATCH_SUBMIT_ERRORS], IntervalSeconds: 60, MaxAttempts: 1, BackoffRate: 1 }],
  resample: [],
};
export const DEFAULT_RETRY: Readonly<RetryPolicies> = Object.freeze(DEFAULT_RETRY_POLICIES);

const DEFAULT_TIMEOUTS: Record<keyof RetryPolicies, number> = { fetch: 900, consolidate: 3600, resample: 3600 };

/** Names of the states, for readers of execution histories and run records. */
export const STATE_NAMES = Object.freeze({
  fetchAll: 'FetchAll',
  fetchOhlcv: 'FetchOhlcv',
  fetchMeta: 'FetchMeta',
  consolidate: 'Consolidate',
  resample: 'Resample',
  resampleBranch: (days: number) => `Resample${days}d`,
  listPartitions: 'ListPartitions',
  resamplePartition: (days: number) => `Resample${days}dPartition`,
  commitPartitions: (days: number) => `Commit${days}dPartitions`,
  stageFailed: (stage: string) => `${stage}Failed`,
  shapeAlert: 'ShapeAlert',
  classifyFailure: 'ClassifyFailure',
  plainCause: 'PlainCause',
  readJobDescription: 'ReadJobDescription',
  mergeJobDefaults: 'MergeJobDefaults',
  mergeContainerDefaults: 'MergeContainerDefaults',
  classifyExitCode: 'ClassifyExitCode',
  namedExitCode: 'NamedExitCode',
  signalExitCode: 'SignalExitCode',
  otherExitCode: 'OtherExitCode',
  noExitCode: 'NoExitCode',
  formatJobFailure: 'FormatJobFailure',
  readFunctionError: 'ReadFunctionError',
  mergeFunctionDefaults: 'MergeFunctionDefaults',
  formatFunctionFailure: 'FormatFunctionFailure',
  notifyFailure: 'NotifyFailure',
  succeeded: 'PipelineSucceeded',
  failed: 'PipelineFailed',
});

/** Used when a caught error carries no `Error` or no `Cause` (the message must still render). */
export const ERROR_FALLBACK = Object.freeze({ Error: 'States.Unknown', Cause: 'no cause was given' });

export const ALERT_SUBJECT = 'fibbars daily pipeline failed';
const ALERT_FORMAT = 'fibbars execution {} failed in state {}: {}: {}';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type State = { [key: string]: Json };

export interface StateMachineDefinition {
  Comment: string;
  StartAt: string;
  States: Record<string, State>;
  [key: string]: Json;
}

const sub = (key: SubstitutionKey): string => `\${${key}}`;

function validateIntervals(intervals: readonly number[]): number[] {
  if (intervals.length === 0) throw new RangeError('intervals: at least one interval is required');
  const seen = new Set<number>();
  for (const days of intervals) {
    if (!Number.isInteger(days) || days < 2) {
      throw new RangeError(`intervals: ${String(days)} is not an integer session count >= 2`);
    }
    if (seen.has(days)) throw new RangeError(`intervals: ${days} is listed twice`);
    seen.add(days);
  }
  return [...intervals];
}

function retryField(retriers: Retrier[]): State {
  return retriers.length === 0 ? {} : { Retry: retriers.map((r) => ({ ...r, ErrorEquals: [...r.ErrorEquals] })) };
}

/** Every stage catches everything into its own small Pass state that names the stage. */
function catchInto(stage: string): State {
  return { Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: STATE_NAMES.stageFailed(stage) }] };
}

function fetchBranch(name: string, functionArn: SubstitutionKey, retry: Retrier[], timeout: number) {
  return {
    StartAt: name,
    States: {
      [name]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: {
          FunctionName: sub(functionArn),
          // The execution input ({} or { date }) plus the lake this deployment writes to.
          'Payload.$': 'States.JsonMerge($.input, $.target, false)',
        },
        // Naming the fields checks the handler's result contract: a handler
        // that returns an error payload as a success fails here, loudly.
        ResultSelector: {
          'status.$': '$.Payload.status',
          'sessions.$': '$.Payload.sessions',
          // Sessions of the lookback window fetched late (holes an earlier run left).
          'caughtUp.$': '$.Payload.caughtUp',
          'rows.$': '$.Payload.rows',
          'rawKeys.$': '$.Payload.rawKeys',
        },
        TimeoutSeconds: timeout,
        ...retryField(retry),
        End: true,
      },
    },
  };
}

function batchParameters(jobName: string, jobDefinition: SubstitutionKey, command: string[], extraEnv: State[]): State {
  return {
    JobName: jobName,
    JobQueue: sub('JobQueueArn'),
    JobDefinition: sub(jobDefinition),
    ContainerOverrides: {
      Command: command,
      Environment: [
        { Name: 'FIBBARS_LAKE', Value: sub('LakeUri') },
        { Name: 'FIBBARS_RUN_ID', 'Value.$': '$$.Execution.Name' },
        ...extraEnv,
      ],
    },
  };
}

// Pointers only: the job id and status (never rows; the job reads the lake).
const BATCH_RESULT: State = { 'jobId.$': '$.JobId', 'status.$': '$.Status' };

const json = (value: unknown): Json => JSON.parse(JSON.stringify(value)) as Json;

/** A Choice on the caught error: a failed Batch job's JSON cause, a fetcher's JSON cause, or any other cause as it is. */
function classifyFailureStates(): Record<string, State> {
  const N = STATE_NAMES;
  return {
    [N.classifyFailure]: {
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Or: [{ Variable: '$.alert.state', StringEquals: N.consolidate }, { Variable: '$.alert.state', StringEquals: N.resample }] },
            { Variable: '$.alert.error.Error', StringEquals: 'States.TaskFailed' },
            { Variable: '$.alert.error.Cause', StringMatches: '{*' },
          ],
          Next: N.readJobDescription,
        },
        {
          And: [
            { Variable: '$.alert.state', StringEquals: N.fetchAll },
            { Variable: '$.alert.error.Cause', StringMatches: '{*' },
          ],
          Next: N.readFunctionError,
        },
      ],
      Default: N.plainCause,
    },
    [N.plainCause]: {
      Type: 'Pass',
      Parameters: { 'detail.$': '$.alert.error.Cause' },
      ResultPath: '$.explained',
      Next: N.notifyFailure,
    },
  };
}

/** A failed Batch job: its description read from the cause, merged over the defaults. */
function jobDescriptionStates(): Record<string, State> {
  const N = STATE_NAMES;
  return {
    [N.readJobDescription]: {
      Type: 'Pass',
      Comment: 'The Cause of a failed batch:submitJob.sync task is the job description (JSON).',
      Parameters: {
        'job.$': 'States.StringToJson($.alert.error.Cause)',
        defaults: json(DECODE_DEFAULTS.job),
        containerDefaults: json(DECODE_DEFAULTS.container),
        exitNames: [...EXIT_NAMES],
        logGroup: sub('JobLogGroupName'),
      },
      ResultPath: '$.decoded',
      Next: N.mergeJobDefaults,
    },
    [N.mergeJobDefaults]: {
      Type: 'Pass',
      Parameters: {
        'job.$': 'States.JsonMerge($.decoded.defaults, $.decoded.job, false)',
        'containerDefaults.$': '$.decoded.containerDefaults',
        'exitNames.$': '$.decoded.exitNames',
        'logGroup.$': '$.decoded.logGroup',
      },
      ResultPath: '$.decoded',
      Next: N.mergeContainerDefaults,
    },
    [N.mergeContainerDefaults]: {
      Type: 'Pass',
      Parameters: {
        'job.$': '$.decoded.job',
        'container.$': 'States.JsonMerge($.decoded.containerDefaults, $.decoded.job.Container, false)',
        'attempts.$': 'States.ArrayLength($.decoded.job.Attempts)',
        'exitNames.$': '$.decoded.exitNames',
        'logGroup.$': '$.decoded.logGroup',
      },
      ResultPath: '$.decoded',
      Next: N.classifyExitCode,
    },
  };
}

/** A failed Batch job: its exit code as a phrase (`exitPhrase` in failures.ts), then the detail line. */
function exitCodeStates(): Record<string, State> {
  const N = STATE_NAMES;
  const code = '$.decoded.container.ExitCode';
  const phrase = (next: string, template: string, ...args: string[]): State => ({
    Type: 'Pass',
    Parameters: { 'phrase.$': `States.Format('${template}', ${args.join(', ')})` },
    ResultPath: '$.decoded.exit',
    Next: next,
  });
  return {
    [N.classifyExitCode]: {
      Type: 'Choice',
      Comment: 'Maps the exit code back to the batch-runner error name.',
      Choices: [
        {
          And: [
            { Variable: code, IsNumeric: true },
            { Variable: code, NumericGreaterThanEquals: 0 },
            { Variable: code, NumericLessThan: EXIT_NAMES.length },
          ],
          Next: N.namedExitCode,
        },
        { And: [{ Variable: code, IsNumeric: true }, { Variable: code, NumericGreaterThanEquals: 128 }], Next: N.signalExitCode },
        { Variable: code, IsNumeric: true, Next: N.otherExitCode },
      ],
      Default: N.noExitCode,
    },
    [N.namedExitCode]: phrase(N.formatJobFailure, 'exited with code {} ({})', code, `States.ArrayGetItem($.decoded.exitNames, ${code})`),
    [N.signalExitCode]: phrase(N.formatJobFailure, 'exited with code {} (killed by signal {})', code, `States.MathAdd(${code}, -128)`),
    [N.otherExitCode]: phrase(N.formatJobFailure, 'exited with code {} (Error)', code),
    [N.noExitCode]: phrase(N.formatJobFailure, 'stopped without an exit code ({})', '$.decoded.container.Reason'),
    [N.formatJobFailure]: {
      Type: 'Pass',
      Parameters: {
        'detail.$':
          "States.Format('batch job {} ({}) {} after {} attempt(s): {}; logs: {} {}', $.decoded.job.JobId, $.decoded.job.JobName, " +
          '$.decoded.exit.phrase, $.decoded.attempts, $.decoded.job.StatusReason, $.decoded.logGroup, $.decoded.container.LogStreamName)',
      },
      ResultPath: '$.explained',
      Next: N.notifyFailure,
    },
  };
}

/** A fetcher error: the Lambda error document read from the cause, merged over the defaults, then the detail line. */
function functionErrorStates(): Record<string, State> {
  const N = STATE_NAMES;
  return {
    [N.readFunctionError]: {
      Type: 'Pass',
      Comment: 'The Cause of a Lambda function error is the runtime error document (errorType, errorMessage, trace).',
      Parameters: {
        'error.$': 'States.StringToJson($.alert.error.Cause)',
        defaults: json(DECODE_DEFAULTS.function),
        ohlcvLogGroup: sub('OhlcvLogGroupName'),
        metaLogGroup: sub('MetaLogGroupName'),
      },
      ResultPath: '$.decoded',
      Next: N.mergeFunctionDefaults,
    },
    [N.mergeFunctionDefaults]: {
      Type: 'Pass',
      Parameters: {
        'error.$': 'States.JsonMerge($.decoded.defaults, $.decoded.error, false)',
        'ohlcvLogGroup.$': '$.decoded.ohlcvLogGroup',
        'metaLogGroup.$': '$.decoded.metaLogGroup',
      },
      ResultPath: '$.decoded',
      Next: N.formatFunctionFailure,
    },
    [N.formatFunctionFailure]: {
      Type: 'Pass',
      Parameters: {
        'detail.$': "States.Format('{}; logs: {} or {}', $.decoded.error.errorMessage, $.decoded.ohlcvLogGroup, $.decoded.metaLogGroup)",
      },
      ResultPath: '$.explained',
      Next: N.notifyFailure,
    },
  };
}

/**
 * The states between ShapeAlert and NotifyFailure: they turn the caught error
 * into `$.explained.detail`, one line for a person (what `explainFailure` in
 * failures.ts computes; a test holds the two equal). A failed Batch job's
 * Cause is the job description as JSON (States.TaskFailed); a fetcher's is the
 * Lambda error document. Every path a field is read from is first merged over
 * a default (`DECODE_DEFAULTS`), because a missing path fails a Pass state with
 * States.Runtime, which no Catch can take; StringToJson runs only on a cause
 * that starts with "{".
 */
function explainStates(): Record<string, State> {
  return { ...classifyFailureStates(), ...jobDescriptionStates(), ...exitCodeStates(), ...functionErrorStates() };
}

/** The stage states, in order: FetchAll (the two fetchers in parallel), Consolidate, Resample (one branch per interval). */
function stageStates(intervals: number[], retry: RetryPolicies, timeout: Record<keyof RetryPolicies, number>, scale: Scale): Record<string, State> {
  const N = STATE_NAMES;
  const sessionsEnv: State = { Name: 'FIBBARS_SESSIONS', 'Value.$': 'States.JsonToString($.fetch.ohlcv.sessions)' };
  return {
    [N.fetchAll]: {
      Type: 'Parallel',
      Comment: 'Input: {} or { "date": "YYYY-MM-DD" }; without a date the fetchers pick the latest session.',
      Parameters: { 'input.$': '$', target: { lake: sub('LakeUri') } },
      Branches: [
        fetchBranch(N.fetchOhlcv, 'OhlcvFunctionArn', retry.fetch, timeout.fetch),
        fetchBranch(N.fetchMeta, 'MetaFunctionArn', retry.fetch, timeout.fetch),
      ],
      ResultSelector: { 'ohlcv.$': '$[0]', 'meta.$': '$[1]' },
      ResultPath: '$.fetch',
      ...catchInto(N.fetchAll),
      Next: N.consolidate,
    },
    [N.consolidate]: {
      Type: 'Task',
      Resource: 'arn:aws:states:::batch:submitJob.sync',
      Parameters: batchParameters('fibbars-consolidate', 'ConsolidateJobDefinitionArn', ['consolidate'], [sessionsEnv]),
      ResultSelector: BATCH_RESULT,
      ResultPath: '$.consolidate',
      TimeoutSeconds: timeout.consolidate,
      ...retryField(retry.consolidate),
      ...catchInto(N.consolidate),
      Next: scale.partitions > 1 ? N.listPartitions : N.resample,
    },
    ...(scale.partitions > 1
      ? {
          [N.listPartitions]: {
            Type: 'Pass',
            Comment: `The ${scale.partitions} ticker partitions every interval's Map iterates (i/P, as batch-runner's --partition takes them).`,
            Result: Array.from({ length: scale.partitions }, (_, i) => `${i}/${scale.partitions}`),
            ResultPath: '$.partitions',
            Next: N.resample,
          },
        }
      : {}),
    [N.resample]: {
      Type: 'Parallel',
      Branches: intervals.map((days) =>
        scale.partitions > 1
          ? partitionedBranch(days, sessionsEnv, retry.resample, timeout.resample, scale)
          : resampleBranch(days, sessionsEnv, retry.resample, timeout.resample),
      ),
      ResultPath: '$.resample',
      ...catchInto(N.resample),
      Next: N.succeeded,
    },
  };
}

/** One branch of Resample: the resample job for `days`-session bars. */
function resampleBranch(days: number, sessionsEnv: State, retry: Retrier[], timeout: number) {
  const name = STATE_NAMES.resampleBranch(days);
  return {
    StartAt: name,
    States: {
      [name]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::batch:submitJob.sync',
        Parameters: batchParameters(
          `fibbars-resample-${days}d`,
          'ResampleJobDefinitionArn',
          ['resample', '--days', String(days)],
          [{ Name: 'RESAMPLE_DAYS', Value: String(days) }, sessionsEnv],
        ),
        ResultSelector: { days, ...BATCH_RESULT },
        TimeoutSeconds: timeout,
        ...retryField(retry),
        End: true,
      },
    },
  };
}

/** How the resample stage scales out: P ticker partitions, at most `maxConcurrency` jobs of an interval at once. */
interface Scale {
  partitions: number;
  maxConcurrency: number;
}

/**
 * One branch of Resample with P > 1: a Distributed Map whose iterations are
 * the partitions (one Batch job each, staging its files), then the fan-in
 * job that commits every partition's files as one version. On AWS each
 * iteration is a child execution; a failed one fails the Map with
 * `States.ExceedToleratedFailureThreshold` (the tolerated failure count is
 * 0 by default), which the Parallel's Catch routes to the alert:
 * https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
 */
function partitionedBranch(days: number, sessionsEnv: State, retry: Retrier[], timeout: number, scale: Scale): State {
  const N = STATE_NAMES;
  const map = N.resampleBranch(days);
  const worker = N.resamplePartition(days);
  const commit = N.commitPartitions(days);
  const env = [{ Name: 'RESAMPLE_DAYS', Value: String(days) }, sessionsEnv];
  return {
    StartAt: map,
    States: {
      [map]: {
        Type: 'Map',
        Comment: `The ${days}-session bars of each ticker partition, staged for ${commit}.`,
        ItemsPath: '$.partitions',
        // Each child execution gets its partition and the sessions, not the whole state.
        ItemSelector: { 'partition.$': '$$.Map.Item.Value', 'fetch.$': '$.fetch' },
        MaxConcurrency: scale.maxConcurrency,
        Label: map,
        ItemProcessor: {
          ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
          StartAt: worker,
          States: {
            [worker]: {
              Type: 'Task',
              Resource: 'arn:aws:states:::batch:submitJob.sync',
              Parameters: {
                JobName: `fibbars-resample-${days}d-partition`,
                JobQueue: sub('JobQueueArn'),
                JobDefinition: sub('ResampleJobDefinitionArn'),
                ContainerOverrides: {
                  'Command.$': `States.Array('resample', '--days', '${days}', '--partition', $.partition)`,
                  Environment: [
                    { Name: 'FIBBARS_LAKE', Value: sub('LakeUri') },
                    // On AWS the child execution's name (each iteration is one); staging is keyed by what was built, not by run.
                    { Name: 'FIBBARS_RUN_ID', 'Value.$': '$$.Execution.Name' },
                    ...env,
                  ],
                },
              },
              ResultSelector: { days, 'partition.$': '$.Container.Command[4]', ...BATCH_RESULT },
              TimeoutSeconds: timeout,
              ...retryField(retry),
              End: true,
            },
          },
        },
        ResultPath: '$.partitionJobs',
        Next: commit,
      },
      [commit]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::batch:submitJob.sync',
        Parameters: batchParameters(
          `fibbars-commit-${days}d-partitions`,
          'ResampleJobDefinitionArn',
          ['commit-partitions', '--days', String(days), '--partitions', String(scale.partitions)],
          env,
        ),
        ResultSelector: { days, partitions: scale.partitions, ...BATCH_RESULT },
        TimeoutSeconds: timeout,
        ...retryField(retry),
        End: true,
      },
    },
  };
}

function checkScale(options: BuildDefinitionOptions): Scale {
  const partitions = options.partitions ?? 1;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_DEFINITION_PARTITIONS) {
    throw new RangeError(`partitions: ${String(partitions)} is not a whole number from 1 to ${MAX_DEFINITION_PARTITIONS}`);
  }
  const maxConcurrency = options.maxConcurrency ?? partitions;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw new RangeError(`maxConcurrency: ${String(maxConcurrency)} is not a whole number >= 1`);
  if (options.maxConcurrency !== undefined && partitions === 1) throw new RangeError('maxConcurrency applies to partitions > 1 only');
  return { partitions, maxConcurrency: Math.min(maxConcurrency, partitions) };
}

/** `<Stage>Failed` for each stage: records the stage name, because the error object does not name the state. */
function stageFailedStates(): Record<string, State> {
  const N = STATE_NAMES;
  const stageFailed: Record<string, State> = {};
  for (const stage of [N.fetchAll, N.consolidate, N.resample]) {
    stageFailed[N.stageFailed(stage)] = {
      Type: 'Pass',
      Comment: `Records that ${stage} failed: the error object does not name the state.`,
      Parameters: {
        'execution.$': '$$.Execution.Name',
        state: stage,
        'error.$': '$.error',
        fallback: { ...ERROR_FALLBACK },
      },
      ResultPath: '$.failure',
      Next: N.shapeAlert,
    };
  }
  return stageFailed;
}

/** The failure path after `<Stage>Failed`: ShapeAlert, the explaining states, NotifyFailure, PipelineFailed. */
function alertStates(): Record<string, State> {
  const N = STATE_NAMES;
  return {
    [N.shapeAlert]: {
      Type: 'Pass',
      Comment: 'Fills a missing Error or Cause so that the alert message always renders.',
      Parameters: {
        'execution.$': '$.failure.execution',
        'state.$': '$.failure.state',
        'error.$': 'States.JsonMerge($.failure.fallback, $.failure.error, false)',
      },
      ResultPath: '$.alert',
      Next: N.classifyFailure,
    },
    ...explainStates(),
    [N.notifyFailure]: {
      Type: 'Task',
      Resource: 'arn:aws:states:::sns:publish',
      Parameters: {
        TopicArn: sub('AlertTopicArn'),
        Subject: ALERT_SUBJECT,
        'Message.$': `States.Format('${ALERT_FORMAT}', $.alert.execution, $.alert.state, $.alert.error.Error, $.explained.detail)`,
      },
      ResultSelector: { 'messageId.$': '$.MessageId' },
      ResultPath: '$.notification',
      Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: 'FULL' }],
      // A lost alert must not hide the failure: the execution still ends failed.
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.notificationError', Next: N.failed }],
      Next: N.failed,
    },
    [N.failed]: {
      Type: 'Fail',
      Comment: 'Fails the execution with the original error name and cause.',
      ErrorPath: '$.alert.error.Error',
      CausePath: '$.alert.error.Cause',
    },
  };
}

/**
 * Build the state machine definition.
 *
 * @example
 * const definition = buildDefinition({ intervals: [3, 5], retry: { resample: [] } });
 * JSON.stringify(definition, null, 2); // what CDK deploys with definitionSubstitutions
 */
export function buildDefinition(options: BuildDefinitionOptions = {}): StateMachineDefinition {
  const intervals = validateIntervals(options.intervals ?? DEFAULT_INTERVALS);
  const retry: RetryPolicies = { ...DEFAULT_RETRY, ...options.retry };
  const timeout = { ...DEFAULT_TIMEOUTS, ...options.timeoutSeconds };
  const scale = checkScale(options);
  return {
    Comment:
      'fibbars daily pipeline: fetch daily bars and reference data, consolidate the daily history, ' +
      `resample to ${intervals.join(', ')}-session bars${scale.partitions > 1 ? ` in ${scale.partitions} ticker partitions` : ''}. Generated by @fibbars/asl-definition; do not edit by hand.`,
    StartAt: STATE_NAMES.fetchAll,
    States: {
      ...stageStates(intervals, retry, timeout, scale),
      [STATE_NAMES.succeeded]: { Type: 'Succeed' },
      ...stageFailedStates(),
      ...alertStates(),
    },
  };
}

/**
 * Replace every `${Key}` placeholder in a definition's JSON text. Values are
 * JSON-escaped, so a lake path with quotes or backslashes stays valid JSON.
 * Throws when a value is missing or a placeholder is left over.
 */
export function substitute(definitionJson: string, values: Substitutions): string {
  for (const key of SUBSTITUTION_KEYS) {
    if (typeof values[key] !== 'string' || values[key] === '') {
      throw new RangeError(`substitution ${key} has no value`);
    }
  }
  const out = definitionJson.replace(/\$\{([A-Za-z0-9]+)\}/g, (whole, key: string) => {
    if (!(SUBSTITUTION_KEYS as readonly string[]).includes(key)) return whole;
    return JSON.stringify(values[key as SubstitutionKey]).slice(1, -1);
  });
  const left = /\$\{([A-Za-z0-9]+)\}/.exec(out);
  if (left) throw new RangeError(`unknown placeholder ${left[0]} in the definition`);
  return out;
}
