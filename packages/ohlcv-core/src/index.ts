// The public API of @fibbars/ohlcv-core. Entry points without Polars live in
// ./calendar, ./dates, ./storage and ./errors for code that must stay native-free.
export * from './errors.js';
export * from './calendar.js';
export * from './dates.js';
export * from './schemas.js';
export * from './parse.js';
export * from './validate.js';
export * from './consolidate.js';
export * from './resample.js';
export * from './adjust.js';
export * from './identity.js';
export * from './storage.js';
export * from './lake.js';
export * from './jobs.js';
export * from './resample-lake.js';
export * from './partitions.js';
export * from './fan-in.js';
export * from './gaps.js';
export * from './health.js';
export * from './memory.js';
