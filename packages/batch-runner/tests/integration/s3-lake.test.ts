// The built bundle on an S3 lake (a real S3-protocol server on loopback):
// a rival writer that moves the head of ohlcv_1d under every attempt makes the
// job exit 4 without overwriting anything; once the rival stops, the next run
// repairs. An unreachable endpoint is a generic failure (exit 1).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DEFAULT_COMMIT_ATTEMPTS, openLake } from '@fibbars/ohlcv-core';
import { syntheticMarket } from '@fibbars/testing/market';
import { lastSessions, writeRawSessions } from './support/market.js';
import { doneReport, runBundle } from './support/run-bundle.js';
import { startS3, type TestS3 } from './support/s3-server.js';

const TICKERS = 20;
const SESSIONS = lastSessions('2024-06-28', 8);

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('batch-runner bundle on an S3 lake', () => {
  let s3: TestS3;
  let work: string;
  let lake: string;

  beforeAll(async () => {
    s3 = await startS3();
    work = mkdtempSync(join(tmpdir(), 'batch-runner-s3-'));
    lake = `s3://${s3.bucket}/lake`;
    await writeRawSessions(lake, syntheticMarket(SESSIONS, TICKERS), s3.client);
  });

  afterAll(async () => {
    await s3.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function commitRunIds(dataset: string): Promise<string[]> {
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `lake/_commits/${dataset}/` }));
    const history = await openLake(lake, { s3Client: s3.client }).history(dataset);
    expect(history).toHaveLength(listed.KeyCount ?? 0);
    return history.map((commit) => commit.runId);
  }

  it('exits 4 with a CommitConflictError when another writer moves the head under every attempt, overwriting nothing', async () => {
    s3.rivalFor.add('ohlcv_1d');

    const result = await runBundle(['consolidate'], { cwd: work, env: { ...s3.env, FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'loser' } });

    expect(result.code).toBe(4);
    expect(result.errors).toEqual([{ level: 'error', error: 'CommitConflictError', message: expect.stringContaining('ohlcv_1d version') }]);
    expect(result.lines.map((l) => l['msg'])).not.toContain('done');
    // Every attempt met a new rival version and was refused; the log holds only the rival's.
    expect(s3.rivalCommits).toHaveLength(DEFAULT_COMMIT_ATTEMPTS);
    expect(s3.rejectedConditionalPuts()).toBe(DEFAULT_COMMIT_ATTEMPTS);
    expect(await commitRunIds('ohlcv_1d')).toEqual(Array(DEFAULT_COMMIT_ATTEMPTS).fill('rival-writer'));
  });

  it('commits on the next run once the rival has stopped', async () => {
    s3.rivalFor.clear();

    const result = await runBundle(['consolidate'], { cwd: work, env: { ...s3.env, FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'repair' } });

    expect(doneReport(result)).toMatchObject({ status: 'committed', consolidate: { sessions: SESSIONS } });
    expect(await commitRunIds('ohlcv_1d')).toEqual([...Array(DEFAULT_COMMIT_ATTEMPTS).fill('rival-writer'), 'repair']);
    expect((await openLake(lake, { s3Client: s3.client }).read('ohlcv_1d')).height).toBe(SESSIONS.length * TICKERS);
  });

  it('resamples the S3 lake', async () => {
    const result = await runBundle(['resample', '--days', '5'], { cwd: work, env: { ...s3.env, FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'repair' } });

    expect(doneReport(result)['resample']).toEqual([expect.objectContaining({ days: 5, committed: true })]);
    expect((await openLake(lake, { s3Client: s3.client }).read('ohlcv_5d')).height).toBeGreaterThan(0);
  });

  it('exits 1 with a Terminated error line when Batch stops the job mid-way, leaving the head as it was', async () => {
    // Hold the job's first read of the bar dataset's commit log: it is then surely mid-way.
    const gate = s3.hold(/_commits\/ohlcv_8d\//);
    let child: ChildProcess | undefined;
    const running = runBundle(['resample', '--days', '8'], {
      cwd: work,
      env: { ...s3.env, FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'stopped' },
      onSpawn: (spawned) => (child = spawned),
    });
    await gate.reached;

    child?.kill('SIGTERM');
    const result = await running;
    gate.release();

    expect(result.code).toBe(1);
    expect(result.errors).toEqual([{ level: 'error', error: 'Terminated', message: expect.stringContaining('SIGTERM') }]);
    expect(await openLake(lake, { s3Client: s3.client }).head('ohlcv_8d')).toBeNull();
  });

  it('exits 1 with the underlying error when the S3 endpoint refuses connections', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;

    const result = await runBundle(['resample', '--days', '5'], { cwd: work, env: { ...s3.env, AWS_ENDPOINT_URL_S3: endpoint, FIBBARS_LAKE: lake } });

    expect(result.code).toBe(1);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ level: 'error', message: expect.stringMatching(/ECONNREFUSED/) });
    expect(['ConfigError', 'DataQualityError', 'CommitConflictError']).not.toContain(result.errors[0]?.['error']);
  });
});
