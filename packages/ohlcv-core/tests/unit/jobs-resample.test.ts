import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { cp } from 'node:fs/promises';
import * as path from 'node:path';
import { sessionsBetween } from '../../src/calendar.js';
import { ConfigError } from '../../src/errors.js';
import { consolidateLake } from '../../src/jobs.js';
import { resampleLake } from '../../src/resample-lake.js';
import pl from 'nodejs-polars';
import { openLake, type Commit, type Lake } from '../../src/lake.js';
import { resample } from '../../src/resample.js';
import { frameDifference, framesEqual } from '../helpers/lake-checks.js';
import { bar, writeOhlcv, writeSplits, type RawBar } from '../helpers/raw.js';
import { tempDir } from '../helpers/temp.js';
import { mulberry32 } from '@fibbars/testing/random';

// Lake jobs on many tiny windows: generous per-test limits so a loaded CI machine cannot time them out (no speed is asserted).
jest.setTimeout(180_000);

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});
async function freshDir(): Promise<string> {
  const { dir, cleanup } = await tempDir('fibbars-resample');
  cleanups.push(cleanup);
  return dir;
}

const INTERVALS = [3, 5, 8];
const SESSIONS = sessionsBetween('2023-11-01', '2024-01-10');
const TICKERS = Array.from({ length: 40 }, (_, i) => `R${String(i).padStart(2, '0')}`);

/** Deterministic bars; R01 lists late, R02 delists early, so tickers cover different ranges. */
function barsFor(session: string, k: number, variant = 0): RawBar[] {
  return TICKERS.filter((t) => !(t === 'R01' && session < '2023-12-01') && !(t === 'R02' && session > '2023-12-15')).map((t, i) =>
    bar(t, 10 + i + Math.sin(k + i) * 2 + variant, 1000 + ((k * 37 + i * 11) % 500)),
  );
}

/** The reference: the whole daily head resampled at once. */
async function fullRebuild(lake: Lake, days: number, anchor: 'calendar' | 'ticker' = 'calendar') {
  const daily = await lake.read('ohlcv_1d');
  const splits = await lake.read('splits');
  const latest = (await lake.head('ohlcv_1d'))?.meta.latestSession as string;
  return resample(daily, { days, anchor, splits, asOf: latest }).sort(['ticker', 'start_date']);
}

async function seedLake(dir: string, upTo: number): Promise<Lake> {
  const lake = openLake(dir);
  for (const [k, s] of SESSIONS.slice(0, upTo).entries()) await writeOhlcv(lake.raw, s, barsFor(s, k));
  await consolidateLake(lake, { runId: 'seed' });
  return lake;
}

