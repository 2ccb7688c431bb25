import { describe, expect, it } from '@jest/globals';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { DividendsPageSchema, GroupedDailySchema, SplitsPageSchema, TickerEventsPageSchema, TickersPageSchema } from '../../src/polygon.js';
import { SyntheticSource } from '../../src/synthetic.js';

const SESSION = '2024-03-15';

describe('SyntheticSource', () => {
  it('gives byte-identical pages for the same seed, whatever was generated before', async () => {
    const a = new SyntheticSource({ seed: 11, tickers: 200 });
    const b = new SyntheticSource({ seed: 11, tickers: 200 });
    await b.groupedDaily('2019-06-03'); // warm b's caches on other sessions first
    await b.splits('2003-01-02');
    await b.dividends('2003-01-02', '2005-12-30');

    expect((await a.groupedDaily(SESSION)).pages).toEqual((await b.groupedDaily(SESSION)).pages);
    expect((await a.tickers(SESSION)).pages).toEqual((await b.tickers(SESSION)).pages);
    expect((await a.splits(SESSION)).pages).toEqual((await b.splits(SESSION)).pages);
    expect((await a.dividends('2023-01-03', SESSION)).pages).toEqual((await b.dividends('2023-01-03', SESSION)).pages);
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

    const dividends = await s.dividends('2024-01-02', SESSION);
    expect(dividends.rows).toBeGreaterThan(0);
    for (const page of dividends.pages) expect(DividendsPageSchema.safeParse(JSON.parse(page)).success).toBe(true);
    const row = (JSON.parse(dividends.pages[0]!) as { results: Record<string, unknown>[] }).results[0]!;
    expect(Object.keys(row)).toEqual(['cash_amount', 'currency', 'declaration_date', 'dividend_type', 'ex_dividend_date', 'frequency', 'id', 'pay_date', 'record_date', 'ticker']);
  });

  it('answers a non-session with no pages and no requests', async () => {
    const s = new SyntheticSource();
    for (const d of ['2024-03-16', '2024-12-25', '2001-09-11']) {
      expect(await s.groupedDaily(d)).toEqual({ pages: [], requests: [], rows: 0 });
      expect(await s.splits(d)).toEqual({ pages: [], requests: [], rows: 0 });
      expect(await s.dividends(d)).toEqual({ pages: [], requests: [], rows: 0 });
    }
    expect(await s.dividends('2024-03-16', '2024-03-17')).toEqual({ pages: [], requests: [], rows: 0 });
    await expect(s.dividends(SESSION, '2024-03-01')).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/synthetic dividends range/) });
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

  describe('dividends', () => {
    type Row = { ticker: string; ex_dividend_date: string; cash_amount: number; dividend_type: string; frequency: number; declaration_date: string; record_date: string; pay_date: string };
    const rowsOf = (pages: string[]) => pages.flatMap((p) => (JSON.parse(p) as { results: Row[] }).results);

    it('are the same for a seed whatever was asked before, differ for another seed, and a range lists exactly the sessions of the range', async () => {
      const [from, to] = ['2021-03-01', '2023-06-30'];
      const a = new SyntheticSource({ seed: 21, tickers: 300 });
      const b = new SyntheticSource({ seed: 21, tickers: 300 });
      await b.dividends('2022-01-03', '2022-02-28'); // warm b's caches on part of the range first
      b.bars('2022-05-02');

      const range = await a.dividends(from, to);

      expect(range.pages).toEqual((await b.dividends(from, to)).pages);
      expect(range.requests[0]!.url).toBe(`https://synthetic.fibbars.invalid/v3/reference/dividends?ex_dividend_date.gte=${from}&ex_dividend_date.lte=${to}&sort=ex_dividend_date&order=asc&limit=1000`);
      const rows = rowsOf(range.pages);
      expect(rows.length).toBe(range.rows);
      expect(rows.length).toBeGreaterThan(100);
      const dates = rows.map((r) => r.ex_dividend_date);
      expect(dates).toEqual([...dates].sort());
      expect(dates[0]! >= from && dates.at(-1)! <= to).toBe(true);
      expect(dates.every((d) => nyse.isSession(d))).toBe(true);
      // The range is the single sessions, oldest first; each single session is one page of its own.
      const single = await Promise.all(nyse.sessionsBetween(from, to).map((d) => b.dividends(d)));
      expect(rows.map((r) => JSON.stringify(r))).toEqual(single.flatMap((r) => rowsOf(r.pages)).map((r) => JSON.stringify(r)));
      expect(single.map((r) => [r.pages.length, r.requests[0]!.url])).toEqual(
        nyse.sessionsBetween(from, to).map((d) => [1, `https://synthetic.fibbars.invalid/v3/reference/dividends?ex_dividend_date=${d}&limit=1000`]),
      );
      expect(rowsOf((await new SyntheticSource({ seed: 22, tickers: 300 }).dividends(from, to)).pages)).not.toEqual(rows);
    });

    it('pay a regular quarterly dividend of 0.3 % to 1 % of the unadjusted close for about one company in three, on the same dates each year, and rare specials', async () => {
      const s = new SyntheticSource({ seed: 42, tickers: 300 });
      const rows = rowsOf((await s.dividends('2000-01-03', '2009-12-31')).pages);
      const regular = rows.filter((r) => r.dividend_type === 'CD');
      const special = rows.filter((r) => r.dividend_type === 'SC');
      expect(regular.every((r) => r.frequency === 4)).toBe(true);
      expect(special.every((r) => r.frequency === 0)).toBe(true);
      expect(regular.length + special.length).toBe(rows.length);
      const payers = new Set(regular.map((r) => r.ticker));
      const traded = new Set(nyse.sessionsBetween('2005-01-03', '2005-01-31').flatMap((d) => s.bars(d).map((b) => b.ticker)));
      const share = [...traded].filter((t) => payers.has(t)).length / traded.size;
      expect(share).toBeGreaterThan(0.2);
      expect(share).toBeLessThan(0.45);
      // About one company-year in 50: some specials, far fewer than the regular payments.
      expect(special.length).toBeGreaterThan(5);
      expect(special.length).toBeLessThan(regular.length / 10);
      const yields = rows.map((r) => ({ ...r, y: r.cash_amount / s.bars(r.ex_dividend_date).find((b) => b.ticker === r.ticker)!.close }));
      expect(yields.filter((r) => r.dividend_type === 'CD' && (r.y < 0.0029 || r.y > 0.0101))).toEqual([]);
      expect(yields.filter((r) => r.dividend_type === 'SC' && (r.y < 0.0099 || r.y > 0.0501))).toEqual([]);
      // Four a year per payer, in the same months every year, about the same day of the month.
      const byYear = new Map<string, Row[]>();
      for (const r of regular) byYear.set(`${r.ticker} ${r.ex_dividend_date.slice(0, 4)}`, [...(byYear.get(`${r.ticker} ${r.ex_dividend_date.slice(0, 4)}`) ?? []), r]);
      const months = new Map<string, Set<string>>();
      for (const [key, list] of byYear) {
        expect(list.length).toBeLessThanOrEqual(4);
        const ticker = key.split(' ')[0]!;
        months.set(ticker, new Set([...(months.get(ticker) ?? []), ...list.map((r) => r.ex_dividend_date.slice(5, 7))]));
      }
      for (const set of months.values()) expect(set.size).toBeLessThanOrEqual(5); // a date late in a month can roll into the next
      expect([...byYear.values()].filter((l) => l.length === 4).length).toBeGreaterThan(byYear.size / 2);
      // Dates around the ex-date as the vendor lists them.
      for (const r of rows) {
        expect(r.declaration_date < r.ex_dividend_date && r.record_date >= r.ex_dividend_date && r.pay_date > r.record_date).toBe(true);
      }
    });

    it('are on the unadjusted basis of the ex-date: not adjusted for a later split', async () => {
      const s = new SyntheticSource({ seed: 42, tickers: 300 });
      const splits = nyse.sessionsBetween('1995-01-03', '2020-12-31').flatMap((d) => s.splitsOn(d));
      const rows = rowsOf((await s.dividends('1995-01-03', '2020-12-31')).pages).filter((r) => r.dividend_type === 'CD');
      const yieldOf = (r: Row) => r.cash_amount / s.bars(r.ex_dividend_date).find((b) => b.ticker === r.ticker)!.close;
      // The last payment before a split and the first after it: a company pays a yield of its own on the
      // unadjusted close of each ex-date, so the same yield on both sides, although the price jumped by the ratio.
      const across = splits.flatMap((x) => {
        const before = rows.filter((r) => r.ticker === x.ticker && r.ex_dividend_date < x.execution_date).at(-1);
        const after = rows.find((r) => r.ticker === x.ticker && r.ex_dividend_date >= x.execution_date);
        return before && after ? [{ ratio: x.split_to / x.split_from, before: yieldOf(before), after: yieldOf(after) }] : [];
      });
      expect(across.filter((a) => Math.abs(Math.log(a.ratio)) >= Math.log(2)).length).toBeGreaterThan(2);
      for (const a of across) expect(Math.abs(Math.log(a.before / a.after))).toBeLessThan(0.05);
    });

    it('page a long range by 1,000 rows, next_url pointing at the next page', async () => {
      const s = new SyntheticSource({ seed: 42, tickers: 300 });

      const result = await s.dividends('1990-01-02', '2009-12-31');

      expect(result.pages.length).toBeGreaterThan(2);
      const pages = result.pages.map((p) => JSON.parse(p) as { results: unknown[]; next_url?: string });
      expect(pages.slice(0, -1).every((p) => p.results.length === 1000)).toBe(true);
      expect(pages.at(-1)!.next_url).toBeUndefined();
      expect(pages.slice(0, -1).map((p) => p.next_url)).toEqual(result.requests.slice(1).map((r) => r.url));
      expect(pages.reduce((n, p) => n + p.results.length, 0)).toBe(result.rows);
    });

    it('pays on a realistic share of a large market: ten years of 1,000 tickers', async () => {
      const s = new SyntheticSource({ seed: 5, tickers: 1_000 });
      const result = await s.dividends('2010-01-04', '2019-12-31');
      // About a third of the companies, four ex-dates a year each, less the years they were not listed.
      expect(result.rows).toBeGreaterThan(5_000);
      expect(result.rows).toBeLessThan(20_000);
    });
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

  describe('ticker events', () => {
    it('answer each known composite FIGI with one page, in the order asked: the listing date to its symbol, as the vendor shapes it', async () => {
      const s = new SyntheticSource({ seed: 42, tickers: 300 });
      const rows = (await s.tickers(SESSION)).pages.flatMap((p) => (JSON.parse(p) as { results: Record<string, string>[] }).results);
      const late = rows.find((r) => r.ticker === 'ISXX')!; // listed 2024-03-08
      const [first, gone] = [rows.find((r) => r.active)!, rows.find((r) => (r as { active?: unknown }).active === false)!];
      expect(first.composite_figi).toMatch(/^BBG[0-9A-F]{9}$/);

      const result = await s.tickerEvents([late.composite_figi!, 'BBG000UNKNWN', first.composite_figi!, gone.composite_figi!]);

      expect(result.rows).toBe(3);
      // The pages' requests, then the unknown id's 404 (no page).
      expect(result.requests.map((r) => [r.url, r.status])).toEqual([
        ...[late, first, gone].map((r) => [`https://synthetic.fibbars.invalid/vX/reference/tickers/${r.composite_figi}/events?types=ticker_change`, 200]),
        ['https://synthetic.fibbars.invalid/vX/reference/tickers/BBG000UNKNWN/events?types=ticker_change', 404],
      ]);
      expect(result.pages).toHaveLength(3);
      const pages = result.pages.map((p) => JSON.parse(p) as Record<string, unknown>);
      for (const p of pages) expect(TickerEventsPageSchema.safeParse(p).success).toBe(true);
      expect(pages[0]).toEqual({
        results: { name: late.name, composite_figi: late.composite_figi, cik: late.cik, events: [{ ticker_change: { ticker: 'ISXX' }, type: 'ticker_change', date: '2024-03-08' }] },
        status: 'OK',
        request_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      });
      expect(s.bars('2024-03-07').some((b) => b.ticker === 'ISXX')).toBe(false);
      expect(s.bars('2024-03-08').some((b) => b.ticker === 'ISXX')).toBe(true);
      // Each date is the first session the symbol trades (or the calendar's first one).
      const listed = (pages[1]!.results as { events: { date: string }[] }).events[0]!.date;
      expect(s.security(first.composite_figi!)).toMatchObject({ ticker: first.ticker, listed });
      expect(s.bars(listed).some((b) => b.ticker === first.ticker)).toBe(true);
      if (listed > nyse.sessions[0]!) expect(s.bars(nyse.previousSession(listed)).some((b) => b.ticker === first.ticker)).toBe(false);
      expect(s.security(gone.composite_figi!)).toMatchObject({ ticker: gone.ticker, lastSession: nyse.previousSession(gone.delisted_utc!.slice(0, 10)) });
      expect(s.security('BBG000UNKNWN')).toBeUndefined();
    });

    it('are the same for a seed whatever was generated before, and cost no market regeneration per call', async () => {
      const a = new SyntheticSource({ seed: 9, tickers: 2_000 });
      const figis = (await a.tickers(SESSION)).pages.flatMap((p) => (JSON.parse(p) as { results: { composite_figi: string }[] }).results.map((r) => r.composite_figi));
      const b = new SyntheticSource({ seed: 9, tickers: 2_000 });
      await b.groupedDaily('2001-05-01');

      const once = await a.tickerEvents(figis);
      expect(once.pages).toHaveLength(figis.length);
      expect((await b.tickerEvents(figis)).pages).toEqual(once.pages);
      for (const figi of figis.slice(0, 200)) expect((await a.tickerEvents([figi])).pages).toEqual([once.pages[figis.indexOf(figi)]]);
      expect(await a.tickerEvents([])).toEqual({ pages: [], requests: [], rows: 0 });
    });
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
