import { describe, expect, it } from '@jest/globals';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { GroupedDailySchema, SplitsPageSchema, TickersPageSchema } from '../../src/polygon.js';
import { SyntheticSource } from '../../src/synthetic.js';

const SESSION = '2024-03-15';

describe('SyntheticSource', () => {
  it('gives byte-identical pages for the same seed, whatever was generated before', async () => {
    const a = new SyntheticSource({ seed: 11, tickers: 200 });
    const b = new SyntheticSource({ seed: 11, tickers: 200 });
    await b.groupedDaily('2019-06-03'); // warm b's caches on other sessions first
    await b.splits('2003-01-02');

    expect((await a.groupedDaily(SESSION)).pages).toEqual((await b.groupedDaily(SESSION)).pages);
    expect((await a.tickers(SESSION)).pages).toEqual((await b.tickers(SESSION)).pages);
    expect((await a.splits(SESSION)).pages).toEqual((await b.splits(SESSION)).pages);
  });

  it('gives a different market for a different seed', async () => {
    const a = await new SyntheticSource({ seed: 1, tickers: 50 }).groupedDaily(SESSION);
    const b = await new SyntheticSource({ seed: 2, tickers: 50 }).groupedDaily(SESSION);

    expect(a.pages[0]).not.toEqual(b.pages[0]);
  });

  it('keeps each slot the same company whatever the universe size (a small universe is a prefix of a large one)', () => {
    const small = new SyntheticSource({ seed: 5, tickers: 30 }).bars(SESSION);
    const large = new SyntheticSource({ seed: 5, tickers: 3_000 }).bars(SESSION);

    expect(large.slice(0, small.length)).toEqual(small);
  });

  it('emits the vendor JSON shapes', async () => {
    const s = new SyntheticSource({ tickers: 2_500 });
    const daily = JSON.parse((await s.groupedDaily(SESSION)).pages[0]!) as Record<string, unknown>;
    expect(GroupedDailySchema.safeParse(daily).success).toBe(true);
    expect(Object.keys(daily)).toEqual(['queryCount', 'resultsCount', 'adjusted', 'results', 'status', 'request_id', 'count']);
    expect(daily.adjusted).toBe(false);

    const tickers = await s.tickers(SESSION);
    expect(tickers.pages.length).toBeGreaterThan(3); // 1000 per page, active then delisted
    for (const page of tickers.pages) expect(TickersPageSchema.safeParse(JSON.parse(page)).success).toBe(true);
    const firstDelisted = tickers.pages.findIndex((p) => p.includes('"active":false'));
    expect(JSON.parse(tickers.pages[firstDelisted - 1]!).next_url).toBeUndefined(); // the active list ends before the delisted one

    const splits = await s.splits(SESSION);
    expect(SplitsPageSchema.safeParse(JSON.parse(splits.pages[0]!)).success).toBe(true);
  });

  it('answers a non-session with no pages and no requests', async () => {
    const s = new SyntheticSource();
    for (const d of ['2024-03-16', '2024-12-25', '2001-09-11']) {
      expect(await s.groupedDaily(d)).toEqual({ pages: [], requests: [], rows: 0 });
      expect(await s.splits(d)).toEqual({ pages: [], requests: [], rows: 0 });
    }
  });

  it('makes consistent bars: low <= open, close <= high, vwap inside the range, whole positive volumes', () => {
    const s = new SyntheticSource({ seed: 3, tickers: 500 });
    let withoutVwap = 0;
    let rows = 0;
    const broken: unknown[] = [];
    for (const session of nyse.sessionsBetween('2008-09-02', '2008-10-31')) {
      for (const b of s.bars(session)) {
        rows++;
        const ok =
          b.low > 0 &&
          b.low <= Math.min(b.open, b.close) &&
          b.high >= Math.max(b.open, b.close) &&
          Number.isInteger(b.volume) &&
          b.volume >= 100 &&
          (b.vwap === undefined || (b.vwap >= b.low && b.vwap <= b.high && Number.isInteger(b.transactions) && b.transactions! >= 1));
        if (!ok) broken.push({ session, ...b });
        if (b.vwap === undefined) withoutVwap++;
      }
    }
    expect(broken).toEqual([]);
    expect(rows).toBeGreaterThan(15_000);
    expect(withoutVwap).toBeGreaterThan(0); // the vendor omits vw and n now and then
    expect(withoutVwap / rows).toBeLessThan(0.01);
  });

  it('moves prices as a random walk: daily log returns near zero mean with a plausible spread', () => {
    const s = new SyntheticSource({ seed: 9, tickers: 200 });
    const sessions = nyse.sessionsBetween('2015-01-02', '2015-12-31');
    const prev = new Map<string, number>();
    const returns: number[] = [];
    for (const session of sessions) {
      const splitToday = new Set(s.splitsOn(session).map((x) => x.ticker));
      for (const b of s.bars(session)) {
        const p = prev.get(b.ticker);
        if (p !== undefined && !splitToday.has(b.ticker)) returns.push(Math.log(b.close / p));
        prev.set(b.ticker, b.close);
      }
    }
    const mean = returns.reduce((a, r) => a + r, 0) / returns.length;
    const sd = Math.sqrt(returns.reduce((a, r) => a + (r - mean) ** 2, 0) / returns.length);
    expect(Math.abs(mean)).toBeLessThan(0.003);
    expect(sd).toBeGreaterThan(0.008);
    expect(sd).toBeLessThan(0.05);
  });

  it('gives volume a weekly rhythm: Fridays busier than Mondays on average', () => {
    const s = new SyntheticSource({ seed: 4, tickers: 300 });
    const byDay = new Map<number, number[]>();
    for (const session of nyse.sessionsBetween('2012-01-03', '2012-12-31')) {
      const day = new Date(`${session}T00:00:00Z`).getUTCDay();
      const total = s.bars(session).reduce((a, b) => a + b.volume * b.close, 0);
      byDay.set(day, [...(byDay.get(day) ?? []), total]);
    }
    const avg = (d: number) => byDay.get(d)!.reduce((a, v) => a + v, 0) / byDay.get(d)!.length;
    expect(avg(5)).toBeGreaterThan(avg(1));
  });

  it('shows each split as a real unadjusted price jump on its execution date', () => {
    const s = new SyntheticSource({ seed: 42, tickers: 300 });
    const sessions = nyse.sessionsBetween('2000-01-03', '2009-12-31');
    const checked: { ratio: number; jump: number }[] = [];
    for (const session of sessions) {
      for (const split of s.splitsOn(session)) {
        const before = s.bars(nyse.previousSession(session)).find((b) => b.ticker === split.ticker);
        const on = s.bars(session).find((b) => b.ticker === split.ticker);
        if (!before || !on) continue; // listed that very day
        const ratio = split.split_to / split.split_from;
        checked.push({ ratio, jump: before.close / on.open });
      }
    }
    expect(checked.length).toBeGreaterThan(5);
    expect(checked.some((c) => c.ratio > 1)).toBe(true);
    expect(checked.some((c) => c.ratio < 1)).toBe(true);
    for (const { ratio, jump } of checked) {
      // the unadjusted jump matches the ratio up to an overnight move
      expect(Math.abs(Math.log(jump / ratio))).toBeLessThan(0.25);
    }
  });

  it('lists and delists companies through time, and a delisted ticker stops trading', async () => {
    const s = new SyntheticSource({ seed: 42, tickers: 300 });
    const rows = (await s.tickers(SESSION)).pages.flatMap((p) => (JSON.parse(p) as { results: Record<string, unknown>[] }).results);
    const delisted = rows.filter((r) => r.active === false);
    const active = rows.filter((r) => r.active === true);
    expect(active.length).toBeGreaterThan(250);
    expect(delisted.length).toBeGreaterThan(20);
    const gone = delisted.find((r) => String(r.delisted_utc) > '2005')!;
    const lastDay = nyse.previousSession(String(gone.delisted_utc).slice(0, 10));
    expect(s.bars(lastDay).some((b) => b.ticker === gone.ticker)).toBe(true);
    expect(s.bars(String(gone.delisted_utc).slice(0, 10)).some((b) => b.ticker === gone.ticker)).toBe(false);

    const early = new Set(s.bars('1995-01-03').map((b) => b.ticker));
    const late = new Set(s.bars(SESSION).map((b) => b.ticker));
    expect([...late].filter((t) => !early.has(t)).length).toBeGreaterThan(20); // new listings since
  });

  it('scales to 10,000 tickers on one session', async () => {
    const result = await new SyntheticSource({ tickers: 10_000 }).groupedDaily(SESSION);
    expect(result.rows).toBeGreaterThan(9_000);
    expect(new Set((JSON.parse(result.pages[0]!) as { results: { T: string }[] }).results.map((r) => r.T)).size).toBe(result.rows);
  });

  it('rejects a bad universe or seed with a ConfigError', () => {
    expect(() => new SyntheticSource({ tickers: 0 })).toThrow(expect.objectContaining({ name: 'ConfigError' }));
    expect(() => new SyntheticSource({ seed: 1.5 })).toThrow(expect.objectContaining({ name: 'ConfigError' }));
  });
});
