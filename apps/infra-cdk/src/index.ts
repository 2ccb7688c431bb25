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
export { acknowledge, awsSolutionsChecks } from './nag.js';
export { createApp, type CreateAppOptions, type FibbarsApp } from './app.js';
export {
  BATCH_IMAGE_EXCLUDES,
  MissingArtifactError,
  defaultArtifactPaths,
  requireArtifacts,
  type Artifacts,
} from './artifacts.js';
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
  namePrefix,
  resolveSettings,
  selectedEnvironments,
  scheduleName,
  stackName,
  stateMachineName,
  type EnvironmentName,
  type EnvironmentSettings,
} from './settings.js';
export {
  BATCH_SYNC_RULE,
  FibbarsStack,
  LAKE_PREFIX,
  OUTPUT_KEYS,
  SCHEDULE_EXPRESSION,
  SCHEDULE_TIME_ZONE,
  type FibbarsStackProps,
} from './stack.js';
