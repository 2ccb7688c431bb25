import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openLake } from '@fibbars/ohlcv-core';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { cli, tempDir } from '../support/cli.js';

interface BackfillJson {
  from: string;
  to: string;
  fetch: { requested: number; fetched: string[]; skipped: string[]; rows: number };
  consolidate: { sessions: number; accepted: number; quarantined: number };
  resample: { days: number; bars: number }[];
}

const SYN = ['--synthetic-tickers', '40'];

describe('fibbars backfill', () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  let lake: string;
  let september: BackfillJson;
  let septemberStderr: string;

  beforeAll(async () => {
    dir = await tempDir();
    lake = path.join(dir.dir, 'lake');
    const res = await cli(['backfill', '--from', '2026-09-01', '--to', '2026-09-30', '--lake', lake, '--json', ...SYN]);
    if (res.code !== 0) throw new Error(`backfill failed: ${res.stderr}`);
    september = JSON.parse(res.stdout) as BackfillJson;
    septemberStderr = res.stderr;
  }, 120_000);
  afterAll(async () => dir.cleanup());

  it('fetches every session of the range, consolidates them and builds the six intervals once', async () => {
    const sessions = nyse.sessionsBetween('2026-09-01', '2026-09-30');
    expect(september.fetch.fetched).toEqual(sessions);
    const l = openLake(lake);
    const daily = await l.read('ohlcv_1d');
    expect(september.consolidate.sessions).toBe(sessions.length);
    expect(september.consolidate.accepted).toBe(daily.height);
    expect(september.fetch.rows).toBe(daily.height + september.consolidate.quarantined);
    expect(september.resample.map((r) => r.days)).toEqual([3, 5, 8, 13, 21, 34]);
    for (const r of september.resample) expect(r.bars).toBe((await l.read(`ohlcv_${r.days}d`)).height);
    expect((await l.raw.list('tickers')).map((f) => f.session)).toEqual(['2026-09-30']);
    // The splits of the whole range: one listing, kept whole under its last session.
    const splits = await l.raw.list('splits');
    expect(splits.map((f) => f.session)).toEqual(['2026-09-30']);
    expect((await l.raw.readMeta(splits[0]!)).requests[0]!.url).toContain('execution_date.gte=2026-09-01&execution_date.lte=2026-09-30');
  });

  it('shows progress on stderr as plain lines when not a TTY', () => {
    const n = september.fetch.fetched.length;
    expect(septemberStderr).toContain(`fetching sessions: ${n}/${n} (100%`);
    // The consolidation, which a long backfill spends most of its time in, shows progress too.
    expect(septemberStderr).toContain(`consolidating sessions: ${n}/${n} (100%`);
    expect(septemberStderr).toMatch(/consolidating: validated, writing [\d,]+ rows of the daily history/);
    expect(septemberStderr).not.toContain('\r');
  });

  it('skips sessions already in the raw zone, unless --refetch', async () => {
    const again = JSON.parse((await cli(['backfill', '--from', '2026-09-01', '--to', '2026-09-30', '--lake', lake, '--json', ...SYN])).stdout) as BackfillJson;
    expect(again.fetch.fetched).toEqual([]);
    expect(again.fetch.skipped).toEqual(september.fetch.fetched);
    expect(again.consolidate.sessions).toBe(0);
    const refetch = await cli(['backfill', '--from', '2026-09-28', '--to', '2026-09-30', '--refetch', '--concurrency', '2', '--lake', lake, ...SYN], { tty: true });
    expect(refetch.code).toBe(0);
    expect(refetch.stdout).toContain('sessions: 3 in range, 3 fetched, 0 already in the raw zone');
    // A terminal gets a bar redrawn in place.
    expect(refetch.stderr).toContain('\r\x1b[2Kfetching sessions [');
  }, 60_000);

  it('leaves a gap that fibbars gaps reports, with the backfill that fixes it', async () => {
    const res = await cli(['backfill', '--from', '2026-10-15', '--to', '2026-10-30', '--lake', lake, ...SYN]);
    expect(res.code).toBe(0);
    const want = nyse.sessionsBetween('2026-10-15', '2026-10-30').length;
    expect(res.stdout).toContain(`sessions: ${want} in range, ${want} fetched, 0 already in the raw zone`);
    const gaps = JSON.parse((await cli(['gaps', '--lake', lake, '--json'])).stdout) as { missingSessions: string[]; expectedSessions: number };
    expect(gaps.missingSessions).toEqual(nyse.sessionsBetween('2026-10-01', '2026-10-14'));
    const text = await cli(['gaps', '--lake', lake]);
    expect(text.stdout).toContain(
      `sessions: ${gaps.expectedSessions} expected, ${gaps.expectedSessions - gaps.missingSessions.length} present, ${gaps.missingSessions.length} missing`,
    );
    expect(text.stdout).toContain('fix: fibbars backfill --from 2026-10-01 --to 2026-10-14');
  }, 60_000);

  it('leaves the ticker-events backfill to later runs when its budget is 0, and says how many securities are left', async () => {
    const work = await tempDir();
    try {
      const l = path.join(work.dir, 'lake');
      const env = { FIBBARS_EVENTS_BACKFILL_SECONDS: '0' };
      const res = await cli(['backfill', '--from', '2026-09-01', '--to', '2026-09-02', '--lake', l, ...SYN], { env });
      expect(res.code).toBe(0);
      const pending = /^ticker events: (\d+) securities not asked yet \(each run asks more within its budget, FIBBARS_EVENTS_BACKFILL_SECONDS\)$/m.exec(res.stdout);
      expect(Number(pending?.[1])).toBeGreaterThan(30);
      expect(await openLake(l).raw.sessions('ticker_events')).toEqual([]);
      // The default budget asks them all on the next session's backfill, and says nothing is left.
      const next = await cli(['backfill', '--from', '2026-09-03', '--to', '2026-09-03', '--lake', l, ...SYN]);
      expect(next.code).toBe(0);
      expect(next.stdout).not.toMatch(/not asked yet/);
      expect(await openLake(l).raw.sessions('ticker_events')).toEqual(['2026-09-03']);
    } finally {
      await work.cleanup();
    }
  });

  it('refuses a bad FIBBARS_EVENTS_BACKFILL_SECONDS with one line and exit 2, creating no lake', async () => {
    const work = await tempDir();
    try {
      const l = path.join(work.dir, 'lake');
      const res = await cli(['backfill', '--from', '2026-09-01', '--to', '2026-09-02', '--lake', l, ...SYN], { env: { FIBBARS_EVENTS_BACKFILL_SECONDS: '900' } });
      expect(res.code).toBe(2);
      expect(res.stderr.trim().split('\n')).toEqual(['fibbars: ConfigError: FIBBARS_EVENTS_BACKFILL_SECONDS="900" must be an integer from 0 to 840']);
      expect(existsSync(l)).toBe(false);
    } finally {
      await work.cleanup();
    }
  });

  it("refuses today's session before it has closed, with one line and exit 2, creating no lake", async () => {
    const fresh = path.join(dir.dir, 'untouched-today');
    // 2026-12-01 at 10:00 in New York: today is not the future, but its bars do not exist yet.
    const res = await cli(['backfill', '--from', '2026-11-30', '--to', '2026-12-01', '--lake', fresh], { now: new Date('2026-12-01T15:00:00Z') });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: --to 2026-12-01 is after the latest closed session 2026-11-30: pass --to 2026-11-30 or earlier\n');
    expect(existsSync(fresh)).toBe(false);
  });

  it.each([
    [['--from', '2026-10-02', '--to', '2026-10-01'], 'fibbars: --from 2026-10-02 is after --to 2026-10-01: swap them\n'],
    [['--from', '2026-11-02', '--to', '2026-12-31'], 'fibbars: --to 2026-12-31 is in the future (today is 2026-11-25 in New York): pass --to 2026-11-25 or earlier\n'],
    [['--from', '2027-01-04', '--to', '2027-01-08'], 'fibbars: --from 2027-01-04 is in the future (today is 2026-11-25 in New York): pass --from 2026-11-25 or earlier\n'],
    [['--from', '2026-11-02', '--to', '2026-11-31'], 'fibbars: --to "2026-11-31" is not a date: use YYYY-MM-DD, e.g. --to 2026-11-25\n'],
    [['--from', '2026-11-21', '--to', '2026-11-22'], 'fibbars: no NYSE session between 2026-11-21 and 2026-11-22: widen the range\n'],
    [['--from', '2026/11/02', '--to', '2026-11-03'], 'fibbars: --from "2026/11/02" is not a date: use YYYY-MM-DD, e.g. --from 2026-11-25\n'],
    [['--from', '2026-11-02'], 'fibbars: required option \'--to <date>\' not specified (see "fibbars backfill --help")\n'],
  ])('refuses %j with one line and exit 2, creating no lake', async (args, message) => {
    const fresh = path.join(dir.dir, 'untouched');
    const res = await cli(['backfill', ...args, '--lake', fresh]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(message);
    expect(existsSync(fresh)).toBe(false);
  });
});
