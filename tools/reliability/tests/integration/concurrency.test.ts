// Concurrency: two pipeline runs for the same session at once, and two
// consolidators (the bundle, as child processes) racing on one lake. One
// commit wins per version; the loser fails with CommitConflictError or
// retries on the new head; no row is lost or doubled.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { SyntheticSource } from '@fibbars/fetchers';
import { openLake, nyse } from '@fibbars/ohlcv-core';
import { brokenChains, exportDifference, exportLake, missingCommittedFiles, tally } from '../support/frames.js';
import { fetchSessions, job, runBundle } from '../support/jobs.js';
import { requireBundle, runPipeline, tempDir } from '../support/pipeline.js';
import { copyLake, heads, ledger } from '../support/scenario.js';

const GROUP = 'concurrency';
const SESSION = '2024-03-08';
let work: { dir: string; cleanup: () => Promise<void> };
const market = () => new SyntheticSource({ seed: 9, tickers: 300 });

beforeAll(async () => {
  requireBundle();
  work = await tempDir('race');
});
afterAll(async () => {
  await work?.cleanup();
});

describe('two pipeline runs for the same session at once', () => {
  it('end with one copy of every row: each run succeeds or fails with CommitConflictError and an alert', async () => {
    const referenceLake = path.join(work.dir, 'reference');
    const single = await runPipeline({ lake: referenceLake, date: SESSION, source: market(), intervals: [3] });
    expect(single.record.status).toBe('SUCCEEDED');
    const reference = await exportLake(openLake(referenceLake));

    const lake = path.join(work.dir, 'twice');
    const runs = await Promise.all([
      runPipeline({ lake, date: SESSION, source: market(), intervals: [3] }),
      runPipeline({ lake, date: SESSION, source: market(), intervals: [3] }),
    ]);
    for (const run of runs) {
      if (run.record.status === 'SUCCEEDED') continue;
      expect(run.record.error?.name).toBe('CommitConflictError');
      expect(run.alerts[0]?.message).toContain('CommitConflictError');
    }
    expect(runs.some((r) => r.record.status === 'SUCCEEDED')).toBe(true);
    const l = openLake(lake);
    expect(await brokenChains(l)).toEqual([]);
    expect(await missingCommittedFiles(l)).toEqual([]);
    const actual = await exportLake(l);
    expect(exportDifference(actual, reference)).toBeNull();
    const t = tally(actual['ohlcv_1d'] ?? [], reference['ohlcv_1d'] ?? []);
    expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    ledger(GROUP, 'two pipeline runs of one session at once', t, 1, 3, runs.map((r) => r.record.error?.name ?? 'data').join('+'));
  });
});

describe('two consolidators racing', () => {
  it('publish one version per round: the loser exits 4 (CommitConflictError) or finds the work done, and no row is lost or doubled', async () => {
    const lake = path.join(work.dir, 'race');
    const rounds = [nyse.sessionsBetween('2024-02-29', '2024-03-05'), nyse.sessionsBetween('2024-03-06', '2024-03-08')];
    let conflicts = 0;
    for (const [i, round] of rounds.entries()) {
      await fetchSessions(lake, market(), round);
      const reference = await copyLake(lake, path.join(work.dir, `race-ref-${i}`));
      await job(reference, ['consolidate']);
      const expected = await exportLake(openLake(reference));
      const before = await heads(lake);

      const outcomes = await Promise.all([runBundle(['consolidate'], { FIBBARS_LAKE: lake }), runBundle(['consolidate'], { FIBBARS_LAKE: lake })]);
      for (const o of outcomes) {
        expect(o.signal).toBeNull();
        if (o.code === 4) {
          conflicts += 1;
          expect(o.stderr).toMatch(/"error":"CommitConflictError"/);
        } else expect(o.code).toBe(0);
      }
      const after = await heads(lake);
      // One new version of the daily history per round, whoever won it.
      expect(after['ohlcv_1d']).toBe((before['ohlcv_1d'] ?? 0) + 1);
      const l = openLake(lake);
      expect(await brokenChains(l)).toEqual([]);
      expect(await missingCommittedFiles(l)).toEqual([]);
      const actual = await exportLake(l);
      expect(exportDifference(actual, expected)).toBeNull();
      const t = tally(actual['ohlcv_1d'] ?? [], expected['ohlcv_1d'] ?? []);
      expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
      ledger(GROUP, `two consolidators racing, round ${i + 1}`, t, 1, 3, outcomes.map((o) => (o.code === 4 ? 'CommitConflictError' : 'data')).join('+'));
    }
    // Informational: how often the loser failed rather than retried.
    expect(conflicts).toBeLessThanOrEqual(rounds.length);
  });
});
