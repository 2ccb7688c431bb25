// The parts of @fibbars/ohlcv-core the bench drives (docs/ARCHITECTURE.md).
// `resample` is looked up at run time so that, while it is missing, the
// harness says so plainly instead of failing to load.
import * as core from '@fibbars/ohlcv-core';
import type { ResampleFn } from '@fibbars/ohlcv-core';

export { consolidateLake, openLake, resampleLake, type Lake } from '@fibbars/ohlcv-core';

export function coreResample(): ResampleFn {
  const fn = (core as unknown as Record<string, unknown>).resample;
  if (typeof fn !== 'function') throw new Error('@fibbars/ohlcv-core does not export resample() (see docs/ARCHITECTURE.md)');
  return fn as ResampleFn;
}
