// Public API of @fibbars/batch-runner, for in-process use (the local engine, tests).
export { main, VERSION, type MainDeps, type RunReport } from './main.js';
export { loadConfig, generateRunId, ENV, type Command, type Env, type Flags, type RunnerConfig, type ConsolidateConfig, type ResampleConfig } from './config.js';
export { EXIT_CODES, exitCodeFor, errorName, oneLineMessage, type ExitCode } from './errors.js';
export {
  loadCoreJobs,
  type CoreJobs,
  type ConsolidateJobOptions,
  type ResampleJobOptions,
  type Lake,
  type ConsolidateReport,
  type ResampleReport,
  type ResampleIntervalReport,
} from './jobs.js';
export { createLogger, type Logger, type LineSink } from './log.js';
