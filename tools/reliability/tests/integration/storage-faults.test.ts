// Storage faults: the pipeline on an S3 lake served by a real S3-protocol
// server on loopback, behind a proxy that fails some requests. The SDK
// retries; the run ends in the reference data, or (when a response is lost
// after the server applied a write) in a named error with an alert and a lake
// at its last good version that the next run repairs.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { SyntheticSource } from '@fibbars/fetchers';
import { nyse, openLake } from '@fibbars/ohlcv-core';
import { brokenChains, exportDifference, exportLake, missingCommittedFiles, tally, type LakeExport } from '../support/frames.js';
import { fetchSessions, job, runBundle } from '../support/jobs.js';
import { requireBundle, runPipeline, tempDir } from '../support/pipeline.js';
import { ledger } from '../support/scenario.js';
import { startFaultyS3, type FaultyS3, type StorageFault } from '../support/s3.js';

const GROUP = 'storage faults (S3)';
const SESSION = '2024-03-08';
let s3: FaultyS3;
let work: { dir: string; cleanup: () => Promise<void> };
let reference: LakeExport;
const market = () => new SyntheticSource({ seed: 13, tickers: 200 });

beforeAll(async () => {
  requireBundle();
  s3 = await startFaultyS3();
  work = await tempDir('s3');
  const ref = await runPipeline({ lake: path.join(work.dir, 'reference'), date: SESSION, source: market(), intervals: [3] });
  expect(ref.record.status).toBe('SUCCEEDED');
  reference = await exportLake(openLake(path.join(work.dir, 'reference')));
}, 120_000);
afterAll(async () => {
  await s3?.stop();
  await work?.cleanup();
});

const totalFaults = () => Object.values(s3.injected).reduce((a, b) => a + b, 0);

async function lakeState(lake: string): Promise<LakeExport> {
  const plan = s3.plan;
  s3.plan = undefined; // inspect without faults
  const l = openLake(lake, { s3Client: s3.client });
  expect(await missingCommittedFiles(l)).toEqual([]);
  expect(await brokenChains(l)).toEqual([]);
  const out = await exportLake(l);
  s3.plan = plan;
  return out;
}

describe('an S3 lake behind a proxy that fails requests', () => {
  it('ends in the reference data when every 7th request fails with 500, 503 or a reset before reaching the server', async () => {
    const lake = `s3://${s3.bucket}/retried`;
    const kinds: StorageFault[] = ['500', '503', 'reset'];
    const start = s3.requests;
    const before = totalFaults();
    s3.plan = (n) => ((n - start) % 7 === 3 ? kinds[Math.floor((n - start) / 7) % kinds.length] : undefined);
    const run = await runPipeline({ lake, date: SESSION, source: market(), intervals: [3], store: { s3Client: s3.client }, batchEnv: s3.env });
    s3.plan = undefined;
    const faults = totalFaults() - before;
    // The run's own outcome first: a run that failed early also made few requests, and
    // its error says why (a fault count alone does not).
    expect(run.record.error).toBeUndefined();
    expect(run.record.status).toBe('SUCCEEDED');
    expect(faults).toBeGreaterThan(5);
    const actual = await lakeState(lake);
    expect(exportDifference(actual, reference)).toBeNull();
    const t = tally(actual['ohlcv_1d'] ?? [], reference['ohlcv_1d'] ?? []);
    expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    ledger(GROUP, 'every 7th request fails (500, 503, reset), retried by the SDK', t, faults, 1, 'data');
  });

  it('stays consistent when responses are lost after the server applied the write, and the next run repairs', async () => {
    const lake = `s3://${s3.bucket}/lost`;
    const start = s3.requests;
    const before = totalFaults();
    s3.plan = (n, method) => (method === 'PUT' && (n - start) % 5 === 2 ? 'lost-response' : undefined);
    const first = await runPipeline({ lake, date: SESSION, source: market(), intervals: [3], store: { s3Client: s3.client }, batchEnv: s3.env });
    s3.plan = undefined;
    const faults = totalFaults() - before;
    expect(faults).toBeGreaterThan(2);
    const afterFirst = await lakeState(lake);
    let runs = 1;
    if (first.record.status === 'FAILED') {
      // Named, alerted, and the lake holds only complete versions.
      expect(first.record.error?.name).toMatch(/^(CommitConflictError|UpstreamUnavailableError|States\.TaskFailed|Error)$/);
      expect(first.alerts).toHaveLength(1);
      for (const [dataset, rows] of Object.entries(afterFirst)) {
        if (rows.length > 0 && dataset !== 'quarantine') expect(exportDifference({ [dataset]: rows }, { [dataset]: reference[dataset] ?? [] })).toBeNull();
      }
      const again = await runPipeline({ lake, date: SESSION, source: market(), intervals: [3], store: { s3Client: s3.client }, batchEnv: s3.env });
      runs += 1;
      expect(again.record.status).toBe('SUCCEEDED');
    }
    const actual = await lakeState(lake);
    expect(exportDifference(actual, reference)).toBeNull();
    const t = tally(actual['ohlcv_1d'] ?? [], reference['ohlcv_1d'] ?? []);
    expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    ledger(GROUP, 'every 5th PUT applied but its response lost', t, faults, runs, first.record.error?.name ?? 'data');
  });

  it('lets one of two consolidators racing on S3 publish each version (If-None-Match), with no row lost or doubled', async () => {
    const lake = `s3://${s3.bucket}/race`;
    const store = { s3Client: s3.client };
    const sessions = nyse.sessionsBetween('2024-03-04', '2024-03-08');
    await fetchSessions(lake, market(), sessions, { store });
    // Reference: the same raw fetches consolidated once, on a folder lake.
    const folder = path.join(work.dir, 'race-reference');
    await fetchSessions(folder, market(), sessions);
    await job(folder, ['consolidate']);
    const expected = (await exportLake(openLake(folder), ['ohlcv_1d']))['ohlcv_1d'] ?? [];

    const refusedBefore = s3.preconditionFailures();
    const env = { ...s3.env, FIBBARS_LAKE: lake };
    const outcomes = await Promise.all([runBundle(['consolidate'], env), runBundle(['consolidate'], env)]);
    for (const o of outcomes) {
      if (o.code === 4) expect(o.stderr).toMatch(/"error":"CommitConflictError"/);
      else expect(o).toMatchObject({ code: 0, signal: null });
    }
    const l = openLake(lake, store);
    expect((await l.head('ohlcv_1d'))?.version).toBe(1);
    expect(await brokenChains(l)).toEqual([]);
    expect(await missingCommittedFiles(l)).toEqual([]);
    const actual = (await exportLake(l, ['ohlcv_1d']))['ohlcv_1d'] ?? [];
    expect(exportDifference({ ohlcv_1d: actual }, { ohlcv_1d: expected })).toBeNull();
    const t = tally(actual, expected);
    expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    const refused = s3.preconditionFailures() - refusedBefore;
    ledger(GROUP, `two consolidators racing on S3 (${refused} commit PUTs refused with 412)`, t, 1, 2, outcomes.map((o) => (o.code === 4 ? 'CommitConflictError' : 'data')).join('+'));
  });
});
