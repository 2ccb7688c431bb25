/**
 * Shared steps of the pipeline scenarios: a base lake copied per scenario, a
 * reference export from an undisturbed run, and the checks every scenario
 * ends with (correct data, or a named error with an alert and the lake at its
 * last good version).
 */
import { expect } from '@jest/globals';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { openLake } from '@fibbars/ohlcv-core';
import { exportDifference, exportLake, missingCommittedFiles, tally, type LakeExport, type Row, type Tally } from './frames.js';
import { record } from './ledger.js';
import type { CapturedRun } from './pipeline.js';

export async function copyLake(from: string, to: string): Promise<string> {
  await cp(from, to, { recursive: true });
  return to;
}

export async function heads(lake: string): Promise<Record<string, number | null>> {
  const l = openLake(lake);
  const out: Record<string, number | null> = {};
  for (const d of await l.datasets()) out[d] = (await l.head(d))?.version ?? null;
  return out;
}

/** The run succeeded and the lake holds exactly the reference export. */
export async function expectData(run: CapturedRun, lake: string, reference: LakeExport, compare?: (actual: LakeExport) => void): Promise<Tally> {
  expect(run.record.error).toBeUndefined();
  expect(run.record.status).toBe('SUCCEEDED');
  expect(run.alerts).toEqual([]);
  const actual = await exportLake(openLake(lake));
  expect(await missingCommittedFiles(openLake(lake))).toEqual([]);
  if (compare) compare(actual);
  else expect(exportDifference(actual, reference)).toBeNull();
  const t = tally(actual['ohlcv_1d'] ?? [], reference['ohlcv_1d'] ?? []);
  expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
  return t;
}

/**
 * The run failed with `errorName`, alerted naming the failed state and the
 * error, and left the lake exactly at its last good version.
 */
export async function expectNamedFailure(
  run: CapturedRun,
  lake: string,
  lastGood: { export: LakeExport; heads: Record<string, number | null> },
  errorName: string,
  state: string,
): Promise<Tally> {
  expect(run.record.status).toBe('FAILED');
  expect(run.record.finalState).toBe('PipelineFailed');
  expect(run.record.error?.name).toBe(errorName);
  expect(run.alerts).toHaveLength(1);
  expect(run.alerts[0]?.message).toContain(`failed in state ${state}: ${errorName}`);
  expect(run.record.alert?.message).toBe(run.alerts[0]?.message);
  // The run record in the lake says the same.
  const stored = await openLake(lake).runs.get(run.record.runId);
  expect(stored).toMatchObject({ status: 'FAILED', error: { name: errorName } });
  // The daily history and the bars keep their versions. (Splits and tickers,
  // committed from correct raw files before the daily gate trips, may advance
  // with identical content: the export comparison below covers them.)
  const dataHeads = (h: Record<string, number | null>) => Object.fromEntries(Object.entries(h).filter(([d]) => d.startsWith('ohlcv_')));
  expect(dataHeads(await heads(lake))).toEqual(dataHeads(lastGood.heads));
  const actual = await exportLake(openLake(lake));
  expect(exportDifference(actual, lastGood.export)).toBeNull();
  const t = tally(actual['ohlcv_1d'] ?? [], lastGood.export['ohlcv_1d'] ?? []);
  expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
  return t;
}

export function ledger(group: string, scenario: string, t: Tally, faults: number, runs: number, outcome: string): void {
  record({ group, scenario, faults, runs, expectedRows: t.expected, rowsLost: t.lost, rowsDuplicated: t.duplicated, outcome });
}

export const lakeIn = (dir: string, name: string) => path.join(dir, name);
export type { Row };
