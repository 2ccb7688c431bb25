import { afterAll, describe, expect, it, jest } from '@jest/globals';
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { sessionIndex, sessionsBetween } from '../../src/calendar.js';
import { ConfigError } from '../../src/errors.js';
import { buildTickerHistory, resolveSymbol, tickerIntervals } from '../../src/identity.js';
import { consolidateLake } from '../../src/jobs.js';
import { openLake, type Lake } from '../../src/lake.js';
import { parseTickerEvents, parseTickers } from '../../src/parse.js';
import { resample } from '../../src/resample.js';
import { resampleLake } from '../../src/resample-lake.js';
import { frameDifference } from '../helpers/lake-checks.js';
import { bar, writeOhlcv, writeSplits, writeTickerEvents, writeTickerSnapshot } from '../helpers/raw.js';
import { tempDir } from '../helpers/temp.js';

jest.setTimeout(180_000);

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

const META = 'BBG000MM2P62';
const NEWCO = 'BBG0NEWCO001';
const GONE = 'BBG0GONE0001';

function historyRows(df: DataFrame): unknown[][] {
  return df.select(pl.col('security_id'), pl.col('ticker'), pl.col('from_date').cast(pl.Utf8), pl.col('to_date').cast(pl.Utf8), pl.col('source')).rows();
}

describe('buildTickerHistory', () => {
  it('keeps each symbol of a renamed security with its dates, a reused symbol after its first owner, and the rest from the snapshot', () => {
    const events = parseTickerEvents([
      { status: 'OK', results: { composite_figi: META, name: 'Meta Platforms', events: [
        { type: 'ticker_change', date: '2022-06-09', ticker_change: { ticker: 'META' } },
        { type: 'ticker_change', date: '2012-05-18', ticker_change: { ticker: 'FB' } },
        { type: 'something_else', date: '2015-01-02' },
      ] } },
    ]);
    const snapshot = parseTickers([{ status: 'OK', results: [
      { ticker: 'META', name: 'Meta Platforms', active: true, composite_figi: META },
      { ticker: 'FB', name: 'A later FB', active: true, composite_figi: NEWCO },
      { ticker: 'GONE', name: 'Gone Inc', active: false, composite_figi: GONE, delisted_utc: '2020-03-14T00:00:00Z' },
      { ticker: 'NOFIGI', name: 'No Figi', active: true },
    ] }]);
    const history = buildTickerHistory(events, snapshot);
    expect(historyRows(history)).toEqual([
      ['BBG000MM2P62', 'FB', '2012-05-18', '2022-06-08', 'events'],
      ['BBG000MM2P62', 'META', '2022-06-09', null, 'events'],
      ['BBG0GONE0001', 'GONE', null, '2020-03-13', 'snapshot'],
      ['BBG0NEWCO001', 'FB', '2022-06-09', null, 'snapshot'],
      ['NOFIGI', 'NOFIGI', null, null, 'snapshot'],
    ]);
    const intervals = tickerIntervals(history);
    expect(resolveSymbol(intervals, 'FB', '2021-12-31')?.securityId).toBe(META);
    expect(resolveSymbol(intervals, 'FB', null)?.securityId).toBe(NEWCO);
    expect(resolveSymbol(intervals, 'FB', '2023-01-03')?.securityId).toBe(NEWCO);
    expect(resolveSymbol(intervals, 'META', '2021-12-31')).toBeNull();
    expect(resolveSymbol(intervals, 'META', null)?.securityId).toBe(META);
  });
});

const SESSIONS = sessionsBetween('2024-01-02', '2024-03-28');
// OLD trades as NEW from here on: a session inside (not first in) its 5- and 8-session calendar buckets.
const RENAME = SESSIONS.slice(25).find((s) => sessionIndex(s) % 5 !== 0 && sessionIndex(s) % 8 !== 0)!;
const SPLIT = SESSIONS[10]!; // OLD splits 2-for-1 before the rename
const LAST = SESSIONS.at(-1)!;
const FIGI = 'BBG000RENAME';

async function seed(): Promise<Lake> {
  const { dir, cleanup } = await tempDir('fibbars-identity');
  cleanups.push(cleanup);
  const lake = openLake(dir);
  for (const [k, s] of SESSIONS.entries()) {
    const symbol = s < RENAME ? 'OLD' : 'NEW';
    const price = 30 + Math.sin(k / 2) * 2;
    await writeOhlcv(lake.raw, s, [bar(symbol, s < SPLIT ? price * 2 : price, 1000 + k), bar('KEEP', 20 + k / 10, 500 + k)]);
  }
  await writeSplits(lake.raw, LAST, [{ ticker: 'OLD', execution_date: SPLIT, split_from: 1, split_to: 2 }]);
  await writeTickerSnapshot(lake.raw, LAST, [
    { ticker: 'NEW', name: 'Renamed Corp', active: true, composite_figi: FIGI },
    { ticker: 'KEEP', name: 'Keep Inc', active: true, composite_figi: 'BBG00000KEEP' },
  ]);
  await writeTickerEvents(lake.raw, LAST, [{ figi: FIGI, name: 'Renamed Corp', changes: [['OLD', '2020-01-02'], ['NEW', RENAME]] }]);
  await consolidateLake(lake, { runId: 'seed' });
  await resampleLake(lake, { days: [5, 8], runId: 'bars' });
  return lake;
}

