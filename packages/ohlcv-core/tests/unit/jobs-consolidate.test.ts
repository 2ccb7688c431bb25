import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigError, DataQualityError } from '../../src/errors.js';
import { openLake, type Lake } from '../../src/lake.js';
import { consolidateLake } from '../../src/jobs.js';
import { isoColumn } from '../helpers/frames.js';
import { bar, writeOhlcv, writeSplits, writeTickers } from '../helpers/raw.js';
import { tempDir } from '../helpers/temp.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});
async function freshLake(): Promise<Lake> {
  const { dir, cleanup } = await tempDir('fibbars-jobs');
  cleanups.push(cleanup);
  return openLake(dir);
}

const TICKERS = Array.from({ length: 120 }, (_, i) => `T${String(i).padStart(3, '0')}`);
const sessionBars = (seed: number) => TICKERS.map((t, i) => bar(t, 10 + i + seed / 10, 1000 + i));

/** Three sessions across a year boundary; 2023-12-29 holds one bad row (open 0). */
async function seed(lake: Lake): Promise<void> {
  await writeOhlcv(lake.raw, '2023-12-28', sessionBars(1));
  await writeOhlcv(lake.raw, '2023-12-29', [...sessionBars(2), { ...bar('BAD', 5), o: 0 }]);
  await writeOhlcv(lake.raw, '2024-01-02', sessionBars(3));
}

