// The seam to ohlcv-core: the four functions the jobs call. main() takes
// them as a parameter so the CLI can run in-process against any implementation;
// the default loads ohlcv-core lazily, after the configuration is validated, so
// a bad configuration exits before the native Polars module is even loaded.
// Types are derived from the functions, not from their report type names.
import type * as Core from '@fibbars/ohlcv-core';

export type Lake = ReturnType<typeof Core.openLake>;
export type ConsolidateReport = Awaited<ReturnType<typeof Core.consolidateLake>>;
export type ResampleReport = Awaited<ReturnType<typeof Core.resampleLake>>;
export type ResampleIntervalReport = ResampleReport['intervals'][number];

export interface ConsolidateJobOptions {
  runId: string;
  maxRejectedShare?: number;
}

export interface ResampleJobOptions {
  /** Every interval of the job: ohlcv-core derives them all from one pass over the daily rows. */
  days: readonly number[];
  runId: string;
  onProgress?: (message: string) => void;
  /** A partition worker: build and stage only these tickers (ohlcv-core's `partition`). */
  partition?: { index: number; count: number };
}

export interface CommitPartitionsJobOptions {
  days: readonly number[];
  partitions: number;
  runId: string;
  onProgress?: (message: string) => void;
}

/** What batch-runner needs from `@fibbars/ohlcv-core`. */
export interface CoreJobs {
  openLake(uri: string): Lake;
  consolidateLake(lake: Lake, options: ConsolidateJobOptions): Promise<ConsolidateReport>;
  resampleLake(lake: Lake, options: ResampleJobOptions): Promise<ResampleReport>;
  commitPartitions(lake: Lake, options: CommitPartitionsJobOptions): Promise<ResampleReport>;
}

/** Loads the jobs from `@fibbars/ohlcv-core`. */
export async function loadCoreJobs(): Promise<CoreJobs> {
  const core = await import('@fibbars/ohlcv-core');
  // The job's windows are large Polars frames whose memory V8 cannot see: with gc exposed
  // the core collects each one as it drops it (ohlcv-core's memory.ts; 1.8 GiB instead of
  // 2.4 GiB peak for a 50 M-row full build).
  core.exposeGc();
  return {
    openLake: (uri) => core.openLake(uri),
    consolidateLake: (lake, options) => core.consolidateLake(lake, options),
    resampleLake: (lake, options) => core.resampleLake(lake, options),
    commitPartitions: (lake, options) => core.commitPartitions(lake, options),
  };
}
