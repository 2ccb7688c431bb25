import { describe, expect, it } from '@jest/globals';
import { bucketBounds, bucketOf } from '../../src/calendar.js';
import type { Commit, CommitFile } from '../../src/lake.js';
import { BAR_LAYOUT, blockBuckets, planResample, type IntervalPlanInput, type PlanInput } from '../../src/resample-lake.js';

// The plan is pure: heads and what changed in, what to redo out. These cases
// pin down that a daily run's work is bounded by the buckets it touches.

function file(lo: number, hi: number, name = `f${lo}-${hi}`): CommitFile {
  return { path: `silver/ohlcv_5d/${name}.parquet`, rows: 100, bytes: 1000, minDate: null, maxDate: null, partition: 'year=2024', buckets: [lo, hi] };
}

function head(files: CommitFile[], meta: Record<string, unknown> = {}): Commit {
  return {
    dataset: 'ohlcv_5d',
    version: 7,
    parent: 6,
    runId: 'r',
    createdAt: '2024-06-03T21:00:00.000Z',
    files,
    quarantine: [],
    meta: { sourceVersion: 10, splitsVersion: 3, anchor: 'calendar', latestSession: '2024-06-03', basis: 'end-date', layout: BAR_LAYOUT, ...meta },
  };
}

function plan(interval: Partial<IntervalPlanInput> & { head: Commit | null }, over: Partial<PlanInput> = {}) {
  const input: PlanInput = {
    anchor: 'calendar',
    dailyVersion: 11,
    splitsVersion: 3,
    latestSession: '2024-06-04',
    intervals: [{ days: 5, changedSessions: [], changedSplits: [], ...interval }],
    ...over,
  };
  return planResample(input)[0]!;
}

describe('planResample', () => {
  const b4 = bucketOf('2024-06-04', 5);
  const b3 = bucketOf('2024-06-03', 5);

  it('builds in full when there is no head, another layout or another anchor', () => {
    expect(plan({ head: null })).toMatchObject({ action: 'full', reason: 'no version yet' });
    expect(plan({ head: head([], { layout: 1 }) })).toMatchObject({ action: 'full' });
    expect(plan({ head: head([], { anchor: 'ticker' }) })).toMatchObject({ action: 'full', reason: expect.stringMatching(/anchor changed/) });
    expect(plan({ head: head([], { anchor: 'ticker', sourceVersion: 10 }) }, { anchor: 'ticker' })).toMatchObject({ action: 'full' });
  });

  it('is current when the head reflects the daily and splits versions', () => {
    expect(plan({ head: head([file(0, 10)], { sourceVersion: 11 }) })).toEqual({ days: 5, action: 'current' });
  });

  it('recomputes the new session bucket and the previous latest session bucket, rewriting only the files that hold them', () => {
    const old = file(0, b3 - 10);
    const recent = file(b3 - 1, b3);
    const p = plan({ head: head([old, recent]), changedSessions: ['2024-06-04'] });
    expect(p).toMatchObject({ action: 'incremental', buckets: [...new Set([b3, b4])].sort((a, b) => a - b), tickerBuckets: [] });
    expect(p.action === 'incremental' && p.rewrite.map((f) => f.path)).toEqual([recent.path]);
  });

  it('recomputes only the straddling bucket of a ticker for a split reported inside an old bar', () => {
    const exec = '2024-03-13';
    const b = bucketOf(exec, 5);
    const holder = file(b - 2, b + 2);
    const p = plan({ head: head([file(0, b - 3), holder, file(b + 3, b4)]), changedSessions: ['2024-06-04'], changedSplits: [['ACME', exec]] });
    expect(p.action === 'incremental' && p.tickerBuckets).toEqual([['ACME', b]]);
    expect(p.action === 'incremental' && p.rewrite.map((f) => f.path)).toEqual([holder.path, file(b + 3, b4).path]);
  });

  it('needs nothing for a split executed in a bucket already recomputed, or after the latest session', () => {
    const p = plan({ head: head([file(0, b4)]), changedSessions: ['2024-06-04'], changedSplits: [['ACME', '2024-06-04'], ['ZED', '2024-06-10']] });
    expect(p.action === 'incremental' && p.tickerBuckets).toEqual([]);
  });

  it('is current when a new daily version changed no session and no split', () => {
    expect(plan({ head: head([file(0, b3)], { latestSession: '2024-06-04' }) })).toEqual({ days: 5, action: 'current' });
  });

  it('compacts a block into one file once its last bucket is complete', () => {
    const days = 5;
    const per = blockBuckets(days);
    // The last bucket of some block, completed by the latest session.
    const block = Math.floor(b4 / per) - 1;
    const last = block * per + per - 1;
    const latest = bucketBounds(last, days).last;
    const pieces = Array.from({ length: per }, (_, k) => file(block * per + k, block * per + k));
    const p = plan(
      { head: head([file(0, block * per - 1), ...pieces], { latestSession: bucketBounds(last, days).first }), changedSessions: [latest] },
      { latestSession: latest },
    );
    expect(p.action === 'incremental' && p.rewrite.map((f) => f.path).sort()).toEqual(pieces.map((f) => f.path).sort());
  });
});
