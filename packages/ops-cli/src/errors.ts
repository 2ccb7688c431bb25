/**
 * Errors of the `fibbars` command. Domain errors say what is wrong and how to
 * fix it in one line; `ExitError` carries the exit code to the CLI edge.
 */

import { EXIT_CODES, exitCodeFor } from '@fibbars/ohlcv-core/errors';

/**
 * Exit codes of `fibbars`. The part shared with the pipeline's jobs (0, 1 and
 * one code per named error) comes from the one home of that contract,
 * `EXIT_CODES` of @fibbars/ohlcv-core/errors. What differs is the CLI's own:
 * 2 means "usage" here, for every bad flag, argument or setup (`UsageError`,
 * `AwsSetupError`), not only a `ConfigError`.
 */
export const EXIT = {
  ok: EXIT_CODES.ok,
  failure: EXIT_CODES.failure,
  usage: EXIT_CODES.ConfigError,
  dataQuality: EXIT_CODES.DataQualityError,
  commitConflict: EXIT_CODES.CommitConflictError,
} as const;

/** An error that ends the command with a given exit code and a one-line message. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flag, variable or argument: exit 2, nothing written. */
export class UsageError extends ExitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.usage, options);
  }
}

export class MalformedUriError extends UsageError {}
export class LakeNotFoundError extends UsageError {}
export class UnknownTickerError extends UsageError {}
export class NotASessionError extends UsageError {}
export class IntervalNotConfiguredError extends UsageError {}

/** An AWS-side or pipeline failure the user must look at: exit 1. */
export class CommandFailedError extends ExitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.failure, options);
  }
}

/**
 * A check that ran and found problems (`check`, `gaps`): exit 1 after the
 * report, so cron and CI can alert on it; the message sums the findings up.
 */
export class FindingsError extends ExitError {
  constructor(message: string) {
    super(message, EXIT.failure);
  }
}

/** Maps any thrown error to an exit code, by class or by the contract `name`. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ExitError) return err.exitCode;
  // @fibbars/asl-definition/aws-errors: 2 for a setup to fix, 1 otherwise
  if (err instanceof Error && err.name === 'AwsSetupError') return (err as Error & { exitCode: number }).exitCode;
  // The shared contract: ConfigError 2 (= usage), DataQualityError 3, CommitConflictError 4, anything else 1.
  return exitCodeFor(err);
}

/** One line: the error's name (for contract errors) and its message. */
export function oneLine(err: unknown): string {
  // Our own errors and translated AWS failures are already one line that says what to do.
  if (err instanceof ExitError || (err instanceof Error && err.name === 'AwsSetupError')) return firstLine(err.message);
  if (err instanceof Error) {
    const msg = firstLine(err.message);
    return err.name && err.name !== 'Error' ? `${err.name}: ${msg}` : msg;
  }
  return firstLine(String(err));
}

/** The first non-blank line, trimmed. */
export function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? s;
}
