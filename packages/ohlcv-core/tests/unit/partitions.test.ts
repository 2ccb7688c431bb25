import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { cp } from 'node:fs/promises';
import * as path from 'node:path';
import { mulberry32 } from '@fibbars/testing/random';
import { sessionsBetween } from '../../src/calendar.js';
import { ConfigError } from '../../src/errors.js';
import { commitPartitions } from '../../src/fan-in.js';
import { consolidateLake } from '../../src/jobs.js';
import { openLake, type Lake } from '../../src/lake.js';
import { fmix32, fnv1a32, parsePartition, tickerPartition } from '../../src/partitions.js';
import { resample } from '../../src/resample.js';
import { resampleLake } from '../../src/resample-lake.js';
import { frameDifference } from '../helpers/lake-checks.js';
import { bar, writeOhlcv, writeSplits, type RawBar } from '../helpers/raw.js';
import { tempDir } from '../helpers/temp.js';

// Lake jobs on many tiny windows: generous limits so a loaded CI machine cannot time them out (no speed is asserted).
jest.setTimeout(300_000);

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});
async function freshDir(): Promise<string> {
  const { dir, cleanup } = await tempDir('fibbars-partitions');
  cleanups.push(cleanup);
  return dir;
}

const INTERVALS = [3, 5, 8];
const P = 4;
const SESSIONS = sessionsBetween('2023-11-01', '2024-01-10');
const TICKERS = Array.from({ length: 40 }, (_, i) => `R${String(i).padStart(2, '0')}`);

function barsFor(session: string, k: number, variant = 0): RawBar[] {
  return TICKERS.filter((t) => !(t === 'R01' && session < '2023-12-01') && !(t === 'R02' && session > '2023-12-15')).map((t, i) =>
    bar(t, 10 + i + Math.sin(k + i) * 2 + variant, 1000 + ((k * 37 + i * 11) % 500)),
  );
}

async function seedLake(dir: string, upTo: number): Promise<Lake> {
  const lake = openLake(dir);
  for (const [k, s] of SESSIONS.slice(0, upTo).entries()) await writeOhlcv(lake.raw, s, barsFor(s, k));
  await consolidateLake(lake, { runId: 'seed' });
  return lake;
}

/** The P workers (in an order that is not 0..P-1), then the fan-in. */
async function partitioned(lake: Lake, runId: string, anchor: 'calendar' | 'ticker' = 'calendar') {
  for (const index of [2, 0, 3, 1]) {
    const r = await resampleLake(lake, { days: INTERVALS, runId: `${runId}-${index}`, anchor, partition: { index, count: P } });
    expect(r.intervals.every((i) => !i.committed)).toBe(true);
  }
  return commitPartitions(lake, { days: INTERVALS, partitions: P, runId, anchor });
}

async function fullRebuild(lake: Lake, days: number, anchor: 'calendar' | 'ticker' = 'calendar') {
  const latest = (await lake.head('ohlcv_1d'))?.meta.latestSession as string;
  return resample(await lake.read('ohlcv_1d'), { days, anchor, splits: await lake.read('splits'), asOf: latest }).sort(['ticker', 'start_date']);
}

/** Two copies of one lake: `one` resampled unpartitioned, `four` by four partitions. */
async function twins(upTo: number): Promise<{ one: Lake; four: Lake }> {
  const dir = await freshDir();
  await seedLake(path.join(dir, 'one'), upTo);
  await cp(path.join(dir, 'one'), path.join(dir, 'four'), { recursive: true });
  return { one: openLake(path.join(dir, 'one')), four: openLake(path.join(dir, 'four')) };
}

async function expectSame(one: Lake, four: Lake, label: string, anchor: 'calendar' | 'ticker' = 'calendar') {
  for (const days of INTERVALS) {
    const dataset = `ohlcv_${days}d` as const;
    const [a, b] = [await one.read(dataset), await four.read(dataset)];
    expect({ label, days, vsUnpartitioned: frameDifference(b, a), vsRebuild: frameDifference(b, await fullRebuild(four, days, anchor)) }).toEqual({
      label,
      days,
      vsUnpartitioned: null,
      vsRebuild: null,
    });
    expect({ label, days, version: (await four.head(dataset))?.version }).toEqual({ label, days, version: (await one.head(dataset))?.version });
  }
}

