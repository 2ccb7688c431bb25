import { afterAll, describe, expect, it } from '@jest/globals';
import { readdir, utimes } from 'node:fs/promises';
import * as path from 'node:path';
import { CommitConflictError, ConfigError } from '../../src/errors.js';
import { Lake, commitKey, isDataset, openLake } from '../../src/lake.js';
import { hasSchema, SILVER_DAILY_SCHEMA, BAR_SCHEMA } from '../../src/schemas.js';
import { dailyFrame, isoColumn } from '../helpers/frames.js';
import { tempDir } from '../helpers/temp.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});
async function freshLake(): Promise<{ lake: Lake; root: string }> {
  const { dir, cleanup } = await tempDir('fibbars-lake');
  cleanups.push(cleanup);
  return { lake: openLake(dir), root: dir };
}

const v1Rows = [
  { ticker: 'AAA', date: '2023-12-28' },
  { ticker: 'AAA', date: '2023-12-29' },
  { ticker: 'AAA', date: '2024-01-02' },
  { ticker: 'BBB', date: '2024-01-02' },
];

describe('Lake commits and reads', () => {
  it('reads an empty dataset as an empty frame with its schema', async () => {
    const { lake } = await freshLake();
    expect(await lake.head('ohlcv_1d')).toBeNull();
    const df = await lake.read('ohlcv_1d');
    expect(df.height).toBe(0);
    expect(hasSchema(df, SILVER_DAILY_SCHEMA)).toBe(true);
    expect(hasSchema(await lake.read('ohlcv_5d'), BAR_SCHEMA)).toBe(true);
  });

  it('writes year partitions under unique names and reads the committed version back', async () => {
    const { lake } = await freshLake();
    const files = await lake.writeFiles('ohlcv_1d', dailyFrame(v1Rows));
    expect(files.map((f) => f.partition)).toEqual(['year=2023', 'year=2024']);
    expect(files[0]?.path).toMatch(/^silver\/ohlcv_1d\/year=2023\/part-[0-9a-f-]{36}\.parquet$/);
    expect(files.map((f) => [f.rows, f.minDate, f.maxDate])).toEqual([
      [2, '2023-12-28', '2023-12-29'],
      [2, '2024-01-02', '2024-01-02'],
    ]);
    // Written but not committed: invisible.
    expect((await lake.read('ohlcv_1d')).height).toBe(0);
    const c1 = await lake.commit('ohlcv_1d', { parent: 0, files, runId: 'r1', meta: { note: 'first' } });
    expect(c1).toMatchObject({ version: 1, parent: 0, runId: 'r1', meta: { note: 'first' } });
    const df = await lake.read('ohlcv_1d');
    expect(hasSchema(df, SILVER_DAILY_SCHEMA)).toBe(true);
    expect(df.getColumn('ticker').toArray()).toEqual(['AAA', 'AAA', 'AAA', 'BBB']);
    expect(isoColumn(df, 'date')).toEqual(['2023-12-28', '2023-12-29', '2024-01-02', '2024-01-02']);
  });

  it('filters by tickers and date range, pruning files outside the range', async () => {
    const { lake } = await freshLake();
    const files = await lake.writeFiles('ohlcv_1d', dailyFrame(v1Rows));
    await lake.commit('ohlcv_1d', { parent: 0, files, runId: 'r1' });
    expect(isoColumn(await lake.read('ohlcv_1d', { from: '2024-01-01' }), 'date')).toEqual(['2024-01-02', '2024-01-02']);
    expect(isoColumn(await lake.read('ohlcv_1d', { to: '2023-12-28' }), 'date')).toEqual(['2023-12-28']);
    expect((await lake.read('ohlcv_1d', { tickers: ['BBB'] })).getColumn('ticker').toArray()).toEqual(['BBB']);
    expect((await lake.read('ohlcv_1d', { tickers: ['ZZZ'] })).height).toBe(0);
  });

  it('keeps every version readable: replacing a partition makes a new head and the old version still reads', async () => {
    const { lake } = await freshLake();
    const files1 = await lake.writeFiles('ohlcv_1d', dailyFrame(v1Rows));
    const c1 = await lake.commit('ohlcv_1d', { parent: 0, files: files1, runId: 'r1' });
    const old2024 = c1.files.filter((f) => f.partition === 'year=2024').map((f) => f.path);
    const files2 = await lake.writeFiles(
      'ohlcv_1d',
      dailyFrame([...v1Rows.filter((r) => r.date.startsWith('2024')), { ticker: 'AAA', date: '2024-01-03', close: 10.9 }]),
    );
    const c2 = await lake.commit('ohlcv_1d', { parent: 1, files: files2, removed: old2024, runId: 'r2' });
    expect(c2.version).toBe(2);
    expect(c2.files.map((f) => f.partition)).toEqual(['year=2023', 'year=2024']);
    expect((await lake.read('ohlcv_1d')).height).toBe(5);
    expect((await lake.read('ohlcv_1d', { version: 1 })).height).toBe(4);
    expect((await lake.head('ohlcv_1d'))?.version).toBe(2);
    expect((await lake.history('ohlcv_1d')).map((c) => c.version)).toEqual([1, 2]);
    expect((await lake.commitsSince('ohlcv_1d', 1)).map((c) => c.version)).toEqual([2]);
    await expect(lake.read('ohlcv_1d', { version: 7 })).rejects.toThrow(/has no version 7/);
  });

  it('throws CommitConflictError when the version exists and leaves the winner in place', async () => {
    const { lake } = await freshLake();
    const a = await lake.writeFiles('ohlcv_1d', dailyFrame(v1Rows.slice(0, 1)));
    const b = await lake.writeFiles('ohlcv_1d', dailyFrame(v1Rows.slice(1, 2)));
    await lake.commit('ohlcv_1d', { parent: 0, files: a, runId: 'winner' });
    await expect(lake.commit('ohlcv_1d', { parent: 0, files: b, runId: 'loser' })).rejects.toBeInstanceOf(CommitConflictError);
    expect((await lake.head('ohlcv_1d'))?.runId).toBe('winner');
    expect(isoColumn(await lake.read('ohlcv_1d'), 'date')).toEqual(['2023-12-28']);
  });

  it('rejects unknown datasets, bad dates and keys escaping the root with ConfigError', async () => {
    const { lake } = await freshLake();
    // @ts-expect-error not a dataset name: refused by the type too
    await expect(lake.read('../etc')).rejects.toBeInstanceOf(ConfigError);
    // @ts-expect-error a typo of a dataset name does not compile (and is refused at run time)
    await expect(lake.read('ohlcv_1w')).rejects.toThrow('unknown dataset "ohlcv_1w": use ohlcv_1d, ohlcv_<N>d, splits, dividends, tickers or ticker_history');
    expect(['ohlcv_1d', 'ohlcv_34d', 'splits', 'tickers', 'ohlcv_1w', 'ohlcv_0d', '../etc'].filter(isDataset)).toEqual(['ohlcv_1d', 'ohlcv_34d', 'splits', 'tickers']);
    await expect(lake.read('ohlcv_1d', { from: '2024-13-01' })).rejects.toBeInstanceOf(ConfigError);
    await expect(lake.store.put('../outside.txt', 'x')).rejects.toBeInstanceOf(ConfigError);
    expect(() => openLake('ftp://host/x')).toThrow(ConfigError);
    expect(commitKey('ohlcv_1d', 12)).toBe('_commits/ohlcv_1d/00000000000000000012.json');
  });

  it('stores quarantine files per session and carries them forward', async () => {
    const { lake } = await freshLake();
    const { QUARANTINE_SCHEMA } = await import('../../src/schemas.js');
    const pl = (await import('nodejs-polars')).default;
    const q = dailyFrame([{ ticker: 'BAD', date: '2024-01-02', open: 0 }])
      .withColumns(
        pl.lit(null).cast(QUARANTINE_SCHEMA.fetched_at!).alias('fetched_at'),
        pl.lit('f1').alias('fetch_id'),
        pl.lit('price <= 0').alias('reason'),
      )
      .select(...Object.keys(QUARANTINE_SCHEMA));
    const qf = await lake.writeQuarantine('2024-01-02', q);
    expect(qf?.path).toMatch(/^quarantine\/ohlcv\/date=2024-01-02\/part-.*\.parquet$/);
    await lake.commit('ohlcv_1d', { parent: 0, files: [], quarantine: qf ? [qf] : [], runId: 'r1' });
    await lake.commit('ohlcv_1d', { parent: 1, files: [], runId: 'r2' });
    const read = await lake.readQuarantine();
    expect(read.getColumn('reason').toArray()).toEqual(['price <= 0']);
  });
});

