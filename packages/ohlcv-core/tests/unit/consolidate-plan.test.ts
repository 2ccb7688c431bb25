import { describe, expect, it } from '@jest/globals';
import { TRAILING_SESSIONS, dailyMeta, nextDailyMeta, planConsolidation, planDailyRewrite, type DailyMeta } from '../../src/jobs.js';
import type { Commit, CommitFile } from '../../src/lake.js';
import type { RawFetch } from '../../src/storage.js';

// The daily plan is pure: the head of ohlcv_1d and the raw zone's latest
// fetches in, what to parse, read and rewrite out. These cases pin down that
// a daily run reads and rewrites the months of its sessions, whatever the history.

function fetch(session: string, n = 0): RawFetch {
  const fetchId = `${session.replaceAll('-', '')}T21000000${n}Z-0000000${n}`;
  const dir = `raw/ohlcv/date=${session}`;
  return { kind: 'ohlcv', session, fetchId, key: `${dir}/${fetchId}.json.gz`, metaKey: `${dir}/${fetchId}.meta.json` };
}

/** The raw zone's latest fetch per session, in its (session) order. */
function latest(...fetches: RawFetch[]): Map<string, RawFetch> {
  return new Map([...fetches].sort((a, b) => (a.session < b.session ? -1 : 1)).map((f) => [f.session, f]));
}

function file(minDate: string | null, maxDate: string | null, name = `${minDate}_${maxDate}`): CommitFile {
  const partition = minDate === null ? null : `year=${minDate.slice(0, 4)}`;
  return { path: `silver/ohlcv_1d/${partition ?? 'x'}/${name}.parquet`, rows: 100, bytes: 1000, minDate, maxDate, partition };
}

function quarantine(session: string): CommitFile {
  return { path: `quarantine/ohlcv/date=${session}/q.parquet`, rows: 1, bytes: 10, minDate: session, maxDate: session, partition: `date=${session}` };
}

function head(files: CommitFile[], meta: Partial<DailyMeta> = {}, q: CommitFile[] = []): Commit {
  return {
    dataset: 'ohlcv_1d',
    version: 4,
    parent: 3,
    runId: 'r',
    createdAt: '2024-06-03T22:00:00.000Z',
    files,
    quarantine: q,
    meta: { fetches: {}, changedSessions: [], latestSession: null, recentRows: [], ...meta },
  };
}

describe('planConsolidation', () => {
  it('plans every NYSE session of an empty lake, in session order, and skips the dates that are not sessions', () => {
    // 2024-07-04 is Independence Day, 2024-07-06 a Saturday.
    const plan = planConsolidation({ head: null, latest: latest(fetch('2024-07-05'), fetch('2024-07-03'), fetch('2024-07-04'), fetch('2024-07-06')) });
    expect(plan.fetches.map((f) => f.session)).toEqual(['2024-07-03', '2024-07-05']);
    expect(plan).toMatchObject({ sessions: ['2024-07-03', '2024-07-05'], skipped: ['2024-07-04', '2024-07-06'], months: ['2024-07'], read: [], replacedQuarantine: [] });
  });

  it('plans nothing when the head consolidated the latest fetch of every session', () => {
    const june = file('2024-06-03', '2024-06-04');
    const a = fetch('2024-06-03');
    const b = fetch('2024-06-04');
    const plan = planConsolidation({ head: head([june], { fetches: { [a.session]: a.fetchId, [b.session]: b.fetchId } }), latest: latest(a, b) });
    expect(plan).toEqual({ fetches: [], sessions: [], skipped: [], months: [], read: [], replacedQuarantine: [] });
  });

  it('plans a refetch of a consolidated session and a new session, reading only the files of their months', () => {
    const old = fetch('2024-05-31', 1);
    const refetch = fetch('2024-05-31', 2);
    const kept = fetch('2024-06-03');
    const fresh = fetch('2024-06-04');
    const files = [file('2024-04-01', '2024-04-30'), file('2024-05-01', '2024-05-31'), file('2024-06-03', '2024-06-03')];
    const plan = planConsolidation({
      head: head(files, { fetches: { [old.session]: old.fetchId, [kept.session]: kept.fetchId } }),
      latest: latest(refetch, kept, fresh),
    });
    expect(plan.fetches).toEqual([refetch, fresh]);
    expect(plan.sessions).toEqual(['2024-05-31', '2024-06-04']);
    expect(plan.months).toEqual(['2024-05', '2024-06']);
    expect(plan.read).toEqual([files[1], files[2]]);
  });

  it('reads a legacy year file and a file without dates whenever they can hold a new session', () => {
    const year = file('2023-01-03', '2023-12-29', 'year');
    const undated = file(null, null, 'undated');
    const other = file('2024-01-02', '2024-01-31');
    const plan = planConsolidation({ head: head([year, undated, other]), latest: latest(fetch('2023-07-03')) });
    expect(plan.read).toEqual([year, undated]);
  });

  it('replaces the quarantine files of the planned sessions only', () => {
    const a = fetch('2024-06-03');
    const plan = planConsolidation({
      head: head([], { fetches: { [a.session]: a.fetchId } }, [quarantine('2024-06-03'), quarantine('2024-06-04')]),
      latest: latest(a, fetch('2024-06-04')),
    });
    expect(plan.replacedQuarantine.map((f) => f.partition)).toEqual(['date=2024-06-04']);
  });
});

