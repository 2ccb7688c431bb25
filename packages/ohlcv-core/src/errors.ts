/**
 * Error classes of ohlcv-core. Their `name` is a contract: the state machine's
 * Retry and Catch match on it, and batch-runner maps it to an exit code.
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
