/**
 * Memoised Polars expressions. nodejs-polars builds each expression through
 * the native binding in about a millisecond (a cast or a literal in 1-3 ms,
 * measured here), so a plan of ~50 expressions cost ~100 ms to build however
 * few its rows, and a job writing a dozen files per interval spent a second
 * building the same statistics expressions. Expressions are immutable values:
 * the fixed ones are built once and reused.
 * @internal
 */
const memo = new Map<string, unknown>();

/** The value built by `build` the first time `key` is asked for. */
export function once<T>(key: string, build: () => T): T {
  if (!memo.has(key)) memo.set(key, build());
  return memo.get(key) as T;
}
