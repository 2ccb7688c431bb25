// The error names are the contract with the state machine (ErrorEquals) and
// with AWS Batch (the exit code). Names are matched, not classes, because a
// bundle may hold more than one copy of a class and a thrown error may come
// from a dependency that only set `name`.
export { CommitConflictError, ConfigError, DataQualityError, FibbarsError } from '@fibbars/ohlcv-core/errors';

/** Process exit codes of `batch-runner`. */
export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  ConfigError: 2,
  DataQualityError: 3,
  CommitConflictError: 4,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** The `name` of a thrown value, `Error` for anything that is not an Error. */
export function errorName(error: unknown): string {
  if (error instanceof Error && typeof error.name === 'string' && error.name !== '') return error.name;
  return 'Error';
}

/** Exit code for a thrown value: 2, 3 or 4 for the named errors, 1 otherwise. */
export function exitCodeFor(error: unknown): ExitCode {
  switch (errorName(error)) {
    case 'ConfigError':
      return EXIT_CODES.ConfigError;
    case 'DataQualityError':
      return EXIT_CODES.DataQualityError;
    case 'CommitConflictError':
      return EXIT_CODES.CommitConflictError;
    default:
      return EXIT_CODES.failure;
  }
}

/** The message of a thrown value and of its cause chain, on one line. */
export function oneLineMessage(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    const text = current instanceof Error ? current.message : String(current);
    if (text !== '' && !parts.includes(text)) parts.push(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  const joined = parts.join(': ').replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return joined === '' ? errorName(error) : joined;
}