describe('ticker partitions', () => {
  it('hash a ticker with FNV-1a and fmix32 (their published test vectors) into one of P equal ranges, spread over all of them', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
    const h = fmix32(fnv1a32('foobar'));
    expect(tickerPartition('foobar', 4)).toBe(Math.floor(h / 2 ** 30));
    expect(tickerPartition('foobar', 1024)).toBe(Math.floor(h / 2 ** 22));
    expect(tickerPartition('AAPL', 1)).toBe(0);
    for (const P of [2, 4, 7]) {
      const counts = Array.from({ length: P }, () => 0);
      for (const t of TICKERS) counts[tickerPartition(t, P)]! += 1;
      expect({ P, empty: counts.filter((n) => n === 0).length }).toEqual({ P, empty: 0 });
    }
  });

  it('parse i/P and reject anything else with a ConfigError that names it', () => {
    expect(parsePartition('3/4')).toEqual({ index: 3, count: 4 });
    expect(parsePartition('0/1')).toEqual({ index: 0, count: 1 });
    for (const bad of ['4/4', '1', '-1/4', '0/0', 'a/b', '1/2000']) expect(() => parsePartition(bad)).toThrow(ConfigError);
    expect(() => parsePartition('4/4')).toThrow('must be below 4');
  });

  it('leave every bar dataset equal to the unpartitioned job: a full build, then daily runs with splits, late splits and corrections', async () => {
    const seed = Number(process.env.FIBBARS_TEST_SEED ?? 20261203);
    console.log(`partitioned daily runs: seed ${seed} (set FIBBARS_TEST_SEED to replay)`);
    const random = mulberry32(seed);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const { one, four } = await twins(24);
    await resampleLake(one, { days: INTERVALS, runId: 'full' });
    const built = await partitioned(four, 'full');
    expect(built.intervals.map((i) => [i.mode, i.committed])).toEqual(INTERVALS.map(() => ['full', true]));
    const head = (await four.head('ohlcv_5d'))!;
    expect(head.meta['partitions']).toBe(P);
    expect(new Set(head.files.map((f) => f.tickerPartition))).toEqual(new Set([0, 1, 2, 3]));
    await expectSame(one, four, 'full build');

    for (let k = 24; k < 30; k += 1) {
      const s = SESSIONS[k]!;
      const splits = [{ ticker: pick(TICKERS), execution_date: s, split_from: 1, split_to: 2 }];
      if (random() < 0.5) splits.push({ ticker: pick(TICKERS), execution_date: SESSIONS[Math.floor(random() * k)]!, split_from: 4, split_to: 1 });
      const old = random() < 0.5 ? Math.floor(random() * k) : -1;
      for (const lake of [one, four]) {
        await writeOhlcv(lake.raw, s, barsFor(s, k));
        await writeSplits(lake.raw, s, splits);
        if (old >= 0) await writeOhlcv(lake.raw, SESSIONS[old]!, barsFor(SESSIONS[old]!, old, 0.25));
        await consolidateLake(lake, { runId: `day-${s}` });
      }
      await resampleLake(one, { days: INTERVALS, runId: `r-${s}` });
      const report = await partitioned(four, `r-${s}`);
      expect(report.intervals.every((i) => i.mode === 'incremental')).toBe(true);
      await expectSame(one, four, `${s} (splits ${JSON.stringify(splits)}, correction ${old >= 0 ? SESSIONS[old] : 'none'})`);
    }
  });

  it('publish nothing while a partition has not staged its work, and repair on the re-run, redoing only what is missing', async () => {
    const { one, four } = await twins(30);
    await resampleLake(one, { days: INTERVALS, runId: 'full' });
    for (const index of [0, 1, 3]) await resampleLake(four, { days: INTERVALS, runId: `w${index}`, partition: { index, count: P } });
    const attempt = commitPartitions(four, { days: INTERVALS, partitions: P, runId: 'fan-in' });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(commitPartitions(four, { days: INTERVALS, partitions: P, runId: 'fan-in' })).rejects.toThrow(
      'ohlcv_3d: partition 2/4 staged nothing for version 1',
    );
    for (const days of INTERVALS) expect(await four.head(`ohlcv_${days}d`)).toBeNull();

    // The re-run of every partition: the three that staged keep their work, the missing one builds.
    const reruns = [];
    for (const index of [0, 1, 2, 3]) reruns.push(await resampleLake(four, { days: INTERVALS, runId: `again${index}`, partition: { index, count: P } }));
    expect(reruns.map((r) => r.intervals.every((i) => i.staged?.reused === true))).toEqual([true, true, false, true]);
    const fanIn = await commitPartitions(four, { days: INTERVALS, partitions: P, runId: 'fan-in' });
    expect(fanIn.intervals.every((i) => i.committed && i.version === 1)).toBe(true);
    await expectSame(one, four, 'after the repair');
    expect(await four.store.list('_staging/')).toEqual([]);
    // Nothing new: the workers stage nothing and the fan-in commits nothing.
    const idle = await resampleLake(four, { days: INTERVALS, runId: 'idle', partition: { index: 1, count: P } });
    expect(idle.status).toBe('no-change');
    expect((await commitPartitions(four, { days: INTERVALS, partitions: P, runId: 'idle' })).status).toBe('no-change');
  });

  it('refuse to publish work computed against a head another writer has replaced since, naming the partitions to re-run', async () => {
    const { four } = await twins(30);
    for (const index of [0, 1, 2, 3]) await resampleLake(four, { days: INTERVALS, runId: `w${index}`, partition: { index, count: P } });
    // A rival (an unpartitioned run) commits every interval after the workers staged theirs.
    await resampleLake(four, { days: INTERVALS, runId: 'rival' });
    const rival = await four.read('ohlcv_5d');
    await expect(commitPartitions(four, { days: INTERVALS, partitions: P, runId: 'late' })).rejects.toThrow(
      'ohlcv_3d: partitions 0/4, 1/4, 2/4, 3/4 staged nothing for version 2',
    );
    for (const days of INTERVALS) expect((await four.head(`ohlcv_${days}d`))?.version).toBe(1);
    expect(frameDifference(await four.read('ohlcv_5d'), rival)).toBeNull();
  });

  it('never mix anchors: a fan-in refuses partitions staged with another anchor, and a worker redoes them', async () => {
    const { four } = await twins(30);
    for (const index of [0, 1, 2, 3]) await resampleLake(four, { days: [5], runId: `t${index}`, anchor: 'ticker', partition: { index, count: P } });
    await expect(commitPartitions(four, { days: [5], partitions: P, runId: 'calendar' })).rejects.toThrow(/staged ticker-anchored bars, not calendar/);
    expect(await four.head('ohlcv_5d')).toBeNull();
    const redo = await resampleLake(four, { days: [5], runId: 'c0', partition: { index: 0, count: P } });
    expect(redo.intervals[0]?.staged?.reused).toBe(false);
  });

  it('rebuild in full when the partition count changes, and build ticker-anchored bars equal to the unpartitioned job', async () => {
    const { one, four } = await twins(30);
    await resampleLake(one, { days: INTERVALS, runId: 'full', anchor: 'ticker' });
    await partitioned(four, 'full', 'ticker');
    await expectSame(one, four, 'ticker anchor', 'ticker');
    // Back to one partition: every interval is rebuilt in full, without partition tags.
    const back = await resampleLake(four, { days: INTERVALS, runId: 'p1', anchor: 'ticker' });
    expect(back.intervals.map((i) => i.mode)).toEqual(INTERVALS.map(() => 'full'));
    const head = (await four.head('ohlcv_3d'))!;
    expect(head.files.every((f) => f.tickerPartition === undefined)).toBe(true);
    expect(frameDifference(await four.read('ohlcv_3d'), await one.read('ohlcv_3d'))).toBeNull();
  });
});
