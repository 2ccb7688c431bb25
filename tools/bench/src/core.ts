// The parts of @fibbars/ohlcv-core the bench drives, as documented in
// docs/ARCHITECTURE.md. They are looked up at run time so the harness says
// plainly which function is missing instead of failing somewhere inside.
import * as core from '@fibbars/ohlcv-core';
import type pl from 'nodejs-polars';

export type Anchor = 'calendar' | 'ticker' | 'latest';

export interface CoreLake {
  read(dataset: string, opts?: { tickers?: string[]; from?: string; to?: string; version?: number }): Promise<pl.DataFrame>;
}

export interface CoreApi {
  resample(daily: pl.DataFrame, opts: { days: number; anchor?: Anchor; asOf?: string }): pl.DataFrame | Promise<pl.DataFrame>;
  openLake(uri: string): CoreLake | Promise<CoreLake>;
  consolidateLake(lake: CoreLake, opts: { runId: string }): Promise<unknown>;
  resampleLake(lake: CoreLake, opts: { days: number; runId: string }): Promise<unknown>;
}

export function coreApi<K extends keyof CoreApi>(...names: K[]): Pick<CoreApi, K> {
  const exported = core as unknown as Record<string, unknown>;
  const missing = names.filter((n) => typeof exported[n] !== 'function');
  if (missing.length > 0) {
    throw new Error(`@fibbars/ohlcv-core does not export ${missing.join(', ')} (see docs/ARCHITECTURE.md)`);
  }
  return exported as unknown as Pick<CoreApi, K>;
}