describe('resampleLake', () => {
  it('builds every interval in full on the first run, in chunks of whole buckets, equal to resampling the whole history', async () => {
    const lake = await seedLake(await freshDir(), 40);
    // About a week of sessions per chunk: many chunks, each resampled on its own.
    const report = await resampleLake(lake, { days: INTERVALS, runId: 'r1'});
    expect(report.status).toBe('committed');
    expect(report.intervals.map((i) => [i.days, i.mode, i.sourceVersion, i.version])).toEqual(INTERVALS.map((d) => [d, 'full', 1, 1]));
    for (const days of INTERVALS) {
      expect(frameDifference(await lake.read(`ohlcv_${days}d`), await fullRebuild(lake, days))).toBeNull();
    }
    const again = await resampleLake(lake, { days: INTERVALS, runId: 'r2' });
    expect(again.status).toBe('no-change');
    expect(again.intervals.every((i) => i.mode === 'no-change' && !i.committed)).toBe(true);
  });

  it('drops each window of a full build as it goes: a reclaim for its rows, and one per bar frame written', async () => {
    const lake = await seedLake(await freshDir(), SESSIONS.length);
    let reclaims = 0;
    const report = await resampleLake(lake, { days: INTERVALS, runId: 'r1', reclaim: () => (reclaims += 1) });
    const years = new Set(report.intervals.flatMap((i) => i.partitionsWritten));
    // The history spans a year boundary, so the build has more than one window.
    expect(years.size).toBeGreaterThan(1);
    const framesWritten = report.intervals.reduce((n, i) => n + i.partitionsWritten.length, 0);
    expect(reclaims).toBe(years.size + framesWritten);
    for (const days of INTERVALS) {
      expect(frameDifference(await lake.read(`ohlcv_${days}d`), await fullRebuild(lake, days))).toBeNull();
    }
  });

  it('recomputes only the buckets of new and refetched sessions and the history of a split ticker, ending equal to a full rebuild', async () => {
    const dir = await freshDir();
    const lake = await seedLake(dir, 40);
    await resampleLake(lake, { days: INTERVALS, runId: 'r1' });
    const before = new Map<number, Awaited<ReturnType<Lake['head']>>>();
    for (const d of INTERVALS) before.set(d, await lake.head(`ohlcv_${d}d`));

    // Day by day over a year boundary, then a refetch of an old session and a split.
    for (const [k, s] of SESSIONS.slice(40, 43).entries()) {
      await writeOhlcv(lake.raw, s, barsFor(s, 40 + k));
      await consolidateLake(lake, { runId: `day-${s}` });
      const report = await resampleLake(lake, { days: INTERVALS, runId: `resample-${s}` });
      expect(report.intervals.every((i) => i.mode === 'incremental')).toBe(true);
    }
    const old = SESSIONS[10]!;
    await writeOhlcv(lake.raw, old, barsFor(old, 10, 0.5));
    await writeSplits(lake.raw, SESSIONS[42]!, [{ ticker: 'R07', execution_date: SESSIONS[20]!, split_from: 1, split_to: 4 }]);
    await consolidateLake(lake, { runId: 'refetch' });
    const report = await resampleLake(lake, { days: INTERVALS, runId: 'after-refetch' });
    for (const i of report.intervals) {
      expect(i).toMatchObject({ mode: 'incremental', tickersRecomputed: ['R07'], committed: true });
      // Two changed sessions: at most two buckets (one bucket when both fall in the same one).
      expect(i.bucketsRecomputed).toBeGreaterThanOrEqual(1);
      expect(i.bucketsRecomputed).toBeLessThanOrEqual(2);
    }
    for (const days of INTERVALS) {
      const incremental = await lake.read(`ohlcv_${days}d`);
      expect({ days, difference: frameDifference(incremental, await fullRebuild(lake, days)) }).toEqual({ days, difference: null });
    }

    // The same lake resampled from scratch gives the same frames.
    const copy = path.join(await freshDir(), 'copy');
    await cp(dir, copy, { recursive: true });
    const scratch = openLake(copy);
    for (const d of INTERVALS) for (const { key } of await scratch.store.list(`_commits/ohlcv_${d}d/`)) await scratch.store.delete(key);
    await resampleLake(scratch, { days: INTERVALS, runId: 'scratch' });
    for (const days of INTERVALS) {
      expect(framesEqual(await scratch.read(`ohlcv_${days}d`), await lake.read(`ohlcv_${days}d`))).toBe(true);
    }
    expect((await resampleLake(lake, { days: INTERVALS, runId: 'noop' })).status).toBe('no-change');
  });

  it('rewrites only the year partitions holding changed buckets', async () => {
    const lake = await seedLake(await freshDir(), 44);
    await resampleLake(lake, { days: 5, runId: 'r1' });
    const v1 = (await lake.head('ohlcv_5d'))!;
    const s = SESSIONS[44]!; // January 2024
    await writeOhlcv(lake.raw, s, barsFor(s, 44));
    await consolidateLake(lake, { runId: 'day' });
    const report = await resampleLake(lake, { days: 5, runId: 'r2' });
    expect(report.intervals[0]?.partitionsWritten).toEqual(['year=2024']);
    const v2 = (await lake.head('ohlcv_5d'))!;
    const paths2023 = (c: typeof v1) => c.files.filter((f) => f.partition === 'year=2023').map((f) => f.path);
    expect(paths2023(v2)).toEqual(paths2023(v1));
  });

  it('on a split day rewrites only the files of the new buckets: bars before the split keep their files and read adjusted', async () => {
    const dir = await freshDir();
    // Thirty sessions, all in 2023: the latest year is stored in month-sized blocks.
    const lake = await seedLake(dir, 30);
    await resampleLake(lake, { days: INTERVALS, runId: 'r1', gcGraceMs: false });
    const v1 = new Map<number, Commit>();
    for (const d of INTERVALS) v1.set(d, (await lake.head(`ohlcv_${d}d`))!);
    const s = SESSIONS[30]!;
    await writeOhlcv(lake.raw, s, barsFor(s, 30));
    // Executed on the new session: a 2-for-1 and a 1-for-4 reverse split.
    await writeSplits(lake.raw, s, [
      { ticker: 'R07', execution_date: s, split_from: 1, split_to: 2 },
      { ticker: 'R09', execution_date: s, split_from: 4, split_to: 1 },
    ]);
    await consolidateLake(lake, { runId: 'split-day' });
    const report = await resampleLake(lake, { days: INTERVALS, runId: 'r2', gcGraceMs: false });
    for (const i of report.intervals) {
      const before = v1.get(i.days)!;
      const after = (await lake.head(`ohlcv_${i.days}d`))!;
      expect(i).toMatchObject({ mode: 'incremental', tickersRecomputed: [] });
      // At most two buckets (the new session's and the previous latest session's) for every ticker.
      expect(i.bucketsRecomputed).toBeLessThanOrEqual(2);
      const kept = after.files.filter((f) => before.files.some((b) => b.path === f.path));
      const total = before.files.reduce((n, f) => n + f.bytes, 0);
      expect(kept.length).toBeGreaterThan(0);
      expect(i.bytesWritten).toBeLessThan(total / 2);
      expect(frameDifference(await lake.read(`ohlcv_${i.days}d`), await fullRebuild(lake, i.days))).toBeNull();
    }
    // Stored bars before the split stay on their own basis; the reader divides by 2 (R07) and multiplies by 4 (R09).
    const stored = await lake.readCommitFiles('ohlcv_5d', (await lake.head('ohlcv_5d'))!.files, { tickers: ['R07', 'R09'] });
    const read = await lake.read('ohlcv_5d', { tickers: ['R07', 'R09'] });
    const first = (df: typeof read, t: string) => df.filter(pl.col('ticker').eq(pl.lit(t))).sort('start_date').row(0);
    const closeAt = read.columns.indexOf('close');
    expect((first(read, 'R07')[closeAt] as number) * 2).toBeCloseTo(first(stored, 'R07')[closeAt] as number, 9);
    expect((first(read, 'R09')[closeAt] as number) / 4).toBeCloseTo(first(stored, 'R09')[closeAt] as number, 9);
  });

  it('recomputes only the straddling bar of a ticker whose split is reported late, inside a bar', async () => {
    const lake = await seedLake(await freshDir(), 40);
    await resampleLake(lake, { days: INTERVALS, runId: 'r1' });
    const s = SESSIONS[40]!;
    await writeOhlcv(lake.raw, s, barsFor(s, 40));
    await writeSplits(lake.raw, s, [{ ticker: 'R11', execution_date: SESSIONS[21]!, split_from: 1, split_to: 3 }]);
    await consolidateLake(lake, { runId: 'late-split' });
    const report = await resampleLake(lake, { days: INTERVALS, runId: 'r2' });
    for (const i of report.intervals) {
      expect(i.tickersRecomputed).toEqual(['R11']);
      expect(frameDifference(await lake.read(`ohlcv_${i.days}d`), await fullRebuild(lake, i.days))).toBeNull();
    }
  });

  it('withdraws a split a newer listing of its date no longer holds, recomputing only that ticker, equal to a full rebuild', async () => {
    const lake = await seedLake(await freshDir(), 40);
    const s = SESSIONS[30]!;
    const day = { from: s, to: s };
    await writeSplits(lake.raw, s, [{ ticker: 'R07', execution_date: s, split_from: 1, split_to: 4 }], day);
    await consolidateLake(lake, { runId: 'split' });
    await resampleLake(lake, { days: INTERVALS, runId: 'r1' });
    expect((await lake.read('splits')).height).toBe(1);
    // The vendor's listing of the same date, fetched again, no longer holds it (a split reported in error).
    await writeSplits(lake.raw, s, [], day);
    const consolidated = await consolidateLake(lake, { runId: 'withdrawn' });
    expect(consolidated).toMatchObject({ splitsAdded: 0, splitsWithdrawn: 1, withdrawalsRefused: [] });
    expect((await lake.read('splits')).height).toBe(0);
    expect((await lake.head('splits'))!.meta).toMatchObject({ changedTickers: ['R07'], changed: [['R07', s]] });
    const report = await resampleLake(lake, { days: INTERVALS, runId: 'r2' });
    for (const i of report.intervals) {
      expect(i.tickersRecomputed).toEqual(['R07']);
      expect(frameDifference(await lake.read(`ohlcv_${i.days}d`), await fullRebuild(lake, i.days))).toBeNull();
    }
  });

  it('refuses to withdraw most of a range a listing answered for (a lossy answer, not a correction), adds its rows, and reports it', async () => {
    const lake = await seedLake(await freshDir(), 40);
    const range = { from: SESSIONS[0]!, to: SESSIONS[39]! };
    const many = TICKERS.slice(0, 12).map((ticker, k) => ({ ticker, execution_date: SESSIONS[2 * k + 5]!, split_from: 1, split_to: 2 }));
    await writeSplits(lake.raw, SESSIONS[39]!, many, range);
    await consolidateLake(lake, { runId: 'splits' });
    // A later answer for the whole range that lost all but one of them, and adds one.
    const extra = { ticker: 'R30', execution_date: SESSIONS[33]!, split_from: 3, split_to: 1 };
    const lossy = await writeSplits(lake.raw, SESSIONS[39]!, [many[0]!, extra], range);
    const report = await consolidateLake(lake, { runId: 'lossy' });
    expect(report).toMatchObject({ splitsAdded: 1, splitsWithdrawn: 0, withdrawalsRefused: [{ dataset: 'splits', session: SESSIONS[39], fetchId: lossy.fetchId, rows: 11, of: 12 }] });
    expect((await lake.read('splits')).height).toBe(13);
  });

  it('ends with a gc: once the grace period has passed, the dataset folder holds exactly the head files and rows', async () => {
    const dir = await freshDir();
    const lake = await seedLake(dir, 30);
    await resampleLake(lake, { days: INTERVALS, runId: 'r1', gcGraceMs: 0 });
    for (const [k, s] of SESSIONS.slice(30, 33).entries()) {
      await writeOhlcv(lake.raw, s, barsFor(s, 30 + k));
      await consolidateLake(lake, { runId: `day-${s}`, gcGraceMs: 0 });
      const report = await resampleLake(lake, { days: INTERVALS, runId: `r-${s}`, gcGraceMs: 0 });
      expect(report.gcDeleted).toBeGreaterThan(0);
    }
    for (const dataset of [...INTERVALS.map((d) => `ohlcv_${d}d`), 'ohlcv_1d']) {
      const head = (await lake.head(dataset))!;
      const listed = (await lake.store.list(`silver/${dataset}/`)).map((o) => o.key).sort();
      expect(listed).toEqual(head.files.map((f) => f.path).sort());
      const globbed = await pl.scanParquet(path.join(dir, 'silver', dataset, '**', '*.parquet')).collect();
      expect(globbed.height).toBe(head.files.reduce((n, f) => n + f.rows, 0));
    }
  });

  it('after a seeded random run of days with splits, late splits, corrections and refetches, equals a full rebuild every day', async () => {
    const seed = Number(process.env.FIBBARS_TEST_SEED ?? 20261201);
    console.log(`random daily runs: seed ${seed} (set FIBBARS_TEST_SEED to replay)`);
    const random = mulberry32(seed);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const ratios: Array<[number, number]> = [[1, 2], [2, 3], [4, 1], [1, 10], [3, 1]];
    const dir = await freshDir();
    const lake = await seedLake(dir, 24);
    await resampleLake(lake, { days: INTERVALS, runId: 'r0' });
    const events: string[] = [];
    for (let k = 24; k < 30; k += 1) {
      const s = SESSIONS[k]!;
      await writeOhlcv(lake.raw, s, barsFor(s, k));
      const splits: Array<{ ticker: string; execution_date: string; split_from: number; split_to: number }> = [];
      if (random() < 0.6) {
        const [from, to] = pick(ratios);
        splits.push({ ticker: pick(TICKERS), execution_date: s, split_from: from, split_to: to });
      }
      if (random() < 0.4) {
        const [from, to] = pick(ratios);
        splits.push({ ticker: pick(TICKERS), execution_date: SESSIONS[Math.floor(random() * k)]!, split_from: from, split_to: to });
      }
      if (splits.length > 0) await writeSplits(lake.raw, s, splits);
      if (random() < 0.4) {
        const old = Math.floor(random() * k);
        await writeOhlcv(lake.raw, SESSIONS[old]!, barsFor(SESSIONS[old]!, old, random() < 0.5 ? 0 : 0.25));
        events.push(`${s}: refetch ${SESSIONS[old]}`);
      }
      events.push(...splits.map((x) => `${s}: split ${x.ticker} ${x.execution_date} ${x.split_to}/${x.split_from}`));
      await consolidateLake(lake, { runId: `day-${s}` });
      await resampleLake(lake, { days: INTERVALS, runId: `r-${s}` });
      for (const days of INTERVALS) {
        expect({ day: s, days, difference: frameDifference(await lake.read(`ohlcv_${days}d`), await fullRebuild(lake, days)) }).toEqual({ day: s, days, difference: null });
      }
    }
    console.log(events.join('\n'));
    // The ticker anchor on the same history.
    await resampleLake(lake, { days: [5], runId: 'ticker', anchor: 'ticker' });
    expect(frameDifference(await lake.read('ohlcv_5d'), await fullRebuild(lake, 5, 'ticker'))).toBeNull();
  }, 300_000);

  it('rebuilds ticker-anchored bars in full, equal to resampling the whole history', async () => {
    const lake = await seedLake(await freshDir(), 30);
    await resampleLake(lake, { days: 8, runId: 'r1', anchor: 'ticker' });
    const s = SESSIONS[30]!;
    await writeOhlcv(lake.raw, s, barsFor(s, 30));
    await consolidateLake(lake, { runId: 'day' });
    const report = await resampleLake(lake, { days: 8, runId: 'r2', anchor: 'ticker' });
    expect(report.intervals[0]?.mode).toBe('full');
    expect(frameDifference(await lake.read('ohlcv_8d'), await fullRebuild(lake, 8, 'ticker'))).toBeNull();
  });

  it('commits nothing when the new daily version changed no rows (a refetch with identical data)', async () => {
    const lake = await seedLake(await freshDir(), 12);
    await resampleLake(lake, { days: 5, runId: 'r1' });
    const s = SESSIONS[5]!;
    await writeOhlcv(lake.raw, s, barsFor(s, 5));
    expect((await consolidateLake(lake, { runId: 'same-again' })).versions.ohlcv_1d).toEqual({ version: 2, committed: true });
    const report = await resampleLake(lake, { days: 5, runId: 'r2' });
    expect(report.intervals[0]).toMatchObject({ mode: 'no-change', committed: false, version: 1 });
  });

  it('rejects bad intervals and the read-time latest anchor with ConfigError', async () => {
    const lake = openLake(await freshDir());
    await expect(resampleLake(lake, { days: 1, runId: 'x' })).rejects.toBeInstanceOf(ConfigError);
    await expect(resampleLake(lake, { days: [5, 2.5], runId: 'x' })).rejects.toBeInstanceOf(ConfigError);
    await expect(resampleLake(lake, { days: 5, runId: 'x', anchor: 'latest' as 'calendar' })).rejects.toThrow(/read-time only/);
    expect((await resampleLake(lake, { days: 5, runId: 'x' })).status).toBe('no-change');
  });
});
