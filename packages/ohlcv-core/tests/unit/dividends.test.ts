import { afterAll, describe, expect, it, jest } from '@jest/globals';
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { sessionsBetween } from '../../src/calendar.js';
import { ConfigError } from '../../src/errors.js';
import { consolidateLake } from '../../src/jobs.js';
import { openLake, type Lake } from '../../src/lake.js';
import { parseDividends } from '../../src/parse.js';
import { resample } from '../../src/resample.js';
import { resampleLake } from '../../src/resample-lake.js';
import { frameDifference } from '../helpers/lake-checks.js';
import { bar, writeDividends, writeOhlcv, writeSplits, type RawDividend } from '../helpers/raw.js';
import { tempDir } from '../helpers/temp.js';

jest.setTimeout(180_000);

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});
async function freshDir(): Promise<string> {
  const { dir, cleanup } = await tempDir('fibbars-dividends');
  cleanups.push(cleanup);
  return dir;
}

const SESSIONS = sessionsBetween('2024-01-02', '2024-04-30');
const LAST = SESSIONS.at(-1)!;
const SPLIT_DAY = SESSIONS[40]!; // PAY splits 2-for-1 here
/** PAY pays on three ex-dates (one with a special on top), before and after its split; KEEP pays nothing. */
const DIVIDENDS: RawDividend[] = [
  { ticker: 'PAY', ex_dividend_date: SESSIONS[12]!, cash_amount: 0.5, dividend_type: 'CD', currency: 'USD', frequency: 4 },
  { ticker: 'PAY', ex_dividend_date: SESSIONS[52]!, cash_amount: 0.3, dividend_type: 'CD', currency: 'USD', frequency: 4 },
  { ticker: 'PAY', ex_dividend_date: SESSIONS[52]!, cash_amount: 0.2, dividend_type: 'SC', currency: 'USD', frequency: 0 },
  { ticker: 'PAY', ex_dividend_date: SESSIONS[70]!, cash_amount: 0.25, dividend_type: 'CD', frequency: 4 },
  // Not applied: paid in another currency; and declared, but ex after the last session.
  { ticker: 'PAY', ex_dividend_date: SESSIONS[30]!, cash_amount: 1.5, dividend_type: 'CD', currency: 'CAD' },
  { ticker: 'PAY', ex_dividend_date: '2024-06-03', cash_amount: 0.4, dividend_type: 'CD', currency: 'USD' },
];

function price(ticker: string, k: number): number {
  const base = ticker === 'PAY' ? 40 + Math.sin(k / 3) * 3 : 25 + Math.cos(k / 4) * 2;
  // PAY's unadjusted prices halve from its split day on.
  return ticker === 'PAY' && k >= 40 ? base / 2 : base;
}

async function seed(): Promise<Lake> {
  const lake = openLake(await freshDir());
  for (const [k, s] of SESSIONS.entries()) await writeOhlcv(lake.raw, s, ['PAY', 'KEEP'].map((t) => bar(t, price(t, k), 1000 + k)));
  await writeSplits(lake.raw, LAST, [{ ticker: 'PAY', execution_date: SPLIT_DAY, split_from: 1, split_to: 2 }]);
  await writeDividends(lake.raw, LAST, DIVIDENDS);
  await consolidateLake(lake, { runId: 'seed' });
  return lake;
}

/**
 * The independent computation: closes split-adjusted by hand, a total-return
 * index that reinvests each ex-date's USD cash at the previous close
 * (price times the running product of 1 + dividend / previous close), scaled
 * so the last close is the traded one.
 */
function expectedCloses(raw: Array<{ date: string; close: number }>): number[] {
  const splitAdjusted = raw.map((r) => (r.date < SPLIT_DAY ? r.close / 2 : r.close));
  const cashOn = new Map<string, number>();
  for (const d of DIVIDENDS) {
    if (d.ticker !== 'PAY' || (d.currency !== undefined && d.currency !== 'USD') || d.ex_dividend_date > LAST) continue;
    const cash = d.ex_dividend_date < SPLIT_DAY ? d.cash_amount / 2 : d.cash_amount;
    cashOn.set(d.ex_dividend_date, (cashOn.get(d.ex_dividend_date) ?? 0) + cash);
  }
  let product = 1;
  const index = raw.map((r, i) => {
    const cash = cashOn.get(r.date);
    if (cash !== undefined) product *= 1 + cash / splitAdjusted[i - 1]!;
    return splitAdjusted[i]! * product;
  });
  return index.map((v) => v / product);
}

function closes(df: DataFrame, ticker: string): Array<{ date: string; close: number }> {
  return df
    .filter(pl.col('ticker').eq(pl.lit(ticker)))
    .select(pl.col('date').cast(pl.Utf8), pl.col('close'))
    .toRecords()
    .map((r) => ({ date: r['date'] as string, close: r['close'] as number }));
}

