export { FEATURE_FLAGS, createApp, type CreateAppOptions, type FibbarsApp } from './app.js';
export {
  BATCH_IMAGE_EXCLUDES,
  MissingArtifactError,
  defaultArtifactPaths,
  requireArtifacts,
  type Artifacts,
} from './artifacts.js';
export {
  CREDENTIALS_TIMEOUT_MS,
  UsageError,
  checkCredentials,
  parseArgs,
  runCli,
  type CliDeps,
  type CredentialCheck,
  type ParsedArgs,
} from './cli.js';
export {
  SUBSTITUTION_KEYS,
  checkPlaceholders,
  loadDefinition,
  placeholdersOf,
  type AslDefinition,
  type SubstitutionKey,
} from './definition.js';
export {
  ENVIRONMENT_NAMES,
  LAKE_PREFIX,
  OUTPUT_KEYS,
  SCHEDULE_EXPRESSION,
  SCHEDULE_GROUP,
  SCHEDULE_TIME_ZONE,
  namePrefix,
  scheduleName,
  stackName,
  stateMachineName,
  type EnvironmentName,
} from './names.js';
export { acknowledge, arnRef, awsSolutionsChecks } from './nag.js';
export {
  resolveSettings,
  selectedEnvironments,
  type BatchSizing,
  type ContextReader,
  type EnvironmentSettings,
  type LambdaSizing,
} from './settings.js';
export { BATCH_SYNC_RULE, FibbarsStack, type FibbarsStackProps } from './stack.js';
