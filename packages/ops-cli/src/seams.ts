/**
 * The sibling packages' APIs this command uses, loaded lazily: Polars and the
 * local engine are heavy, and `fibbars --help` or the AWS commands should not
 * pay for them. Types come from the packages themselves.
 */
import type { ConsolidateLakeReport, ConsolidateProgress, Lake, ResampleLakeReport, ResampleIntervalReport } from '@fibbars/ohlcv-core';
import type { MarketSource } from '@fibbars/fetchers';
import type { PipelineRunRecord, RunLocalPipelineOptions } from '@fibbars/asl-definition/local';

export type { ConsolidateLakeReport, Lake, ResampleLakeReport, ResampleIntervalReport, MarketSource, PipelineRunRecord };
export type LakeLike = Lake;
export type MarketSourceLike = MarketSource;
export type DataFrameLike = Awaited<ReturnType<Lake['read']>>;

export type Anchor = 'calendar' | 'ticker' | 'latest';

export interface CoreApi {
  openLake(uri: string): Lake;
  /** Default grace period of `lake.gc` (one hour). */
  DEFAULT_GC_GRACE_MS: number;
  consolidateLake(
    lake: Lake,
    options: { runId: string; maxRejectedShare?: number; onProgress?: (progress: ConsolidateProgress) => void },
  ): Promise<ConsolidateLakeReport>;
  resampleLake(lake: Lake, options: { days: number | readonly number[]; runId: string }): Promise<ResampleLakeReport>;
  /** Makes `gc` available so the jobs can free dropped Polars frames (ohlcv-core's memory.ts). */
  exposeGc(): boolean;
  resample(
    daily: DataFrameLike,
    options: { days: number; anchor?: Anchor; splits?: DataFrameLike; dividends?: DataFrameLike; adjust?: 'splits' | 'total-return' | 'none'; asOf?: string },
  ): DataFrameLike | Promise<DataFrameLike>;
}

type FetchersModule = typeof import('@fibbars/fetchers');

export interface FetchersApi {
  SyntheticSource: new (options: { seed: number; tickers: number; now?: () => Date }) => MarketSource;
  createOhlcvHandler: FetchersModule['createOhlcvHandler'];
  createMetaHandler: FetchersModule['createMetaHandler'];
  sourceFromEnv: FetchersModule['sourceFromEnv'];
  fetchSessions: FetchersModule['fetchSessions'];
  eventsBackfillFromEnv: FetchersModule['eventsBackfillFromEnv'];
}

export interface LocalEngineApi {
  runLocalPipeline(options: RunLocalPipelineOptions): Promise<PipelineRunRecord>;
}

async function load<T>(what: string, loader: () => Promise<unknown>, names: string[]): Promise<T> {
  const mod = (await loader()) as Record<string, unknown>;
  const missing = names.filter((n) => mod[n] === undefined);
  if (missing.length > 0) {
    throw new Error(`${what} does not export ${missing.join(', ')}: this build of fibbars is incomplete`);
  }
  return mod as T;
}

export const loadCore = (): Promise<CoreApi> =>
  load<CoreApi>('@fibbars/ohlcv-core', () => import('@fibbars/ohlcv-core'), ['openLake', 'consolidateLake', 'resampleLake', 'exposeGc', 'DEFAULT_GC_GRACE_MS']);

export const loadFetchers = (): Promise<FetchersApi> =>
  load<FetchersApi>('@fibbars/fetchers', () => import('@fibbars/fetchers'), ['SyntheticSource', 'createOhlcvHandler', 'createMetaHandler', 'sourceFromEnv', 'fetchSessions', 'eventsBackfillFromEnv']);

export const loadLocalEngine = (): Promise<LocalEngineApi> =>
  load<LocalEngineApi>('@fibbars/asl-definition/local', () => import('@fibbars/asl-definition/local'), ['runLocalPipeline']);

/** The six Fibonacci intervals the pipeline builds by default (ohlcv-core's, from its Polars-free calendar). */
export { DEFAULT_INTERVALS } from '@fibbars/ohlcv-core/calendar';
