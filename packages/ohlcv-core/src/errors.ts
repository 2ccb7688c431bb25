/**
 * Error classes of ohlcv-core. Their `name` is a contract: the state machine's
 * Retry and Catch match on it, and `EXIT_CODES` (below) maps it to an exit code.
 */

/** Base class: every fibbars error carries a stable `name` and keeps its `cause`. */
export class FibbarsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Configuration or input that cannot be used (bad flag, variable, URI, event). */
export class ConfigError extends FibbarsError {
  override name = 'ConfigError' as const;
}

/** A session failed the data quality gate (rejected share too high, rows collapsed). */
export class DataQualityError extends FibbarsError {
  override name = 'DataQualityError' as const;
}

/** Another writer published the commit version this writer wanted. */
export class CommitConflictError extends FibbarsError {
  override name = 'CommitConflictError' as const;
}

/** Names of the errors thrown by ohlcv-core, for `ErrorEquals`. */
export const CORE_ERROR_NAMES = {
  ConfigError: 'ConfigError',
  DataQualityError: 'DataQualityError',
  CommitConflictError: 'CommitConflictError',
} as const;

// ---------------------------------------------------------------------------
// The error name <-> exit code contract (the one home of it)
// ---------------------------------------------------------------------------

/**
 * Process exit codes of the pipeline's jobs: 0 ok, 1 any other error, and one
 * code per named error. The contract between a job (batch-runner's process),
 * AWS Batch (`evaluateOnExit` matches the exit code), the state machine's
 * alert (which names the exit code back) and the `fibbars` command.
 */
export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  ConfigError: 2,
  DataQualityError: 3,
  CommitConflictError: 4,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** The exit code of each named error (any other error exits `EXIT_CODES.failure`). */
const NAMED_EXIT_CODES: Readonly<Record<string, ExitCode>> = Object.freeze({
  [CORE_ERROR_NAMES.ConfigError]: EXIT_CODES.ConfigError,
  [CORE_ERROR_NAMES.DataQualityError]: EXIT_CODES.DataQualityError,
  [CORE_ERROR_NAMES.CommitConflictError]: EXIT_CODES.CommitConflictError,
});

/** The exit code of an error name: 2, 3 or 4 for the named errors, 1 for any other name. */
export function exitCodeForName(name: string): ExitCode {
  return Object.hasOwn(NAMED_EXIT_CODES, name) ? (NAMED_EXIT_CODES[name] as ExitCode) : EXIT_CODES.failure;
}

/** The `name` of a thrown value, `Error` for anything that is not an Error. */
export function errorName(error: unknown): string {
  if (error instanceof Error && typeof error.name === 'string' && error.name !== '') return error.name;
  return 'Error';
}

/** Exit code for a thrown value, by its `name`: 2, 3 or 4 for the named errors, 1 otherwise. */
export function exitCodeFor(error: unknown): ExitCode {
  return exitCodeForName(errorName(error));
}

/**
 * `EXIT_NAMES[code]`: the name an exit code stands for (`ok` for 0, `Error`
 * for 1 = any other error), as the alert spells a job's exit code.
 */
export const EXIT_NAMES: readonly string[] = Object.freeze(
  (() => {
    const names: string[] = [];
    for (const [name, code] of Object.entries(EXIT_CODES)) names[code] = name;
    names[EXIT_CODES.ok] = 'ok';
    names[EXIT_CODES.failure] = 'Error';
    return Array.from(names, (n) => n ?? 'Error');
  })(),
);