/** The independent reference: the raw daily rows of both symbols joined under one key, resampled. */
async function joinedBars(lake: Lake, days: number): Promise<DataFrame> {
  const daily = (await lake.read('ohlcv_1d', { tickers: ['OLD', 'NEW'] })).withColumns(pl.lit(FIGI).alias('ticker')).sort('date');
  const splits = (await lake.read('splits', { tickers: ['OLD'] })).withColumns(pl.lit(FIGI).alias('ticker'));
  return resample(daily, { days, splits, asOf: LAST });
}

describe('reading by security', () => {
  it('consolidates the ticker history from the snapshot and the events', async () => {
    const lake = await seed();
    expect(historyRows(await lake.read('ticker_history'))).toEqual([
      ['BBG00000KEEP', 'KEEP', null, null, 'snapshot'],
      [FIGI, 'NEW', RENAME, null, 'events'],
      [FIGI, 'OLD', '2020-01-02', sessionsBetween('2024-01-02', RENAME).at(-2), 'events'],
    ]);
    const again = await consolidateLake(lake, { runId: 'again' });
    expect(again.versions.ticker_history.committed).toBe(false);
  });

  it('joins the daily rows of every symbol of a security, each row with the symbol it traded as', async () => {
    const lake = await seed();
    const daily = await lake.read('ohlcv_1d', { tickers: ['NEW'], identity: 'security' });
    expect(daily.columns.at(-1)).toBe('security_id');
    expect(daily.height).toBe(SESSIONS.length);
    expect(new Set(daily.getColumn('security_id').toArray())).toEqual(new Set([FIGI]));
    const symbols = daily.select(pl.col('date').cast(pl.Utf8), pl.col('ticker')).rows();
    expect(symbols.every(([d, t]) => t === ((d as string) < RENAME ? 'OLD' : 'NEW'))).toBe(true);
    // Split-adjusted across the symbols: the pre-split OLD rows are halved like NEW's own history would be.
    const adjusted = await lake.read('ohlcv_1d', { tickers: ['NEW'], identity: 'security', adjust: 'splits' });
    const raw = await lake.read('ohlcv_1d', { tickers: ['OLD'] });
    expect(adjusted.getColumn('close').toArray()[0]).toBeCloseTo((raw.getColumn('close').toArray()[0] as number) / 2, 12);
  });

  it('gives bars spanning the rename equal to the bars of the joined daily rows; stored bars stay cut at the rename', async () => {
    const lake = await seed();
    for (const days of [5, 8]) {
      const bars = await lake.read(`ohlcv_${days}d`, { tickers: ['NEW'], identity: 'security' });
      const want = await joinedBars(lake, days);
      expect(frameDifference(bars.drop(['security_id', 'ticker']), want.drop('ticker'))).toBeNull();
      const spanning = bars.filter(pl.col('start_date').lt(pl.lit(new Date(`${RENAME}T00:00:00Z`))).and(pl.col('end_date').gtEq(pl.lit(new Date(`${RENAME}T00:00:00Z`)))));
      expect(spanning.height).toBe(1);
      expect(spanning.getColumn('n_days').toArray()).toEqual([days]);
      expect(spanning.getColumn('ticker').toArray()).toEqual(['NEW']);
      // The same security found by its old symbol, as of a date it traded as OLD.
      const byOld = await lake.read(`ohlcv_${days}d`, { tickers: ['OLD'], identity: 'security', asOf: SESSIONS[3]! });
      expect(frameDifference(byOld, bars)).toBeNull();
      const stored = await lake.read(`ohlcv_${days}d`, { tickers: ['NEW'] });
      expect(stored.getColumn('n_days').toArray()[0]).toBeLessThan(days);
    }
    const keep = await lake.read('ohlcv_5d', { tickers: ['KEEP'], identity: 'security' });
    expect(frameDifference(keep.drop('security_id'), await lake.read('ohlcv_5d', { tickers: ['KEEP'] }))).toBeNull();
  });

  it('refuses identity on reference datasets and asOf without it', async () => {
    const lake = await seed();
    await expect(lake.read('splits', { identity: 'security' })).rejects.toThrow(new ConfigError('identity "security" applies to ohlcv_1d and bar datasets, not splits'));
    await expect(lake.read('ohlcv_5d', { asOf: '2024-01-05' })).rejects.toThrow(new ConfigError('asOf resolves symbols to securities: use it with identity "security"'));
    await expect(lake.read('ohlcv_5d', { identity: 'company' as never })).rejects.toThrow(new ConfigError('identity "company" is not one of ticker, security'));
  });
});
