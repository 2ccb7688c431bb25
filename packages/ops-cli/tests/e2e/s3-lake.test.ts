/**
 * The lake commands on an `s3://` lake, served by a real S3-protocol server
 * on loopback and driven by the real AWS SDK (ohlcv-core's default client
 * reads the endpoint and credentials from the environment, as in production).
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { cli, tempDir } from '../support/cli.js';
import { startS3Server as startS3, type TestS3Server as TestS3 } from '@fibbars/testing';

describe('fibbars on an s3:// lake', () => {
  let s3: TestS3;
  let lake: string;
  let dir: { dir: string; cleanup: () => Promise<void> };
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    s3 = await startS3();
    dir = await tempDir();
    for (const [k, v] of Object.entries(s3.env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    lake = `s3://${s3.bucket}/lake`;
  });
  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await s3.stop();
    await dir.cleanup();
  });

  it('backfills into the bucket, then bars, gaps and export read the committed versions back', async () => {
    const env = { ...s3.env, FIBBARS_LAKE: lake };
    const res = await cli(['backfill', '--from', '2026-11-02', '--to', '2026-11-13', '--synthetic-tickers', '20', '--json'], { env });
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout) as { fetch: { fetched: string[] }; consolidate: { accepted: number } };
    expect(report.fetch.fetched).toEqual(nyse.sessionsBetween('2026-11-02', '2026-11-13'));
    const keys = (await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'lake/_commits/ohlcv_1d/' }))).Contents ?? [];
    expect(keys.map((k) => k.Key)).toEqual(['lake/_commits/ohlcv_1d/00000000000000000001.json']);

    const gaps = JSON.parse((await cli(['gaps', '--json'], { env })).stdout) as { expectedSessions: number; missingSessions: string[] };
    expect(gaps).toMatchObject({ expectedSessions: report.fetch.fetched.length, missingSessions: [] });

    const out = path.join(dir.dir, 'daily.csv');
    const exported = JSON.parse((await cli(['export', '--days', '1', '--out', out, '--json'], { env })).stdout) as { rows: number };
    expect(exported.rows).toBe(report.consolidate.accepted);
    const csv = (await readFile(out, 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(report.consolidate.accepted + 1);
    const ticker = csv[1]!.split(',')[0]!;
    const bars = await cli(['bars', ticker, '--days', '3', '--json'], { env });
    expect(bars.code).toBe(0);
    expect((JSON.parse(bars.stdout) as { bars: unknown[] }).bars.length).toBeGreaterThan(0);
  }, 120_000);

  it('doctor reads and writes the bucket and leaves no probe behind', async () => {
    const res = await cli(['doctor', '--lake', lake, '--json'], { env: s3.env });
    const checks = (JSON.parse(res.stdout) as { checks: { name: string; status: string }[] }).checks;
    expect(checks.filter((c) => c.name.startsWith('lake'))).toEqual([
      expect.objectContaining({ name: 'lake read', status: 'ok' }),
      { name: 'lake write', status: 'ok', detail: 'create-only write landed, read back, and a second one was refused' },
      expect.objectContaining({ name: 'lake freshness' }),
    ]);
    const probes = (await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'lake/_doctor/' }))).Contents ?? [];
    expect(probes).toEqual([]);
  });

  it.each([
    ['ignores If-None-Match (a second create-only write lands)', 'ignore', /ignores If-None-Match: a second create-only write of the same key succeeded/],
    ['refuses If-None-Match with 501, as OpenStack Swift does', 'refuse', /refuses conditional writes \(If-None-Match, HTTP 501\): every commit would fail/],
  ] as const)('doctor fails a store that %s, exit 1, and leaves no probe behind', async (_what, mode, detail) => {
    s3.setConditionalWrites(mode);
    try {
      const res = await cli(['doctor', '--lake', lake, '--json'], { env: s3.env });
      expect(res.code).toBe(1);
      const write = (JSON.parse(res.stdout) as { checks: { name: string; status: string; detail: string; fix?: string }[] }).checks.find((c) => c.name === 'lake write');
      expect(write).toMatchObject({ status: 'fail', detail: expect.stringMatching(detail), fix: expect.stringContaining('conditional writes') });
    } finally {
      s3.setConditionalWrites('enforce');
    }
    const probes = (await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'lake/_doctor/' }))).Contents ?? [];
    expect(probes).toEqual([]);
  });

  it('says a bucket prefix with no lake does not exist, exit 2', async () => {
    const res = await cli(['bars', 'AAA', '--days', '5', '--lake', `s3://${s3.bucket}/elsewhere`], { env: s3.env });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^fibbars: lake s3:\/\/lake-[0-9a-f]+\/elsewhere does not exist or holds no committed daily history/);
  });
});
