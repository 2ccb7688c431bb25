import { describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import { setImmediate as tick } from 'node:timers/promises';
import { exposeGc, reclaimNativeMemory } from '../../src/memory.js';

/** A frame registered for finalization, created in its own turn so no strong reference stays behind. */
function registeredFrame(registry: FinalizationRegistry<string>): WeakRef<object> {
  const frame = pl.DataFrame({ x: Float64Array.from({ length: 100_000 }, (_, i) => i) });
  registry.register(frame, 'frame');
  return new WeakRef(frame);
}

describe('native memory', () => {
  it('exposes gc in a process started without --expose-gc', () => {
    expect(exposeGc()).toBe(true);
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('function');
    // A second call finds it and changes nothing.
    expect(exposeGc()).toBe(true);
  });

  it('collects a dropped Polars frame, so its finalizer frees the Rust memory', async () => {
    exposeGc();
    const finalized: string[] = [];
    const registry = new FinalizationRegistry<string>((what) => finalized.push(what));
    const ref = registeredFrame(registry);
    await tick();
    reclaimNativeMemory();
    expect(ref.deref()).toBeUndefined();
    for (let i = 0; i < 20 && finalized.length === 0; i++) await tick();
    expect(finalized).toEqual(['frame']);
  });
});
