/**
 * Reading run records (`fibbars executions`, `fibbars describe`): every
 * record read is reconciled first, so a run whose process is gone reads ABORTED.
 */
import { openStore, RunStore, type OpenStoreOptions } from '@fibbars/ohlcv-core/storage';
import { reconcileRun, reconcileRuns } from '../runs.js';
import type { PipelineRunRecord } from './types.js';

/** Every run record of a lake, newest first; a run whose process is gone is marked ABORTED first. */
export async function listRuns(lake: string, options: OpenStoreOptions = {}): Promise<PipelineRunRecord[]> {
  return (await reconcileRuns(new RunStore(openStore(lake, options)))) as PipelineRunRecord[];
}

/** One run record (marked ABORTED when its process is gone), or `null` when the lake has no run with that id. */
export async function getRun(lake: string, runId: string, options: OpenStoreOptions = {}): Promise<PipelineRunRecord | null> {
  const runs = new RunStore(openStore(lake, options));
  const record = await runs.get(runId);
  return record ? ((await reconcileRun(runs, record)) as PipelineRunRecord) : null;
}
