/**
 * Native memory that V8 cannot see. A nodejs-polars DataFrame or Series is a
 * small JS object holding a Rust allocation that V8 does not count (napi-rs
 * reports no external memory for it), so V8 feels no pressure to collect it:
 * after a window of a full build, its frame of a few hundred MB and its six
 * bar frames stay allocated until a collection happens to run. With two
 * windows in flight that held the 50 M-row build at 2.6 GiB of RSS.
 *
 * A job therefore asks for a collection where it drops a large frame
 * (`reclaimNativeMemory`): a full collection of the job's small JS heap
 * (about 50 MB) takes about 10-25 ms, and frees the frames' Rust memory
 * through their finalizers. It does nothing unless `gc` is exposed: the job
 * processes (batch-runner, the `fibbars` CLI) expose it at start-up with
 * `exposeGc()`; a notebook can call it too, or start Node with `--expose-gc`.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = () => void;

function exposedGc(): Gc | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as Gc) : undefined;
}

/**
 * Makes `globalThis.gc` available in this process, as `node --expose-gc`
 * does (Node's `v8.setFlagsFromString`, then the `gc` of a fresh context,
 * which is created with the flag in force). Returns true when it is.
 */
export function exposeGc(): boolean {
  if (exposedGc()) return true;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as unknown;
  if (typeof gc !== 'function') return false;
  (globalThis as { gc?: unknown }).gc = gc;
  return true;
}

/** A full garbage collection when `gc` is exposed (so dropped Polars frames free their native memory); otherwise nothing. */
export function reclaimNativeMemory(): void {
  exposedGc()?.();
}