describe('Lake.gc', () => {
  it('removes only unreferenced files older than the grace period, and keeps recent versions readable', async () => {
    const { lake, root } = await freshLake();
    let parent = 0;
    const t0 = Date.parse('2024-01-10T00:00:00Z');
    for (let i = 0; i < 4; i += 1) {
      const files = await lake.writeFiles('ohlcv_1d', dailyFrame([{ ticker: 'AAA', date: '2024-01-02', close: 10 + i / 10 }]));
      const head = await lake.head('ohlcv_1d');
      await lake.commit('ohlcv_1d', { parent, files, removed: head?.files.map((f) => f.path) ?? [], runId: `r${i}`, now: new Date(t0 + i * 3_600_000) });
      parent += 1;
    }
    // An orphan from a crashed writer, and a fresh file a writer is about to commit.
    const orphan = await lake.writeFiles('ohlcv_1d', dailyFrame([{ ticker: 'ZZZ', date: '2024-01-02' }]));
    const fresh = await lake.writeFiles('ohlcv_1d', dailyFrame([{ ticker: 'YYY', date: '2024-01-02' }]));
    // A temp file of a writer killed mid-write.
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(root, 'silver/ohlcv_1d/year=2024/.tmp-part-dead.parquet'), 'partial');
    const old = new Date(t0 - 86_400_000);
    await utimes(path.join(root, 'silver/ohlcv_1d/year=2024/.tmp-part-dead.parquet'), old, old);
    const history = await lake.history('ohlcv_1d');
    for (const f of [...history.flatMap((c) => c.files), ...orphan]) {
      await utimes(path.join(root, f.path), old, old);
    }
    const now = new Date(t0 + 4 * 3_600_000);
    const dry = await lake.gc({ graceMs: 30 * 60_000, keepVersions: 2, now, dryRun: true });
    const report = await lake.gc({ graceMs: 30 * 60_000, keepVersions: 2, now });
    // versions 1 and 2 fall out of retention (older than grace, not among the last 2); 3 and 4 stay.
    // The dry run listed the same files (temp files aside) and deleted none of them.
    expect(dry.deleted.sort()).toEqual(report.deleted.filter((k) => !k.includes('/.tmp-')).sort());
    expect(report.deleted.sort()).toEqual(
      [...[...history[0]!.files, ...history[1]!.files, ...orphan].map((f) => f.path), 'silver/ohlcv_1d/year=2024/.tmp-part-dead.parquet'].sort(),
    );
    expect(report.keptYoung).toBe(1);
    expect(fresh[0] && report.deleted.includes(fresh[0].path)).toBe(false);
    expect((await lake.read('ohlcv_1d', { version: 3 })).getColumn('close').toArray()).toEqual([10.2]);
    expect((await lake.read('ohlcv_1d')).getColumn('close').toArray()).toEqual([10.3]);
    await expect(lake.read('ohlcv_1d', { version: 1 })).rejects.toThrow(/no longer retained/);
    const left = await readdir(path.join(root, 'silver/ohlcv_1d/year=2024'));
    expect(left.sort()).toEqual([...history[2]!.files, ...history[3]!.files, ...fresh].map((f) => path.basename(f.path)).sort());
  });
});