describe('consolidateLake', () => {
  it('consolidates new raw sessions into year partitions, quarantining bad rows with their reason', async () => {
    const lake = await freshLake();
    await seed(lake);
    const report = await consolidateLake(lake, { runId: 'r1' });
    expect(report).toMatchObject({
      status: 'committed',
      sessions: ['2023-12-28', '2023-12-29', '2024-01-02'],
      rows: { received: 361, accepted: 360, quarantined: 1, collapsed: 0 },
      partitionsWritten: ['year=2023', 'year=2024'],
      quarantineFiles: 1,
      latestSession: '2024-01-02',
      versions: { ohlcv_1d: { version: 1, committed: true } },
    });
    const daily = await lake.read('ohlcv_1d');
    expect(daily.height).toBe(360);
    expect(new Set(isoColumn(daily, 'date'))).toEqual(new Set(['2023-12-28', '2023-12-29', '2024-01-02']));
    const q = await lake.readQuarantine();
    expect(q.getColumn('ticker').toArray()).toEqual(['BAD']);
    expect(q.getColumn('reason').toArray()).toEqual(['non-positive-price']);
  });

  it('commits nothing when re-run with nothing new', async () => {
    const lake = await freshLake();
    await seed(lake);
    await consolidateLake(lake, { runId: 'r1' });
    const again = await consolidateLake(lake, { runId: 'r2' });
    expect(again).toMatchObject({ status: 'no-change', sessions: [], partitionsWritten: [], versions: { ohlcv_1d: { version: 1, committed: false } } });
    expect((await lake.history('ohlcv_1d')).length).toBe(1);
  });

  it('replaces exactly one session on a refetch and rewrites only its year partition', async () => {
    const lake = await freshLake();
    await seed(lake);
    await consolidateLake(lake, { runId: 'r1' });
    const before = await lake.read('ohlcv_1d');
    const v1 = (await lake.head('ohlcv_1d'))!;
    const corrected = sessionBars(1).map((b) => (b.T === 'T005' ? { ...b, c: 15.5, h: 16 } : b));
    await writeOhlcv(lake.raw, '2023-12-28', corrected);
    const report = await consolidateLake(lake, { runId: 'r2' });
    expect(report.sessions).toEqual(['2023-12-28']);
    expect(report.partitionsWritten).toEqual(['year=2023']);
    const v2 = (await lake.head('ohlcv_1d'))!;
    expect(v2.meta.changedSessions).toEqual(['2023-12-28']);
    expect(v2.files.find((f) => f.partition === 'year=2024')?.path).toBe(v1.files.find((f) => f.partition === 'year=2024')?.path);
    const after = await lake.read('ohlcv_1d');
    expect(after.height).toBe(before.height);
    // Everything but the corrected row is identical.
    const diff = after.join(before, { on: ['ticker', 'date'], suffix: '_old' });
    const changed = diff.filter(diff.getColumn('close').neq(diff.getColumn('close_old')));
    expect(changed.getColumn('ticker').toArray()).toEqual(['T005']);
    expect(isoColumn(changed, 'date')).toEqual(['2023-12-28']);
  });

  it('keeps a month of daily rows per file: a new session reads and rewrites its month only', async () => {
    const lake = await freshLake();
    await writeOhlcv(lake.raw, '2023-11-29', sessionBars(7));
    await writeOhlcv(lake.raw, '2023-11-30', sessionBars(8));
    await seed(lake);
    await consolidateLake(lake, { runId: 'r1' });
    const v1 = (await lake.head('ohlcv_1d'))!;
    v1.files.sort((a, b) => (a.minDate! < b.minDate! ? -1 : 1));
    expect(v1.files.map((f) => [f.minDate, f.maxDate])).toEqual([
      ['2023-11-29', '2023-11-30'],
      ['2023-12-28', '2023-12-29'],
      ['2024-01-02', '2024-01-02'],
    ]);
    await writeOhlcv(lake.raw, '2023-12-27', sessionBars(9));
    await consolidateLake(lake, { runId: 'r2' });
    const v2 = (await lake.head('ohlcv_1d'))!;
    const paths = (c: typeof v1) => c.files.map((f) => f.path);
    // November and January keep their files; December is rewritten with the new session.
    expect(paths(v2).filter((p) => paths(v1).includes(p)).sort()).toEqual([v1.files[0]!.path, v1.files[2]!.path].sort());
    expect(v2.files.map((f) => [f.minDate, f.maxDate])).toContainEqual(['2023-12-27', '2023-12-29']);
  });

  it('records a refetch with identical data without rewriting any partition', async () => {
    const lake = await freshLake();
    await seed(lake);
    await consolidateLake(lake, { runId: 'r1' });
    await writeOhlcv(lake.raw, '2024-01-02', sessionBars(3));
    const report = await consolidateLake(lake, { runId: 'r2' });
    expect(report.sessions).toEqual(['2024-01-02']);
    expect(report.partitionsWritten).toEqual([]);
    expect((await consolidateLake(lake, { runId: 'r3' })).status).toBe('no-change');
  });

  it('fails with DataQualityError and writes nothing when a session rejects too many rows', async () => {
    const lake = await freshLake();
    await seed(lake);
    await consolidateLake(lake, { runId: 'r1' });
    const silverBefore = (await lake.store.list('silver/')).map((o) => o.key);
    const bad = sessionBars(4).map((b, i) => (i < 5 ? { ...b, h: (b.l ?? 1) / 2 } : b));
    await writeOhlcv(lake.raw, '2024-01-03', bad);
    await expect(consolidateLake(lake, { runId: 'r2' })).rejects.toBeInstanceOf(DataQualityError);
    expect((await lake.head('ohlcv_1d'))?.version).toBe(1);
    expect((await lake.store.list('silver/')).map((o) => o.key)).toEqual(silverBefore);
    expect(await lake.store.list('quarantine/ohlcv/date=2024-01-03/')).toEqual([]);
    // A laxer threshold lets it through.
    const ok = await consolidateLake(lake, { runId: 'r3', maxRejectedShare: 0.05 });
    expect(ok.rows.quarantined).toBe(5);
  });

  it('fails with DataQualityError when a session has fewer than half the trailing median rows', async () => {
    const lake = await freshLake();
    await seed(lake);
    await consolidateLake(lake, { runId: 'r1' });
    await writeOhlcv(lake.raw, '2024-01-03', sessionBars(4).slice(0, 50));
    await expect(consolidateLake(lake, { runId: 'r2' })).rejects.toThrow(/trailing median/);
  });

  it('maintains the splits and tickers datasets from the raw zone', async () => {
    const lake = await freshLake();
    await seed(lake);
    await writeSplits(lake.raw, '2024-01-02', [{ ticker: 'T001', execution_date: '2024-01-02', split_from: 1, split_to: 4 }]);
    await writeTickers(lake.raw, '2024-01-02', [
      { ticker: 'T000', name: 'Zero', active: true },
      { ticker: 'T001', name: 'One', active: true },
    ]);
    const r1 = await consolidateLake(lake, { runId: 'r1' });
    expect(r1).toMatchObject({ splitsAdded: 1, tickersRows: 2, versions: { splits: { version: 1 }, tickers: { version: 1 } } });
    await writeSplits(lake.raw, '2024-01-03', [{ ticker: 'T002', execution_date: '2024-01-03', split_from: 10, split_to: 1 }]);
    const r2 = await consolidateLake(lake, { runId: 'r2' });
    expect(r2).toMatchObject({ splitsAdded: 1, tickersRows: null, versions: { splits: { version: 2, committed: true }, tickers: { committed: false } } });
    const splits = await lake.read('splits');
    expect(splits.getColumn('ticker').toArray()).toEqual(['T001', 'T002']);
    expect((await lake.head('splits'))?.meta.changedTickers).toEqual(['T002']);
    expect((await lake.read('tickers')).getColumn('name').toArray()).toEqual(['Zero', 'One']);
    expect((await consolidateLake(lake, { runId: 'r3' })).status).toBe('no-change');
  });

  it('rejects a missing run id or an out-of-range threshold with ConfigError before reading anything', async () => {
    const lake = await freshLake();
    await expect(consolidateLake(lake, { runId: '' })).rejects.toBeInstanceOf(ConfigError);
    await expect(consolidateLake(lake, { runId: 'r', maxRejectedShare: 1.5 })).rejects.toThrow(/maxRejectedShare/);
  });

  it('reports no change on an empty lake', async () => {
    const report = await consolidateLake(await freshLake(), { runId: 'r' });
    expect(report).toMatchObject({ status: 'no-change', sessions: [], latestSession: null, versions: { ohlcv_1d: { version: null, committed: false } } });
  });
});
