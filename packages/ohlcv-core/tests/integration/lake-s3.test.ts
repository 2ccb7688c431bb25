import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sessionsBetween } from '../../src/calendar.js';
import { CommitConflictError } from '../../src/errors.js';
import { consolidateLake } from '../../src/jobs.js';
import { resampleLake } from '../../src/resample-lake.js';
import { openLake, type Lake } from '../../src/lake.js';
import { dailyFrame } from '../helpers/frames.js';
import { frameDifference, missingCommittedFiles, snapshot } from '../helpers/lake-checks.js';
import { bar, writeOhlcv, writeSplits } from '../helpers/raw.js';
import { s3ClientFor, startS3Server, type TestS3Server } from '@fibbars/testing';
import { tempDir } from '../helpers/temp.js';

let s3: TestS3Server;
let local: { dir: string; cleanup: () => Promise<void> };
let n = 0;
beforeAll(async () => {
  s3 = await startS3Server();
  local = await tempDir('fibbars-lake-s3');
});
afterAll(async () => {
  await s3?.stop();
  await local?.cleanup();
});

/** A fresh lake under its own prefix; `separateClient` gives a second, independent writer. */
function s3Lake(prefix: string, separateClient = false): Lake {
  return openLake(`s3://${s3.bucket}/${prefix}`, {
    s3Client: separateClient ? s3ClientFor(s3.endpoint) : s3.client,
    cacheDir: `${local.dir}/cache-${separateClient ? 'own' : 'shared'}-${prefix}`,
  });
}

const SESSIONS = sessionsBetween('2023-12-01', '2024-01-12');
const TICKERS = Array.from({ length: 120 }, (_, i) => `S${String(i).padStart(3, '0')}`);
async function seedRaw(lake: Lake, sessions = SESSIONS): Promise<void> {
  for (const [k, s] of sessions.entries()) {
    await writeOhlcv(lake.raw, s, [...TICKERS.map((t, i) => bar(t, 30 + i + Math.cos(k + i), 800 + k + i)), ...(k === 3 ? [{ ...bar('ZZ', 1), v: -5 }] : [])]);
  }
  await writeSplits(lake.raw, sessions[5]!, [{ ticker: 'S003', execution_date: sessions[5]!, split_from: 1, split_to: 3 }]);
}