describe('parseDividends', () => {
  it('keeps usable cash distributions, the last report of a (ticker, ex-date, type) winning, and drops the rest', () => {
    const df = parseDividends([
      JSON.stringify({
        status: 'OK',
        results: [
          { ticker: 'AAPL', ex_dividend_date: '2024-08-12', cash_amount: 0.24, dividend_type: 'CD', pay_date: '2024-08-15', frequency: 4 },
          { ticker: 'AAPL', ex_dividend_date: '2024-08-12', cash_amount: 0.25, dividend_type: 'CD', pay_date: '2024-08-15', frequency: 4 },
          { ticker: 'AAPL', ex_dividend_date: '2024-08-12', cash_amount: 1, dividend_type: 'SC' },
          { ticker: 'MSFT', ex_dividend_date: '2024-08-15', cash_amount: 0.75 },
          { ticker: 'BAD', ex_dividend_date: '2024-13-01', cash_amount: 1 },
          { ticker: 'ZERO', ex_dividend_date: '2024-08-12', cash_amount: 0 },
          { ex_dividend_date: '2024-08-12', cash_amount: 1 },
        ],
      }),
    ]);
    const rows = df.select(pl.col('ticker'), pl.col('ex_dividend_date').cast(pl.Utf8), pl.col('cash_amount'), pl.col('dividend_type'), pl.col('pay_date').cast(pl.Utf8)).toRecords();
    expect(rows).toEqual([
      { ticker: 'AAPL', ex_dividend_date: '2024-08-12', cash_amount: 0.25, dividend_type: 'CD', pay_date: '2024-08-15' },
      { ticker: 'AAPL', ex_dividend_date: '2024-08-12', cash_amount: 1, dividend_type: 'SC', pay_date: null },
      { ticker: 'MSFT', ex_dividend_date: '2024-08-15', cash_amount: 0.75, dividend_type: 'CD', pay_date: null },
    ]);
  });
});

describe('total-return adjustment', () => {
  it('gives daily closes equal to an independent total-return computation, and leaves volume and non-payers alone', async () => {
    const lake = await seed();
    const raw = await lake.read('ohlcv_1d');
    const split = await lake.read('ohlcv_1d', { adjust: 'splits' });
    const total = await lake.read('ohlcv_1d', { adjust: 'total-return' });
    const want = expectedCloses(closes(raw, 'PAY'));
    const got = closes(total, 'PAY').map((r) => r.close);
    expect(got).toHaveLength(SESSIONS.length);
    got.forEach((c, i) => expect(Math.abs(c - want[i]!)).toBeLessThan(1e-9 * want[i]!));
    // The last close is the traded one; the first is lower by the dividends since.
    expect(got.at(-1)).toBeCloseTo(raw.filter(pl.col('ticker').eq(pl.lit('PAY'))).getColumn('close').toArray().at(-1) as number, 12);
    expect(got[0]!).toBeLessThan(closes(split, 'PAY')[0]!.close);
    expect(frameDifference(total.select('ticker', 'date', 'volume'), split.select('ticker', 'date', 'volume'))).toBeNull();
    expect(frameDifference(total.filter(pl.col('ticker').eq(pl.lit('KEEP'))), split.filter(pl.col('ticker').eq(pl.lit('KEEP'))))).toBeNull();
    // A window reads the same rows as the whole history cut to it: dividends after `to` still count.
    const window = await lake.read('ohlcv_1d', { adjust: 'total-return', tickers: ['PAY'], from: SESSIONS[20]!, to: SESSIONS[45]! });
    const cut = total.filter(pl.col('ticker').eq(pl.lit('PAY')).and(pl.col('date').gtEq(pl.lit(new Date(`${SESSIONS[20]}T00:00:00Z`))).and(pl.col('date').ltEq(pl.lit(new Date(`${SESSIONS[45]}T00:00:00Z`))))));
    expect(frameDifference(window, cut)).toBeNull();
  });

  it('gives bars spanning ex-dates equal to resampling the total-return daily rows, for both stored anchors', async () => {
    const lake = await seed();
    for (const anchor of ['calendar', 'ticker'] as const) {
      const days = anchor === 'calendar' ? [3, 5, 8] : [5];
      await resampleLake(lake, { days, anchor, runId: `bars-${anchor}` });
      const daily = await lake.read('ohlcv_1d', { adjust: 'total-return' });
      const splits = await lake.read('splits');
      const dividends = await lake.read('dividends');
      for (const n of days) {
        const bars = await lake.read(`ohlcv_${n}d`, { adjust: 'total-return' });
        const fromRows = resample(daily, { days: n, anchor, asOf: LAST }).sort(['ticker', 'start_date']);
        const fromOptions = resample(await lake.read('ohlcv_1d'), { days: n, anchor, asOf: LAST, splits, dividends, adjust: 'total-return' }).sort(['ticker', 'start_date']);
        expect(frameDifference(bars, fromRows)).toBeNull();
        expect(frameDifference(bars, fromOptions)).toBeNull();
        // At least one PAY bar has an ex-date strictly inside it, so the test exercises the re-aggregation.
        const inside = bars.filter(pl.col('ticker').eq(pl.lit('PAY')).and(pl.col('start_date').lt(pl.lit(new Date(`${SESSIONS[52]}T00:00:00Z`)))).and(pl.col('end_date').gtEq(pl.lit(new Date(`${SESSIONS[52]}T00:00:00Z`)))));
        expect(inside.height).toBe(1);
      }
      // Ticker-anchor bars replace the calendar ones in this lake; the next anchor rebuilds.
    }
  });

  it("reads bars as stored with adjust 'none', refuses adjust on reference datasets and unknown modes", async () => {
    const lake = await seed();
    await resampleLake(lake, { days: [5], runId: 'r' });
    const head = (await lake.head('ohlcv_5d'))!;
    const stored = await lake.readCommitFiles('ohlcv_5d', head.files);
    expect(frameDifference(await lake.read('ohlcv_5d', { adjust: 'none' }), stored.sort(['ticker', 'start_date']))).toBeNull();
    expect(frameDifference(await lake.read('ohlcv_5d', { adjust: 'splits' }), await lake.read('ohlcv_5d'))).toBeNull();
    expect(frameDifference(await lake.read('ohlcv_1d', { adjust: 'none' }), await lake.read('ohlcv_1d'))).toBeNull();
    await expect(lake.read('splits', { adjust: 'total-return' })).rejects.toThrow(new ConfigError('adjust "total-return" applies to ohlcv_1d and bar datasets, not splits'));
    await expect(lake.read('ohlcv_1d', { adjust: 'dividends' as never })).rejects.toThrow(new ConfigError('adjust "dividends" is not one of splits, total-return, none'));
    const scanned = await (await lake.scan('ohlcv_5d', { adjust: 'total-return' })).collect();
    expect(frameDifference(scanned, await lake.read('ohlcv_5d', { adjust: 'total-return' }))).toBeNull();
  });
});

