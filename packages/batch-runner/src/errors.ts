// The error names are the contract with the state machine (ErrorEquals) and
// with AWS Batch (the exit code). Names are matched, not classes, because a
// bundle may hold more than one copy of a class and a thrown error may come
// from a dependency that only set `name`. The name <-> exit code contract has
// one home, @fibbars/ohlcv-core/errors; batch-runner re-exports its names.
import { errorName } from '@fibbars/ohlcv-core/errors';

export { CommitConflictError, ConfigError, DataQualityError, FibbarsError } from '@fibbars/ohlcv-core/errors';
/** Process exit codes of `batch-runner`: `EXIT_CODES`, `exitCodeFor` (2, 3 or 4 for the named errors, 1 otherwise). */
export { EXIT_CODES, errorName, exitCodeFor, type ExitCode } from '@fibbars/ohlcv-core/errors';

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
