// The parts of @fibbars/ohlcv-core the bench drives (docs/ARCHITECTURE.md).
export { DEFAULT_INTERVALS, consolidateLake, openLake, resample, resampleLake, type Lake } from '@fibbars/ohlcv-core';
