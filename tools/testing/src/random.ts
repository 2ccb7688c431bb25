/**
 * Seeded randomness for tests, benchmarks and fault schedules, so that a
 * failure replays from one printed number. No imports: the benchmark bundles
 * this module (through `@fibbars/testing/market`), and test files load it
 * alone through `@fibbars/testing/random`.
 *
 * @example
 * import { mulberry32, seedFromEnv } from '@fibbars/testing/random';
 * const seed = seedFromEnv('RELIABILITY_SEED'); // the variable if set, else a fresh random seed
 * console.log(`seed ${seed} (RELIABILITY_SEED=${seed} to replay)`);
 * const random = mulberry32(seed);
 * random(); // a float in [0, 1), the same sequence for the same seed
 */
import { randomInt } from 'node:crypto';

/** mulberry32: a tiny seeded PRNG (32 bits of state), floats in [0, 1); only the seed's low 32 bits count. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeds `seedFromEnv` draws when no variable is set: 1 to 2^31 - 1. */
const MAX_RANDOM_SEED = 2 ** 31;

/**
 * The seed of a randomised test: the first of `names` that is set in `env`
 * (a positive safe integer, else an Error naming the variable), or, when none
 * is, a fresh random one. Print it, so a failing run can be replayed.
 */
export function seedFromEnv(names: string | readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  for (const name of typeof names === 'string' ? [names] : names) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    const seed = Number(text);
    if (!Number.isSafeInteger(seed) || seed < 1) throw new Error(`${name} must be a positive integer seed, got ${JSON.stringify(text)}`);
    return seed;
  }
  return randomInt(1, MAX_RANDOM_SEED);
}
