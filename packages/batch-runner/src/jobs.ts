// The seam to ohlcv-core: the three functions the two jobs call. main() takes
// them as a parameter so the CLI can run in-process against any implementation;
// the default loads ohlcv-core lazily, after the configuration is validated, so
// a bad configuration exits before the native Polars module is even loaded.

/** Progress callback handed to the core jobs (stage, rows, partitions, ...). */
export type ProgressListener = (event: Record<string, unknown>) => void;

export interface ConsolidateJobOptions {
  runId: string;
  maxRejectedShare?: number;
  session?: string;
  onProgress?: ProgressListener;
}

export interface ResampleJobOptions {
  days: number;
  runId: string;
  onProgress?: ProgressListener;
}

/** What batch-runner needs from `@fibbars/ohlcv-core`. */
export interface CoreJobs<L = unknown> {
  openLake(uri: string): L | Promise<L>;
  consolidateLake(lake: L, options: ConsolidateJobOptions): Promise<object>;
  resampleLake(lake: L, options: ResampleJobOptions): Promise<object>;
}

/** Loads the jobs from `@fibbars/ohlcv-core`. */
export async function loadCoreJobs(): Promise<CoreJobs> {
  const core = (await import('@fibbars/ohlcv-core')) as unknown as Partial<CoreJobs>;
  const { openLake, consolidateLake, resampleLake } = core;
  if (typeof openLake !== 'function' || typeof consolidateLake !== 'function' || typeof resampleLake !== 'function') {
    throw new Error('@fibbars/ohlcv-core does not export openLake, consolidateLake and resampleLake');
  }
  return { openLake, consolidateLake, resampleLake };
}