describe('consolidating dividends', () => {
  it('commits a version only when the table changes, and a corrected amount wins', async () => {
    const lake = await seed();
    const first = (await lake.head('dividends'))!;
    expect((await lake.read('dividends')).height).toBe(6);
    await writeDividends(lake.raw, LAST, DIVIDENDS);
    const again = await consolidateLake(lake, { runId: 'refetch' });
    expect(again.dividendsAdded).toBe(0);
    const same = (await lake.head('dividends'))!;
    expect(same.files).toEqual(first.files);
    await writeDividends(lake.raw, SESSIONS[60]!, [{ ...DIVIDENDS[1]!, cash_amount: 0.35 }]);
    const fixed = await consolidateLake(lake, { runId: 'fix' });
    expect(fixed.dividendsAdded).toBe(1);
    expect(fixed.versions.dividends.committed).toBe(true);
    const row = (await lake.read('dividends', { tickers: ['PAY'], from: SESSIONS[52]!, to: SESSIONS[52]! })).filter(pl.col('dividend_type').eq(pl.lit('CD')));
    expect(row.getColumn('cash_amount').toArray()).toEqual([0.35]);
  });

  it('withdraws a dividend a newer listing of its ex-date no longer holds, and the total return follows', async () => {
    const lake = await seed();
    const before = await lake.read('ohlcv_1d', { adjust: 'total-return', tickers: ['PAY'] });
    // The vendor's listing of SESSIONS[12] fetched again: the 0.50 dividend was cancelled.
    const day = { from: SESSIONS[12]!, to: SESSIONS[12]! };
    await writeDividends(lake.raw, SESSIONS[12]!, [], day);
    const report = await consolidateLake(lake, { runId: 'cancelled' });
    expect(report).toMatchObject({ dividendsAdded: 0, dividendsWithdrawn: 1, withdrawalsRefused: [] });
    const left = await lake.read('dividends', { tickers: ['PAY'] });
    expect(left.height).toBe(5);
    expect(left.filter(pl.col('ex_dividend_date').eq(pl.lit(new Date(`${SESSIONS[12]}T00:00:00Z`)))).height).toBe(0);
    // Closes before the cancelled ex-date were scaled by it; now they are not.
    const after = await lake.read('ohlcv_1d', { adjust: 'total-return', tickers: ['PAY'] });
    const close = (df: typeof after, k: number) => df.filter(pl.col('date').eq(pl.lit(new Date(`${SESSIONS[k]}T00:00:00Z`)))).getColumn('close').get(0) as number;
    expect(close(after, 5)).not.toBeCloseTo(close(before, 5), 6);
    expect(close(after, 20)).toBeCloseTo(close(before, 20), 12);
  });
});