describe('Lake on a loopback S3 server', () => {
  it('consolidates, resamples and reads back exactly what a folder lake holds', async () => {
    const onS3 = s3Lake(`same-${++n}`);
    const onDisk = openLake(`${local.dir}/same-${n}`);
    for (const lake of [onS3, onDisk]) {
      await seedRaw(lake);
      const c = await consolidateLake(lake, { runId: 'c1' });
      expect(c.rows).toMatchObject({ accepted: SESSIONS.length * TICKERS.length, quarantined: 1 });
      await resampleLake(lake, { days: [3, 5], runId: 'r1' });
    }
    const datasets = ['ohlcv_1d', 'ohlcv_3d', 'ohlcv_5d', 'splits'];
    const a = await snapshot(onS3, datasets);
    const b = await snapshot(onDisk, datasets);
    for (const d of datasets) expect({ d, diff: frameDifference(a[d], b[d]) }).toEqual({ d, diff: null });
    // Quarantined rows are the same; only the fetch they came from differs between the two lakes.
    const rowsOnly = (q: typeof a.quarantine) => q?.drop('fetched_at', 'fetch_id');
    expect(frameDifference(rowsOnly(a['quarantine']), rowsOnly(b['quarantine']))).toBeNull();
    expect(a['quarantine']?.getColumn('reason').toArray()).toEqual(['negative-volume']);
    expect((await onS3.read('ohlcv_1d', { tickers: ['S001'], from: '2024-01-02' })).height).toBe(SESSIONS.filter((s) => s >= '2024-01-02').length);
    expect((await consolidateLake(onS3, { runId: 'c2' })).status).toBe('no-change');
    expect((await resampleLake(onS3, { days: [3, 5], runId: 'r2' })).status).toBe('no-change');
    expect(await missingCommittedFiles(onS3)).toEqual([]);
    // Commit files were created with If-None-Match and never overwritten.
    expect((await onS3.history('ohlcv_1d')).map((c) => c.version)).toEqual([1]);
  });

  it('lets exactly one of two writers racing for a version win; the loser retries on the new head and nothing is lost', async () => {
    const prefix = `race-${++n}`;
    const writerA = s3Lake(prefix, true);
    const writerB = s3Lake(prefix, true);
    const filesA = await writerA.writeFiles('ohlcv_1d', dailyFrame([{ ticker: 'AAA', date: '2023-12-29' }]));
    const filesB = await writerB.writeFiles('ohlcv_1d', dailyFrame([{ ticker: 'BBB', date: '2024-01-02' }]));
    const rejectedBefore = s3.rejectedConditionalPuts();
    const results = await Promise.allSettled([
      writerA.commit('ohlcv_1d', { parent: 0, files: filesA, runId: 'A' }),
      writerB.commit('ohlcv_1d', { parent: 0, files: filesB, runId: 'B' }),
    ]);
    const winners = results.filter((r) => r.status === 'fulfilled');
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]!.reason).toBeInstanceOf(CommitConflictError);
    expect(s3.rejectedConditionalPuts()).toBe(rejectedBefore + 1);
    // The loser re-reads the head and commits its change on top of it.
    const loser = results[0]!.status === 'rejected' ? { lake: writerA, files: filesA } : { lake: writerB, files: filesB };
    const head = (await loser.lake.head('ohlcv_1d'))!;
    await loser.lake.commit('ohlcv_1d', { parent: head.version, files: loser.files, runId: 'retry' });
    const final = await writerA.read('ohlcv_1d');
    expect(final.getColumn('ticker').toArray()).toEqual(['AAA', 'BBB']);
    expect((await writerA.history('ohlcv_1d')).map((c) => c.version)).toEqual([1, 2]);
  });

  it('runs two consolidations of the same raw data at once into exactly one new version', async () => {
    const prefix = `twice-${++n}`;
    const writerA = s3Lake(prefix, true);
    const writerB = s3Lake(prefix, true);
    await seedRaw(writerA, SESSIONS.slice(0, 8));
    const [a, b] = await Promise.all([consolidateLake(writerA, { runId: 'A' }), consolidateLake(writerB, { runId: 'B' })]);
    const committed = [a, b].filter((r) => r.versions.ohlcv_1d.committed);
    expect(committed).toHaveLength(1);
    expect((await writerA.history('ohlcv_1d')).map((c) => c.version)).toEqual([1]);
    expect((await writerA.read('ohlcv_1d')).height).toBe(8 * TICKERS.length);
    expect(await missingCommittedFiles(writerA)).toEqual([]);
  });

  it('collects garbage on S3 after the grace period only', async () => {
    const lake = s3Lake(`gc-${++n}`);
    const files = await lake.writeFiles('ohlcv_1d', dailyFrame([{ ticker: 'AAA', date: '2024-01-02' }]));
    await lake.commit('ohlcv_1d', { parent: 0, files, runId: 'r1' });
    const orphan = await lake.writeFiles('ohlcv_1d', dailyFrame([{ ticker: 'ORP', date: '2024-01-02' }]));
    expect((await lake.gc({ graceMs: 3_600_000 })).deleted).toEqual([]);
    const later = new Date(Date.now() + 2 * 3_600_000);
    expect((await lake.gc({ graceMs: 3_600_000, now: later })).deleted).toEqual(orphan.map((f) => f.path));
    expect((await lake.read('ohlcv_1d')).getColumn('ticker').toArray()).toEqual(['AAA']);
  });
});
