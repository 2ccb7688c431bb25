export {
  buildDefinition,
  substitute,
  DEFAULT_INTERVALS,
  DEFAULT_RETRY,
  SUBSTITUTION_KEYS,
  LAMBDA_SERVICE_ERRORS,
  STATE_NAMES,
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
export { GOLDEN_DEFINITION_PATH, readGoldenDefinition } from './golden.js';