describe('planDailyRewrite', () => {
  const read = [file('2024-01-02', '2024-01-31'), file('2024-02-01', '2024-02-29')];

  it('rewrites nothing when no session changed (a refetch with the same rows)', () => {
    expect(planDailyRewrite(read, [])).toEqual({ months: [], replaced: [], spans: [] });
  });

  it('replaces only the read files of the changed months, and writes their spans and the whole months', () => {
    const rewrite = planDailyRewrite(read, ['2024-02-05', '2024-02-06']);
    expect(rewrite).toEqual({
      months: ['2024-02'],
      replaced: [read[1]],
      spans: [
        ['2024-02-01', '2024-02-29'],
        ['2024-02-01', '2024-02-29'],
      ],
    });
  });

  it('rewrites the whole span of a legacy year file, and a new month that has no file yet', () => {
    const year = file('2023-01-03', '2023-12-29', 'year');
    const rewrite = planDailyRewrite([year], ['2023-06-01', '2024-03-01']);
    expect(rewrite.replaced).toEqual([year]);
    expect(rewrite.spans).toEqual([
      ['2023-01-03', '2023-12-29'],
      ['2023-06-01', '2023-06-30'],
      ['2024-03-01', '2024-03-31'],
    ]);
  });

  it('gives a file without dates the widest span', () => {
    expect(planDailyRewrite([file(null, null)], ['2024-06-03']).spans[0]).toEqual(['1990-01-01', '2100-12-31']);
  });
});

describe('nextDailyMeta', () => {
  it('records the consolidated fetch ids, the changed sessions and the latest session', () => {
    const prev = dailyMeta(head([], { fetches: { '2024-06-03': 'a' }, latestSession: '2024-06-03', recentRows: [['2024-06-03', 100]] }));
    const plan = planConsolidation({ head: null, latest: latest(fetch('2024-06-03', 2), fetch('2024-06-04')) });
    const meta = nextDailyMeta(prev, plan, new Map([['2024-06-03', 99], ['2024-06-04', 101]]), ['2024-06-04']);
    expect(meta).toEqual({
      fetches: { '2024-06-03': fetch('2024-06-03', 2).fetchId, '2024-06-04': fetch('2024-06-04').fetchId },
      changedSessions: ['2024-06-04'],
      latestSession: '2024-06-04',
      recentRows: [
        ['2024-06-03', 99],
        ['2024-06-04', 101],
      ],
    });
  });

  it(`keeps the accepted rows of the latest ${TRAILING_SESSIONS} sessions only, oldest first`, () => {
    const recentRows: Array<[string, number]> = Array.from({ length: TRAILING_SESSIONS }, (_, i) => [`2024-05-${String(i + 1).padStart(2, '0')}`, i]);
    const prev = dailyMeta(head([], { recentRows }));
    const meta = nextDailyMeta(prev, { fetches: [fetch('2024-06-03')], sessions: ['2024-06-03'] }, new Map(), []);
    expect(meta.recentRows).toHaveLength(TRAILING_SESSIONS);
    expect(meta.recentRows[0]).toEqual(['2024-05-02', 1]);
    // A session with no accepted rows counts 0.
    expect(meta.recentRows.at(-1)).toEqual(['2024-06-03', 0]);
  });
});
