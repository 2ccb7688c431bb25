import { afterAll, describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import { nyse } from '../../src/calendar.js';
import { ConfigError } from '../../src/errors.js';
import { checkDailyHealth, checkHealth } from '../../src/health.js';
import { openLake } from '../../src/lake.js';
import { SPLITS_SCHEMA, TICKERS_SCHEMA } from '../../src/schemas.js';
import { dailyFrame, type DailyRow } from '../helpers/frames.js';
import { tempDir } from '../helpers/temp.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

/**
 * Two months of sessions for a handful of tickers, each carrying one kind of
 * problem at a known place; the expectations below derive from these
 * constants, not from a run of the code under test.
 */
const sessions = nyse.sessionsBetween('2026-09-01', '2026-10-30');
const DROPPED_SESSION = 40; // missing for everyone
const JUMP_AT = 20; // JMP triples with no split
const SPLIT_AT = 25; // SPL drops to a quarter with a 4-for-1 split that day
const HOLES = [10, 11]; // HOL has no rows there
const ZERO_STREAK = [5, 6, 7]; // ZER trades nothing for 3 sessions...
const ZERO_SHORT = [30, 31]; // ...and later for 2 (below the default of 3)
const STALE_LAST = 30; // STL's last row
const DELISTED_LAST = 15; // DEL stops early, but is delisted: not stale

function rowsOf(ticker: string, opts: { last?: number; skip?: number[]; price?: (i: number) => number; volume?: (i: number) => number } = {}): DailyRow[] {
  const out: DailyRow[] = [];
  sessions.forEach((date, i) => {
    if (i === DROPPED_SESSION || (opts.last !== undefined && i > opts.last) || opts.skip?.includes(i)) return;
    const p = opts.price?.(i) ?? 10;
    out.push({ ticker, date, open: p, high: p * 1.05, low: p * 0.95, close: p, volume: opts.volume?.(i) ?? 1000 });
  });
  return out;
}

const daily = dailyFrame([
  ...rowsOf('AAA', { price: (i) => 10 + (i % 3) * 0.1 }),
  ...rowsOf('DEL', { last: DELISTED_LAST }),
  ...rowsOf('HOL', { skip: HOLES }),
  ...rowsOf('JMP', { price: (i) => (i >= JUMP_AT ? 30 : 10) }),
  ...rowsOf('SPL', { price: (i) => (i >= SPLIT_AT ? 25 : 100) }),
  ...rowsOf('STL', { last: STALE_LAST }),
  ...rowsOf('ZER', { volume: (i) => (ZERO_STREAK.includes(i) || ZERO_SHORT.includes(i) ? 0 : 1000) }),
]).sort(['ticker', 'date']);

const splits = pl.DataFrame(
  { ticker: ['SPL'], execution_date: [new Date(`${sessions[SPLIT_AT]}T00:00:00Z`)], split_from: [1], split_to: [4] },
  { schema: SPLITS_SCHEMA },
);

function tickerFrame(rows: { ticker: string; active: boolean }[]): pl.DataFrame {
  const col = (v: string) => rows.map(() => v);
  return pl
    .DataFrame({
      ticker: rows.map((r) => r.ticker),
      name: rows.map((r) => `${r.ticker} Inc.`),
      market: col('stocks'),
      locale: col('us'),
      primary_exchange: col('XNAS'),
      type: col('CS'),
      active: rows.map((r) => r.active),
      currency_name: col('usd'),
      cik: col('1'),
      composite_figi: col('F'),
      share_class_figi: col('S'),
      last_updated_utc: rows.map(() => new Date('2026-10-30T00:00:00Z')),
      delisted_utc: rows.map(() => null),
    })
    .select(...Object.entries(TICKERS_SCHEMA).map(([name, dtype]) => pl.col(name).cast(dtype)));
}

const tickers = tickerFrame([
  ...['AAA', 'HOL', 'JMP', 'SPL', 'STL', 'ZER', 'NEW'].map((ticker) => ({ ticker, active: true })),
  { ticker: 'DEL', active: false },
]);

const quarantine = pl.DataFrame({
  ticker: ['AAA', 'JMP', 'ZER'],
  date: [sessions[3], sessions[3], sessions[9]].map((d) => new Date(`${d}T00:00:00Z`)),
  reason: ['low above open/close', 'non-positive price', 'low above open/close'],
}).withColumns(pl.col('date').cast(pl.Date));

const latest = sessions.at(-1) as string;

describe('checkDailyHealth', () => {
  it('finds each planted problem, and only those', async () => {
    const r = await checkDailyHealth({ daily, splits, tickers, quarantine });
    expect(r.gaps.missingSessions).toEqual([sessions[DROPPED_SESSION]]);
    expect(r.gaps.tickerHoles.map((h) => [h.ticker, h.missing])).toEqual([['HOL', HOLES.map((i) => sessions[i])]]);
    expect(r.jumps).toEqual([
      { ticker: 'JMP', date: sessions[JUMP_AT], previousDate: sessions[JUMP_AT - 1], previousClose: 10, close: 30, change: 2, splitRatio: 1 },
    ]);
    expect(r.zeroVolume).toEqual([{ ticker: 'ZER', from: sessions[ZERO_STREAK[0]!], to: sessions[ZERO_STREAK.at(-1)!], sessions: ZERO_STREAK.length }]);
    // STL: sessions present in the calendar after its last row, up to the latest (the dropped session counts: the market was open).
    const behind = nyse.sessionsBetween(sessions[STALE_LAST]!, latest).length - 1;
    expect(r.stale).toEqual([
      { ticker: 'NEW', name: 'NEW Inc.', lastSession: null, sessionsBehind: sessions.length },
      { ticker: 'STL', name: 'STL Inc.', lastSession: sessions[STALE_LAST], sessionsBehind: behind },
    ]);
    expect(r.quarantine).toEqual({ rows: 3, sessions: 2, byReason: { 'low above open/close': 2, 'non-positive price': 1 } });
    expect(r.problems).toBe(1 + HOLES.length + 1 + 1 + 2 + 3);
    expect(r).toMatchObject({ from: sessions[0], to: latest, rows: daily.height });
  });

  it('follows its thresholds: a lower jump threshold, shorter zero-volume streaks, a longer stale window', async () => {
    const r = await checkDailyHealth({ daily, splits, tickers }, { jumpThreshold: 0.005, zeroVolumeSessions: 2, staleSessions: 40 });
    // AAA moves 10 -> 10.1 -> 10.2 -> 10: steps of about 1 % and 2 %, each above 0.5 %.
    const aaa = r.jumps.filter((j) => j.ticker === 'AAA');
    expect(aaa.length).toBe(sessions.length - 2); // one step per row after the first (AAA has every session but the dropped one)
    expect(r.zeroVolume.map((z) => z.sessions)).toEqual([ZERO_STREAK.length, ZERO_SHORT.length]);
    expect(r.stale.map((s) => s.ticker)).toEqual(['NEW']);
  });

  it('counts a split that does not explain the move: a 2-for-1 split with a price that did not halve', async () => {
    const wrongSplit = pl.DataFrame(
      { ticker: ['AAA'], execution_date: [new Date(`${sessions[12]}T00:00:00Z`)], split_from: [1], split_to: [2] },
      { schema: SPLITS_SCHEMA },
    );
    const r = await checkDailyHealth({ daily, splits: wrongSplit });
    expect(r.jumps.map((j) => [j.ticker, j.date, j.splitRatio])).toEqual([
      ['AAA', sessions[12], 2],
      ['JMP', sessions[JUMP_AT], 1],
      ['SPL', sessions[SPLIT_AT], 1], // its real split is not in this table
    ]);
  });

  it('reports nothing on clean data', async () => {
    const clean = dailyFrame(sessions.map((date) => ({ ticker: 'AAA', date })));
    const r = await checkDailyHealth({ daily: clean, tickers: tickerFrame([{ ticker: 'AAA', active: true }]) });
    expect(r.problems).toBe(0);
  });

  it('refuses thresholds that mean nothing', async () => {
    await expect(checkDailyHealth({ daily }, { jumpThreshold: 0 })).rejects.toThrow(ConfigError);
    await expect(checkDailyHealth({ daily }, { zeroVolumeSessions: 1.5 })).rejects.toThrow(/zeroVolumeSessions 1.5 is not a whole number/);
  });
});

describe('checkHealth on a lake', () => {
  it('reads the committed datasets and the quarantine, and reports what checkDailyHealth does', async () => {
    const { dir, cleanup } = await tempDir('fibbars-health');
    cleanups.push(cleanup);
    const lake = openLake(dir);
    for (const [dataset, df] of [['ohlcv_1d', daily], ['splits', splits], ['tickers', tickers]] as const) {
      await lake.commit(dataset, { parent: 0, files: await lake.writeFiles(dataset, df), runId: 'r1' });
    }
    const fromLake = await checkHealth(lake);
    const fromFrames = await checkDailyHealth({ daily, splits, tickers });
    expect(fromLake).toEqual(fromFrames);
    expect(fromLake.jumps.map((j) => j.ticker)).toEqual(['JMP']);
  });
});

describe('Lake reads that would silently return nothing', () => {
  it('name the missing folder, the unknown interval and the lower-case ticker', async () => {
    const { dir, cleanup } = await tempDir('fibbars-health-read');
    cleanups.push(cleanup);
    const lake = openLake(dir);
    // An empty lake reads as empty frames: nothing is wrong yet.
    expect((await lake.read('ohlcv_5d')).height).toBe(0);
    await lake.commit('ohlcv_1d', { parent: 0, files: await lake.writeFiles('ohlcv_1d', daily), runId: 'r1' });
    await lake.commit('ohlcv_5d', { parent: 0, files: [], runId: 'r1' });
    await expect(lake.read('ohlcv_7d')).rejects.toThrow('unknown dataset ohlcv_7d: this lake has no version of it; it holds ohlcv_1d, ohlcv_5d');
    await expect(lake.scan('ohlcv_7d')).rejects.toThrow(/^unknown dataset ohlcv_7d/);
    await expect(lake.read('ohlcv_1d', { tickers: ['aaa'] })).rejects.toThrow('ticker "aaa" would match nothing: symbols are stored upper-case without spaces, e.g. "AAA"');
    await expect(lake.read('ohlcv_1d', { tickers: [' AAA'] })).rejects.toThrow(ConfigError);
    // A mixed-case symbol (a class suffix some vendors spell in lower case) is a real filter.
    expect((await lake.read('ohlcv_1d', { tickers: ['BRKpA'] })).height).toBe(0);
    // Reference datasets before their first fetch are still empty, not errors.
    expect((await lake.read('splits')).height).toBe(0);
    const missing = openLake(`${dir}/does/not/exist`);
    await expect(missing.read('ohlcv_1d')).rejects.toThrow(`no lake at ${dir}/does/not/exist: the folder does not exist`);
  });
});
