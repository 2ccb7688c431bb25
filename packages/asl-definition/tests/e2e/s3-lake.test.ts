// The local pipeline on an S3 lake: the engine (run records), the in-process
// fetchers (raw zone) and the batch-runner processes (commits) all talk S3 to a
// real S3-protocol server on loopback.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { SyntheticSource } from '@fibbars/fetchers';
import { openStore } from '@fibbars/ohlcv-core/storage';
import { batchRunnerBundlePath, getRun, listRuns, runLocalPipeline } from '../../src/local.js';
import { startS3Server as startS3, type TestS3Server as TestS3 } from '@fibbars/testing';

let s3: TestS3;
beforeAll(async () => {
  const bundle = batchRunnerBundlePath();
  if (!existsSync(bundle)) throw new Error(`batch-runner bundle missing at ${bundle}: run \`nx run batch-runner:bundle\``);
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});

describe('the local pipeline on an S3 lake', () => {
  it('writes raw files, commits and the run record to the bucket', async () => {
    const lake = `s3://${s3.bucket}/lake`;
    const store = { s3Client: s3.client };
    const record = await runLocalPipeline({
      lake,
      date: '2024-03-08',
      source: new SyntheticSource({ seed: 3, tickers: 20 }),
      intervals: [3, 5],
      store,
      batchEnv: s3.env,
    });
    expect(record.error).toBeUndefined();
    expect(record.status).toBe('SUCCEEDED');
    expect(record.lake).toBe(lake);

    const keys = (await openStore(lake, store).list('')).map((o) => o.key);
    expect(keys.some((k) => k.startsWith('raw/ohlcv/date=2024-03-08/'))).toBe(true);
    for (const dataset of ['ohlcv_1d', 'ohlcv_3d', 'ohlcv_5d']) {
      expect(keys.some((k) => k.startsWith(`_commits/${dataset}/`))).toBe(true);
    }
    expect(keys).toContain(`_runs/${record.runId}.json`);
    expect(await getRun(lake, record.runId, store)).toEqual(JSON.parse(JSON.stringify(record)));
    expect((await listRuns(lake, store)).map((r) => r.runId)).toEqual([record.runId]);
  });
});
