export {
  buildDefinition,
  substitute,
  DEFAULT_INTERVALS,
  DEFAULT_RETRY,
  SUBSTITUTION_KEYS,
  LAMBDA_SERVICE_ERRORS,
  STATE_NAMES,
  MAX_DEFINITION_PARTITIONS,
  ERROR_FALLBACK,
  ALERT_SUBJECT,
} from './definition.js';
export type {
  BuildDefinitionOptions,
  Retrier,
  RetryPolicies,
  StateMachineDefinition,
  SubstitutionKey,
  Substitutions,
} from './definition.js';
export { GOLDEN_DEFINITION_PATH, GOLDEN_PARTITIONED_DEFINITION_PATH, readGoldenDefinition } from './golden.js';
export { BATCH_SUBMIT_ERRORS } from './definition.js';
export {
  JOB_RETRY_STRATEGIES,
  NON_RETRYABLE_EXIT_CODES,
  CONTAINER_EXITED,
  EXIT_NAMES,
  DECODE_DEFAULTS,
  explainFailure,
  localLogLocations,
  deployedLogLocations,
  exitPhrase,
  failedJobDescription,
  lambdaErrorDocument,
  lambdaTimeoutDocument,
  retryAction,
  shouldRetry,
} from './failures.js';
export type { AttemptExit, EvaluateOnExit, JobAttempt, JobRetryStrategy, LogLocations, SubmittedJob } from './failures.js';
export {
  EXECUTION_STATUSES,
  REDRIVABLE_STATUSES,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_LEASE_MS,
  DEFAULT_STOP_POLL_MS,
  currentState,
  deadRunReason,
  localProbe,
  markAborted,
  newLease,
  newRunId,
  reconcileRun,
  reconcileRuns,
  stopRun,
} from './runs.js';
export type { ExecutionStatus, LivenessProbe, RunAbort, RunLease, StopRequest } from './runs.js';
