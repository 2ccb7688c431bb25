import { describe, expect, it } from '@jest/globals';
import { SyntheticSource } from '@fibbars/fetchers';
import { nyse, openLake } from '@fibbars/ohlcv-core';
import { fetchSessions } from '../../src/jobs.js';
import { createLogger, MemoryStream } from '../../src/output.js';
import { tempDir } from '../support/cli.js';

describe('fetchSessions', () => {
  // A backfill skips the sessions already in the raw zone and takes a ticker
  // snapshot only when it fetched something. Had the snapshot come last, a
  // backfill killed after its last session but before the snapshot would
  // leave its re-run nothing to fetch, and the lake without a `tickers`
  // dataset for good (tools/reliability/tests/e2e/command-kills.test.ts).
  it('writes the ticker snapshot before any session, so no kill leaves every session fetched without it', async () => {
    const work = await tempDir();
    try {
      const lake = openLake(`${work.dir}/lake`);
      const writes: string[] = [];
      const write = lake.raw.write.bind(lake.raw);
      lake.raw.write = async (kind, session, pages, meta) => {
        const out = await write(kind, session, pages, meta);
        writes.push(`${kind} ${session}`);
        return out;
      };
      const sessions = nyse.sessionsBetween('2026-07-01', '2026-07-10');
      const log = createLogger(new MemoryStream(false), new MemoryStream(false));
      const options = { refetch: false, concurrency: 4, snapshotSession: '2026-07-10', log, now: () => new Date('2026-11-26T02:00:00Z') };
      const report = await fetchSessions(lake, new SyntheticSource({ seed: 2, tickers: 10 }), sessions, options);
      expect(report.fetched).toEqual(sessions);
      // The snapshot, the range's splits and dividends, and the snapshot's ticker events come before any daily file.
      const firstDaily = writes.findIndex((w) => w.startsWith('ohlcv '));
      expect(writes.slice(0, firstDaily).sort()).toEqual(['dividends 2026-07-10', 'splits 2026-07-10', 'ticker_events 2026-07-10', 'tickers 2026-07-10']);
      expect(writes.filter((w) => w.startsWith('ohlcv ')).sort()).toEqual(sessions.map((s) => `ohlcv ${s}`));
      // Nothing left to fetch: no second snapshot.
      writes.length = 0;
      expect((await fetchSessions(lake, new SyntheticSource({ seed: 2, tickers: 10 }), sessions, options)).skipped).toEqual(sessions);
      expect(writes).toEqual([]);
    } finally {
      await work.cleanup();
    }
  });
});
