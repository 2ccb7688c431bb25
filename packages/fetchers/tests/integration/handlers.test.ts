import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { RawZone, openStore } from '@fibbars/ohlcv-core/storage';
import { EVENTS_CHUNK, dividendsCoverage } from '../../src/fetch.js';
import { createMetaHandler, createOhlcvHandler } from '../../src/handlers.js';
import { SyntheticSource } from '../../src/synthetic.js';
import type { MarketSource } from '../../src/source.js';
import { UpstreamUnavailableError } from '../../src/errors.js';
import { PolygonSource } from '../../src/polygon.js';
import { memoryLogger, tempLake } from '../helpers/lake.js';
import { bar, groupedDaily, json, startVendor, tickerRow } from '../helpers/vendor.js';
import type { VendorServer } from '../helpers/vendor.js';
import { gunzipSync } from 'node:zlib';
import { parseTickerEvents } from '@fibbars/ohlcv-core';
import { syntheticVendor } from '../helpers/synthetic-vendor.js';

/** A Polars date value as YYYY-MM-DD. */
const isoDay = (d: unknown): string => (d instanceof Date || Object.prototype.toString.call(d) === '[object Date]' ? (d as Date).toISOString().slice(0, 10) : String(d));

// 2024-03-15 (a Friday) at 22:00 UTC = 18:00 in New York: that session is fetchable.
const FRIDAY_EVENING = () => new Date('2024-03-15T22:00:00Z');

type TickerRow = { ticker: string; active: boolean; composite_figi: string };
const tickerRows = (pages: readonly string[]): TickerRow[] => pages.flatMap((p) => (JSON.parse(p) as { results: TickerRow[] }).results);
/** The composite FIGIs of a snapshot's active tickers, in snapshot order. */
const activeFigis = (pages: readonly string[]): string[] => tickerRows(pages).filter((r) => r.active).map((r) => r.composite_figi);

describe('ohlcv handler (in process, synthetic market, folder lake)', () => {
  let lake: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ lake, cleanup } = await tempLake()));
  afterEach(() => cleanup());

  it('fetches the given session and writes the page unchanged to raw/ohlcv', async () => {
    const source = new SyntheticSource({ seed: 1, tickers: 50 });
    const handler = createOhlcvHandler({ source, lake, now: FRIDAY_EVENING, logger: memoryLogger() });

    const result = await handler({ date: '2024-03-14' }, { awsRequestId: 'req-1' });

    const expected = await new SyntheticSource({ seed: 1, tickers: 50 }).groupedDaily('2024-03-14');
    expect(result).toEqual({ status: 'ok', lake, sessions: ['2024-03-14'], caughtUp: [], rows: expected.rows, rawKeys: [expect.stringMatching(/^raw\/ohlcv\/date=2024-03-14\//)] });
    const raw = new RawZone(openStore(lake));
    const [fetch] = await raw.list('ohlcv');
    expect(await raw.read(fetch!)).toEqual(expected.pages.map((p) => JSON.parse(p)));
    expect((await raw.readMeta(fetch!)).source).toBe('synthetic');
  });

  it('answers no-session for a holiday without writing anything', async () => {
    const handler = createOhlcvHandler({ source: new SyntheticSource(), lake, now: FRIDAY_EVENING, logger: memoryLogger() });

    const result = await handler({ date: '2023-12-25' });

    expect(result).toEqual({ status: 'no-session', lake, sessions: [], caughtUp: [], rows: 0, rawKeys: [] });
    expect(await new RawZone(openStore(lake)).list('ohlcv')).toEqual([]);
  });

  it('fetches just the latest session on a fresh raw zone, then the missing ones up to the cap', async () => {
    const logger = memoryLogger();
    const first = createOhlcvHandler({ source: new SyntheticSource({ tickers: 5 }), lake, now: () => new Date('2024-03-01T22:00:00Z'), logger });
    expect((await first({})).sessions).toEqual(['2024-03-01']);

    const later = createOhlcvHandler({ source: new SyntheticSource({ tickers: 5 }), lake, now: FRIDAY_EVENING, logger });
    const second = await later({ maxBackfillSessions: 3 });
    expect(second.sessions).toEqual(nyse.sessionsBetween('2024-03-04', '2024-03-06'));
    const third = await later({});
    expect(third.sessions).toEqual(nyse.sessionsBetween('2024-03-07', '2024-03-13')); // default cap: 5
    const fourth = await later({});
    expect(fourth.sessions).toEqual(['2024-03-14', '2024-03-15']);
    const fifth = await later({});
    expect(fifth).toMatchObject({ status: 'ok', sessions: [], rows: 0, rawKeys: [] });
  });

  it('treats today as fetchable only from 16:30 New York time', async () => {
    const at = (iso: string) => createOhlcvHandler({ source: new SyntheticSource({ tickers: 3 }), lake, now: () => new Date(iso), logger: memoryLogger() });
    // 2024-03-15 is in EDT (UTC-4): 20:29 UTC is 16:29 in New York.
    expect((await at('2024-03-15T20:29:00Z')({})).sessions).toEqual(['2024-03-14']);
    await cleanup();
    expect((await at('2024-03-15T20:30:00Z')({})).sessions).toEqual(['2024-03-15']);
  });

  it.each([
    [{ date: '2024-13-01' }, /event\.date/],
    [{ date: '2024-02-30' }, /event\.date/],
    [{ date: 20240315 }, /event\.date/],
    [{ maxBackfillSessions: 0 }, /event\.maxBackfillSessions/],
    [{ maxBackfillSessions: 2.5 }, /event\.maxBackfillSessions/],
    [{ date: '2030-01-02' }, /future/],
    [{ date: '1985-01-02' }, /outside the NYSE calendar/],
    [{ lake: 'ftp://nowhere/lake' }, /lake|URI|uri/],
    ['not an object', /event/],
  ])('rejects the bad event %j with a ConfigError and writes nothing', async (event, message) => {
    const handler = createOhlcvHandler({ source: new SyntheticSource({ tickers: 3 }), lake, now: FRIDAY_EVENING, logger: memoryLogger() });

    await expect(handler(event)).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(message) });
    expect(await openStore(lake).list('')).toEqual([]);
  });

  it('throws the source failure by name instead of returning a failure payload', async () => {
    const failing: MarketSource = {
      name: 'failing',
      groupedDaily: async () => {
        throw new UpstreamUnavailableError('vendor down (HTTP 503 after 4 retries)');
      },
      tickers: async () => ({ pages: [], requests: [], rows: 0 }),
      splits: async () => ({ pages: [], requests: [], rows: 0 }),
      dividends: async () => ({ pages: [], requests: [], rows: 0 }),
      tickerEvents: async () => ({ pages: [], requests: [], rows: 0 }),
    };
    const logger = memoryLogger();
    const handler = createOhlcvHandler({ source: failing, lake, now: FRIDAY_EVENING, logger });

    await expect(handler({ date: '2024-03-15' }, { awsRequestId: 'req-9', functionName: 'prod-fibbars-ohlcv' })).rejects.toMatchObject({
      name: 'UpstreamUnavailableError',
      // What the alert shows (the error document has no request id): the way to the log lines.
      message: 'vendor down (HTTP 503 after 4 retries) (function prod-fibbars-ohlcv, request req-9)',
    });
    const errorLine = logger.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'error');
    expect(errorLine).toMatchObject({ correlation_id: 'req-9', error: 'UpstreamUnavailableError' });
  });

  it('tags every log line with the request id as correlation id', async () => {
    const logger = memoryLogger();
    const handler = createOhlcvHandler({ source: new SyntheticSource({ tickers: 3 }), lake, now: FRIDAY_EVENING, logger });

    await handler({ date: '2024-03-15' }, { awsRequestId: 'abc-123' });

    expect(logger.lines.length).toBeGreaterThan(1);
    for (const line of logger.lines) expect(JSON.parse(line)).toMatchObject({ correlation_id: 'abc-123' });
  });
});

describe('meta handler (in process, synthetic market, folder lake)', () => {
  let lake: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ lake, cleanup } = await tempLake()));
  afterEach(() => cleanup());

  it('writes the ticker snapshot, the splits and the dividends of the session, and on a new lake the ticker events of every active security', async () => {
    const handler = createMetaHandler({ source: new SyntheticSource({ tickers: 40 }), lake, now: FRIDAY_EVENING, logger: memoryLogger() });

    const result = await handler({ date: '2024-03-15' });

    const reference = new SyntheticSource({ tickers: 40 });
    const tickers = await reference.tickers('2024-03-15');
    const splits = await reference.splits('2024-03-15');
    const dividends = await reference.dividends('2024-03-15');
    const figis = activeFigis(tickers.pages);
    expect(figis.length).toBeGreaterThan(30);
    const events = await reference.tickerEvents(figis);
    expect(events.rows).toBe(figis.length);
    expect(result).toMatchObject({ status: 'ok', sessions: ['2024-03-15'], rows: tickers.rows + splits.rows + dividends.rows + events.rows });
    const raw = new RawZone(openStore(lake));
    expect((await raw.list('tickers')).map((f) => f.session)).toEqual(['2024-03-15']);
    expect((await raw.list('splits')).map((f) => f.session)).toEqual(['2024-03-15']);
    const [fetch, ...more] = await raw.list('dividends');
    expect(more).toEqual([]);
    expect(fetch!.session).toBe('2024-03-15');
    expect(await raw.read(fetch!)).toEqual(dividends.pages.map((p) => JSON.parse(p)));
    const meta = await raw.readMeta(fetch!);
    expect(meta).toMatchObject({ source: 'synthetic', rows: dividends.rows });
    expect(meta.requests.map((r) => r.url)).toEqual(['https://synthetic.fibbars.invalid/v3/reference/dividends?ex_dividend_date=2024-03-15&limit=1000']);
    expect(dividendsCoverage(meta)).toEqual({ from: '2024-03-15', to: '2024-03-15' });
    // No earlier snapshot: one events page per active security, in snapshot order, under the snapshot's session.
    const [eventsFetch, ...moreEvents] = await raw.list('ticker_events');
    expect(moreEvents).toEqual([]);
    expect(eventsFetch!.key).toMatch(/^raw\/ticker_events\/date=2024-03-15\//);
    expect(await raw.read(eventsFetch!)).toEqual(events.pages.map((p) => JSON.parse(p)));
    expect((await raw.readMeta(eventsFetch!)).requests.map((r) => r.url)).toEqual(figis.map((f) => `https://synthetic.fibbars.invalid/vX/reference/tickers/${f}/events?types=ticker_change`));
    expect(result.rawKeys).toHaveLength(4);
    expect(result.rawKeys.filter((k) => k.startsWith('raw/dividends/date=2024-03-15/'))).toEqual([fetch!.key]);
    expect(result.rawKeys).toContain(eventsFetch!.key);
  });

  it('writes the dividends of a range in one listing under its last session, covering the range', async () => {
    const source = new SyntheticSource({ tickers: 300 });
    await createMetaHandler({ source, lake, now: () => new Date('2024-02-29T22:00:00Z'), logger: memoryLogger() })({});
    const handler = createMetaHandler({ source, lake, now: FRIDAY_EVENING, logger: memoryLogger() });

    const result = await handler({ maxBackfillSessions: 20 });

    expect(result.sessions).toEqual(nyse.sessionsBetween('2024-03-01', '2024-03-15'));
    const raw = new RawZone(openStore(lake));
    const fetches = await raw.list('dividends');
    expect(fetches.map((f) => f.session)).toEqual(['2024-02-29', '2024-03-15']);
    const meta = await raw.readMeta(fetches[1]!);
    expect(meta.requests[0]!.url).toMatch(/\/v3\/reference\/dividends\?ex_dividend_date\.gte=2024-03-01&ex_dividend_date\.lte=2024-03-15&sort=ex_dividend_date&order=asc&limit=1000$/);
    expect(dividendsCoverage(meta)).toEqual({ from: '2024-03-01', to: '2024-03-15' });
    const expected = await new SyntheticSource({ tickers: 300 }).dividends('2024-03-01', '2024-03-15');
    expect(expected.rows).toBeGreaterThan(0);
    expect(await raw.read(fetches[1]!)).toEqual(expected.pages.map((p) => JSON.parse(p)));
    // ISXX listed on 2024-03-08: the one (ticker, FIGI) pair of the snapshot not in the one of 2024-02-29.
    const snapshot = await source.tickers('2024-03-15');
    const isxx = tickerRows(snapshot.pages).find((r) => r.ticker === 'ISXX')!;
    expect(source.security(isxx.composite_figi)).toMatchObject({ ticker: 'ISXX', listed: '2024-03-08' });
    const [, latestEvents] = await raw.list('ticker_events');
    expect(latestEvents!.session).toBe('2024-03-15');
    expect(await raw.read(latestEvents!)).toEqual((await source.tickerEvents([isxx.composite_figi])).pages.map((p) => JSON.parse(p)));
    expect(result.rows).toBe(expected.rows + (await source.splits('2024-03-01', '2024-03-15')).rows + snapshot.rows + 1);
  });

  it('plans again the sessions whose dividends failed while their splits were written', async () => {
    const market = new SyntheticSource({ tickers: 5 });
    let failing = true;
    const source: MarketSource = {
      name: market.name,
      groupedDaily: (session) => market.groupedDaily(session),
      tickers: (asOf) => market.tickers(asOf),
      splits: (from, to) => market.splits(from, to),
      dividends: async (from, to) => {
        if (failing) throw new UpstreamUnavailableError('dividends down (HTTP 503 after 4 retries)');
        return market.dividends(from, to);
      },
      tickerEvents: (ids) => market.tickerEvents(ids),
    };
    failing = false;
    await createMetaHandler({ source, lake, now: () => new Date('2024-03-11T22:00:00Z'), logger: memoryLogger() })({});
    failing = true;
    const handler = createMetaHandler({ source, lake, now: FRIDAY_EVENING, logger: memoryLogger() });

    await expect(handler({})).rejects.toMatchObject({ name: 'UpstreamUnavailableError' });
    const raw = new RawZone(openStore(lake));
    expect(await raw.sessions('splits')).toEqual(['2024-03-11', '2024-03-15']);
    expect(await raw.sessions('dividends')).toEqual(['2024-03-11']);

    failing = false;
    const healed = await handler({});
    expect(healed).toMatchObject({ status: 'ok', sessions: nyse.sessionsBetween('2024-03-12', '2024-03-15'), caughtUp: [] });
    const latest = await raw.latest('dividends', '2024-03-15');
    expect(dividendsCoverage(await raw.readMeta(latest!))).toEqual({ from: '2024-03-12', to: '2024-03-15' });
    expect((await handler({})).sessions).toEqual([]);
  });

  it('backfills the splits of every missing session in one range listing and snapshots tickers once, at the latest', async () => {
    const first = createMetaHandler({ source: new SyntheticSource({ tickers: 5 }), lake, now: () => new Date('2024-03-11T22:00:00Z'), logger: memoryLogger() });
    await first({});
    const handler = createMetaHandler({ source: new SyntheticSource({ tickers: 5 }), lake, now: FRIDAY_EVENING, logger: memoryLogger() });

    const result = await handler({});

    expect(result.sessions).toEqual(nyse.sessionsBetween('2024-03-12', '2024-03-15'));
    const raw = new RawZone(openStore(lake));
    // One fetch for the four sessions, kept whole under the last of them; its request names the range.
    const fetches = await raw.list('splits');
    expect(fetches.map((f) => f.session)).toEqual(['2024-03-11', '2024-03-15']);
    const meta = await raw.readMeta(fetches[1]!);
    expect(meta.requests[0]!.url).toMatch(/execution_date\.gte=2024-03-12&execution_date\.lte=2024-03-15/);
    expect(await raw.read(fetches[1]!)).toEqual((await new SyntheticSource({ tickers: 5 }).splits('2024-03-12', '2024-03-15')).pages.map((p) => JSON.parse(p)));
    expect(await raw.sessions('tickers')).toEqual(['2024-03-11', '2024-03-15']);
    const dividends = await raw.list('dividends');
    expect(dividends.map((f) => f.session)).toEqual(['2024-03-11', '2024-03-15']);
    expect(dividendsCoverage(await raw.readMeta(dividends[1]!))).toEqual({ from: '2024-03-12', to: '2024-03-15' });
    // The range counts as fetched: nothing is planned again.
    expect((await handler({})).sessions).toEqual([]);
  });

  it('re-asks the whole range a folder held when one session of it is fetched again, so the latest fetch never narrows it', async () => {
    const source = new SyntheticSource({ tickers: 5 });
    await createMetaHandler({ source, lake, now: () => new Date('2024-03-11T22:00:00Z'), logger: memoryLogger() })({});
    const handler = createMetaHandler({ source, lake, now: FRIDAY_EVENING, logger: memoryLogger() });
    await handler({}); // 2024-03-12 .. 2024-03-15, stored under 2024-03-15

    await handler({ date: '2024-03-15' });

    const raw = new RawZone(openStore(lake));
    const latest = await raw.latest('splits', '2024-03-15');
    expect((await raw.readMeta(latest!)).requests[0]!.url).toMatch(/execution_date\.gte=2024-03-12&execution_date\.lte=2024-03-15/);
    const dividends = await raw.latest('dividends', '2024-03-15');
    expect((await raw.list('dividends')).filter((f) => f.session === '2024-03-15')).toHaveLength(2);
    expect(dividendsCoverage(await raw.readMeta(dividends!))).toEqual({ from: '2024-03-12', to: '2024-03-15' });
  });

  it('spreads a new lake\'s ticker-events backfill over runs within its budget, asking every security once', async () => {
    const market = new SyntheticSource({ tickers: 30 });
    const asked: string[][] = [];
    const source: MarketSource = {
      name: market.name,
      groupedDaily: (session) => market.groupedDaily(session),
      tickers: (asOf) => market.tickers(asOf),
      splits: (from, to) => market.splits(from, to),
      dividends: (from, to) => market.dividends(from, to),
      tickerEvents: (ids) => {
        asked.push([...ids]);
        return market.tickerEvents(ids);
      },
    };
    const raw = new RawZone(openStore(lake));
    const days = ['2024-03-11', '2024-03-12', '2024-03-13', '2024-03-14', '2024-03-15'];
    const logs: string[][] = [];
    for (const day of days) {
      const logger = memoryLogger();
      await createMetaHandler({ source, lake, now: () => new Date(`${day}T22:00:00Z`), logger, eventsBackfill: { maxIds: 12 } })({ date: day });
      logs.push(logger.lines);
    }
    const figis = activeFigis((await market.tickers('2024-03-11')).pages);
    expect(figis.length).toBeGreaterThan(24);
    expect(figis.length).toBeLessThanOrEqual(36);
    // 12 ids a run, in chunks of at most EVENTS_CHUNK, in snapshot order: every active security once.
    expect(asked.every((c) => c.length <= EVENTS_CHUNK)).toBe(true);
    expect(asked.flat()).toEqual(figis);
    const backfills = logs.map((lines) => lines.map((l) => JSON.parse(l) as { message: string; asked?: number; pending?: number }).find((l) => l.message === 'ticker events backfill'));
    expect(backfills.slice(0, 3).map((b) => b?.asked)).toEqual([12, 12, figis.length - 24]);
    expect(backfills.slice(0, 3).map((b) => b?.pending)).toEqual([figis.length - 12, figis.length - 24, 0]);
    expect(backfills.slice(3)).toEqual([undefined, undefined]);
    // One events fetch per run that asked; the raw zone names every security once.
    expect(await raw.sessions('ticker_events')).toEqual(days.slice(0, 3));
    const inRaw = (await Promise.all((await raw.list('ticker_events')).map(async (f) => (await raw.read(f)) as { results: { composite_figi: string } }[]))).flat();
    expect(inRaw.map((p) => p.results.composite_figi).sort()).toEqual([...figis].sort());
  });

  it('ends the backfill at a vendor failure with a warning, keeping the snapshot and what was answered; the next run asks the rest', async () => {
    const market = new SyntheticSource({ tickers: 30 });
    const asked: string[][] = [];
    let failOn: number | null = 2;
    const source: MarketSource = {
      name: market.name,
      groupedDaily: (session) => market.groupedDaily(session),
      tickers: (asOf) => market.tickers(asOf),
      splits: (from, to) => market.splits(from, to),
      dividends: (from, to) => market.dividends(from, to),
      tickerEvents: async (ids) => {
        asked.push([...ids]);
        if (asked.length === failOn) throw new UpstreamUnavailableError(`ticker events ${ids[0]}: HTTP 503 after 5 attempts`);
        return market.tickerEvents(ids);
      },
    };
    const figis = activeFigis((await market.tickers('2024-03-15')).pages);
    const logger = memoryLogger();
    const result = await createMetaHandler({ source, lake, now: FRIDAY_EVENING, logger })({ date: '2024-03-15' });
    expect(result).toMatchObject({ status: 'ok', sessions: ['2024-03-15'] });
    const raw = new RawZone(openStore(lake));
    expect(await raw.sessions('tickers')).toEqual(['2024-03-15']);
    const [first] = await raw.list('ticker_events');
    const answered = ((await raw.read(first!)) as { results: { composite_figi: string } }[]).map((p) => p.results.composite_figi);
    expect(answered).toEqual(figis.slice(0, EVENTS_CHUNK));
    const warned = logger.lines.map((l) => JSON.parse(l) as { level: string; message: string; error?: string; asked?: number }).find((l) => l.level === 'warn');
    expect(warned).toMatchObject({ message: 'ticker events backfill stopped by a vendor failure: the next runs ask the rest', error: 'UpstreamUnavailableError', asked: EVENTS_CHUNK });
    // The next session: the failed chunk and the rest.
    failOn = null;
    await createMetaHandler({ source, lake, now: () => new Date('2024-03-18T22:00:00Z'), logger: memoryLogger() })({ date: '2024-03-18' });
    expect(asked.slice(2).flat()).toEqual(figis.slice(EVENTS_CHUNK));
  });

  it('stops starting backfill chunks once its seconds are spent, and a re-run of the session asks that session\'s ids again', async () => {
    const market = new SyntheticSource({ tickers: 40 });
    const asked: string[][] = [];
    const source: MarketSource = {
      name: market.name,
      groupedDaily: (session) => market.groupedDaily(session),
      tickers: (asOf) => market.tickers(asOf),
      splits: (from, to) => market.splits(from, to),
      dividends: (from, to) => market.dividends(from, to),
      tickerEvents: (ids) => {
        asked.push([...ids]);
        return market.tickerEvents(ids);
      },
    };
    // A clock that moves a minute each time it is read: with a 90 s budget one chunk starts (at +1 min), the next look (+2 min) stops.
    const clock = (start: string) => {
      let t = new Date(start).getTime();
      return () => new Date((t += 60_000));
    };
    const run = (date: string) => createMetaHandler({ source, lake, now: clock(`${date}T21:00:00Z`), logger: memoryLogger(), eventsBackfill: { seconds: 90 } })({ date });
    const figis = activeFigis((await market.tickers('2024-03-15')).pages);
    await run('2024-03-15');
    expect(asked).toEqual([figis.slice(0, EVENTS_CHUNK)]);
    // The same session again: its own fetch is replaced, so its ids are asked again (and no further: same budget).
    await run('2024-03-15');
    expect(asked.slice(1)).toEqual([figis.slice(0, EVENTS_CHUNK)]);
    // The next session goes on where the latest fetches leave off.
    await run('2024-03-18');
    expect(asked.slice(2)).toEqual([figis.slice(EVENTS_CHUNK, 2 * EVENTS_CHUNK)]);
    // No budget: only new securities (none here), nothing asked.
    await createMetaHandler({ source, lake, now: () => new Date('2024-03-19T22:00:00Z'), logger: memoryLogger(), eventsBackfill: { seconds: 0 } })({ date: '2024-03-19' });
    expect(asked).toHaveLength(3);
  });

  it('asks on a later day only the ticker events of a new or changed (ticker, FIGI) pair, and nothing when none is new', async () => {
    const market = new SyntheticSource({ tickers: 300 });
    const renamedFrom = tickerRows((await market.tickers('2024-03-18')).pages).find((r) => r.active && r.ticker !== 'ISXX')!;
    const asked: string[][] = [];
    const source: MarketSource = {
      name: market.name,
      groupedDaily: (session) => market.groupedDaily(session),
      // From 2024-03-18 on, one security trades under a new symbol (same FIGI).
      tickers: async (asOf) => {
        const result = await market.tickers(asOf);
        if (asOf === undefined || asOf < '2024-03-18') return result;
        return { ...result, pages: result.pages.map((p) => p.replace(`"ticker":"${renamedFrom.ticker}"`, '"ticker":"RENAMED"')) };
      },
      splits: (from, to) => market.splits(from, to),
      dividends: (from, to) => market.dividends(from, to),
      tickerEvents: (ids) => {
        asked.push([...ids]);
        return market.tickerEvents(ids);
      },
    };
    const at = (iso: string) => createMetaHandler({ source, lake, now: () => new Date(iso), logger: memoryLogger() });
    const raw = new RawZone(openStore(lake));

    await at('2024-02-29T22:00:00Z')({});
    // A new lake: every active security is backfilled, in chunks of EVENTS_CHUNK (the clock stands still: no budget runs out).
    expect(asked.flat()).toEqual(activeFigis((await market.tickers('2024-02-29')).pages));
    expect(asked.map((c) => c.length)).toEqual(asked.map((_, i) => (i < asked.length - 1 ? EVENTS_CHUNK : asked.at(-1)!.length)));
    const backfillCalls = asked.length;
    await at('2024-03-15T22:00:00Z')({ maxBackfillSessions: 20 });
    const isxx = tickerRows((await market.tickers('2024-03-15')).pages).find((r) => r.ticker === 'ISXX')!;
    expect(asked.slice(backfillCalls)).toEqual([[isxx.composite_figi]]); // listed 2024-03-08
    const renamedDay = await at('2024-03-18T22:00:00Z')({});
    expect(asked.slice(backfillCalls + 1)).toEqual([[renamedFrom.composite_figi]]); // (RENAMED, its FIGI) is new
    expect(renamedDay.rawKeys.filter((k) => k.startsWith('raw/ticker_events/date=2024-03-18/'))).toHaveLength(1);

    const quiet = await at('2024-03-19T22:00:00Z')({});

    expect(asked).toHaveLength(backfillCalls + 2);
    expect(quiet).toMatchObject({ status: 'ok', sessions: ['2024-03-19'] });
    expect(quiet.rawKeys).toHaveLength(3); // splits, dividends, snapshot: no events file
    expect(await raw.sessions('ticker_events')).toEqual(['2024-02-29', '2024-03-15', '2024-03-18']);
    expect(await raw.sessions('tickers')).toEqual(['2024-02-29', '2024-03-15', '2024-03-18', '2024-03-19']);
  });

  it('asks the same ticker events again when a run failed on them, comparing with the snapshot of an earlier session', async () => {
    const market = new SyntheticSource({ tickers: 20 });
    const renamedFrom = tickerRows((await market.tickers('2024-03-15')).pages).find((r) => r.active)!;
    let failing = false;
    const asked: string[][] = [];
    const source: MarketSource = {
      name: market.name,
      groupedDaily: (session) => market.groupedDaily(session),
      tickers: async (asOf) => {
        const result = await market.tickers(asOf);
        if (asOf === undefined || asOf < '2024-03-15') return result;
        return { ...result, pages: result.pages.map((p) => p.replace(`"ticker":"${renamedFrom.ticker}"`, '"ticker":"RENAMED"')) };
      },
      splits: (from, to) => market.splits(from, to),
      dividends: (from, to) => market.dividends(from, to),
      tickerEvents: async (ids) => {
        asked.push([...ids]);
        if (failing) throw new UpstreamUnavailableError(`ticker events ${ids[0]}: HTTP 503 after 5 attempts`);
        return market.tickerEvents(ids);
      },
    };
    await createMetaHandler({ source, lake, now: () => new Date('2024-03-11T22:00:00Z'), logger: memoryLogger() })({});
    const firstCalls = asked.length;
    const handler = createMetaHandler({ source, lake, now: FRIDAY_EVENING, logger: memoryLogger() });
    const raw = new RawZone(openStore(lake));

    failing = true;
    await expect(handler({})).rejects.toMatchObject({ name: 'UpstreamUnavailableError', message: expect.stringMatching(/^ticker events /) });
    // The listings are written; the snapshot waits for its events.
    expect(await raw.sessions('splits')).toEqual(['2024-03-11', '2024-03-15']);
    expect(await raw.sessions('tickers')).toEqual(['2024-03-11']);
    expect(await raw.sessions('ticker_events')).toEqual(['2024-03-11']);

    // The retry (same event) plans the session again and asks the same id.
    failing = false;
    const retried = await handler({});
    expect(retried).toMatchObject({ status: 'ok', sessions: ['2024-03-15'] });
    expect(asked.slice(firstCalls)).toEqual([[renamedFrom.composite_figi], [renamedFrom.composite_figi]]);
    expect(await raw.sessions('tickers')).toEqual(['2024-03-11', '2024-03-15']);
    expect(await raw.sessions('ticker_events')).toEqual(['2024-03-11', '2024-03-15']);
    expect((await handler({})).sessions).toEqual([]);

    // A re-run of the session compares with the snapshot of 2024-03-11, not with its own of 2024-03-15.
    const rerun = await handler({ date: '2024-03-15' });
    expect(asked.at(-1)).toEqual([renamedFrom.composite_figi]);
    expect(rerun.rawKeys.filter((k) => k.startsWith('raw/ticker_events/date=2024-03-15/'))).toHaveLength(1);
    expect((await raw.list('ticker_events')).filter((f) => f.session === '2024-03-15')).toHaveLength(2);
  });

  it('answers no-session on a weekend date', async () => {
    const handler = createMetaHandler({ source: new SyntheticSource({ tickers: 5 }), lake, now: FRIDAY_EVENING, logger: memoryLogger() });
    expect(await handler({ date: '2024-03-09' })).toMatchObject({ status: 'no-session', sessions: [] });
  });
});

describe('handlers with the vendor source (local vendor server)', () => {
  const KEY = 'pk_handler_SECRET_5e5e5e5e';
  let lake: string;
  let cleanup: () => Promise<void>;
  let vendor: VendorServer;
  beforeEach(async () => {
    ({ lake, cleanup } = await tempLake());
    vendor = await startVendor();
  });
  afterEach(async () => {
    await vendor.close();
    await cleanup();
  });
  const polygon = () => new PolygonSource({ apiKey: KEY, baseUrl: vendor.baseUrl, rpm: 10_000, maxRetries: 1, sleep: async () => {} });

  it('throws InvalidResponseError on an empty grouped daily for an open session, and writes nothing', async () => {
    vendor.route = (_req, res) => json(res, groupedDaily([]));
    const handler = createOhlcvHandler({ source: polygon(), lake, now: FRIDAY_EVENING, logger: memoryLogger() });

    await expect(handler({ date: '2024-03-15' })).rejects.toMatchObject({ name: 'InvalidResponseError' });
    expect(await openStore(lake).list('')).toEqual([]);
  });

  it('fetches again a session that failed while a later one succeeded, and names it as caught up', async () => {
    let failing = true;
    vendor.route = (req, res) => {
      const session = /(\d{4}-\d{2}-\d{2})$/.exec(req.path)?.[1];
      if (failing && session === '2024-03-13') return json(res, { status: 'ERROR', error: 'upstream trouble' }, 503);
      return json(res, groupedDaily([bar('AAPL', 100)]));
    };
    await createOhlcvHandler({ source: polygon(), lake, now: () => new Date('2024-03-11T22:00:00Z'), logger: memoryLogger() })({});
    const handler = createOhlcvHandler({ source: polygon(), lake, now: FRIDAY_EVENING, logger: memoryLogger() });

    // Four sessions in flight: 2024-03-13 fails after its retry, the later ones succeed.
    await expect(handler({})).rejects.toMatchObject({ name: 'UpstreamUnavailableError' });
    const raw = new RawZone(openStore(lake));
    expect(await raw.sessions('ohlcv')).toEqual(['2024-03-11', '2024-03-12', '2024-03-14', '2024-03-15']);

    failing = false;
    const healed = await handler({});
    expect(healed).toMatchObject({ status: 'ok', sessions: ['2024-03-13'], caughtUp: ['2024-03-13'] });
    expect(await raw.sessions('ohlcv')).toEqual(nyse.sessionsBetween('2024-03-11', '2024-03-15'));
    expect(await handler({})).toMatchObject({ sessions: [], caughtUp: [] });
    expect(vendor.requests.filter((r) => r.path.endsWith('2024-03-13'))).toHaveLength(3); // 2 failed attempts, 1 success
  });

  it('follows a scripted rename: the next day asks the renamed security only, and its events page holds both changes', async () => {
    const market = new SyntheticSource({ seed: 7, tickers: 300 });
    const figi = tickerRows((await market.tickers('2026-06-12')).pages).find((r) => r.active)!.composite_figi;
    const { listed } = market.security(figi)!;
    const renames = [{ figi, from: 'OLD', to: 'NEW', date: '2026-06-15' }];
    const events = () => vendor.requests.filter((r) => r.path.startsWith('/vX/reference/tickers/'));
    const at = (iso: string) => createMetaHandler({ source: polygon(), lake, now: () => new Date(iso), logger: memoryLogger() });
    const raw = new RawZone(openStore(lake));

    // Friday 2026-06-12: the vendor still lists OLD; a new lake asks every active security.
    vendor.route = syntheticVendor({ market, renames, tickersAsOf: '2026-06-12' });
    await at('2026-06-12T22:00:00Z')({});
    expect(events().length).toBe(activeFigis((await market.tickers('2026-06-12')).pages).length);
    const [before] = await raw.list('ticker_events');
    expect(parseTickerEvents(await raw.read(before!)).toRecords().filter((c) => c.composite_figi === figi).map((c) => [c.ticker, isoDay(c.date)])).toEqual([['OLD', listed]]);

    // Tuesday 2026-06-16: the snapshot lists NEW with the same FIGI: one request, for that FIGI.
    vendor.route = syntheticVendor({ market, renames, tickersAsOf: '2026-06-16' });
    const asked = events().length;
    const result = await at('2026-06-16T22:00:00Z')({});

    expect(result.sessions).toEqual(['2026-06-15', '2026-06-16']);
    expect(events().slice(asked).map((r) => `${r.path}${r.url.search}`)).toEqual([`/vX/reference/tickers/${figi}/events?types=ticker_change`]);
    const after = await raw.latest('ticker_events', '2026-06-16');
    expect(result.rawKeys).toContain(after!.key);
    const changes = parseTickerEvents(await raw.read(after!)).toRecords();
    expect(changes.map((c) => [c.composite_figi, c.ticker, isoDay(c.date)])).toEqual([
      [figi, 'NEW', '2026-06-15'],
      [figi, 'OLD', listed],
    ]);
    // The bars follow the symbol: OLD up to the Friday, NEW from the Monday.
    const symbols = async (session: string) => (JSON.parse((await polygon().groupedDaily(session)).pages[0]!) as { results: { T: string }[] }).results.map((b) => b.T);
    expect(await symbols('2026-06-12')).toEqual(expect.arrayContaining(['OLD']));
    expect(await symbols('2026-06-12')).not.toContain('NEW');
    expect(await symbols('2026-06-15')).toEqual(expect.arrayContaining(['NEW']));
    expect(await symbols('2026-06-15')).not.toContain('OLD');
  });

  it('records an id the vendor does not know (404) as a request without a page, and does not ask it again', async () => {
    const known = 'BBG000KNOWN1';
    vendor.route = (req, res) => {
      if (req.path === `/vX/reference/tickers/${known}/events`) {
        return json(res, { status: 'OK', request_id: 'e1', results: { name: 'Known Inc.', composite_figi: known, events: [{ type: 'ticker_change', date: '2010-01-04', ticker_change: { ticker: 'KNWN' } }] } });
      }
      if (req.path.startsWith('/vX/')) return json(res, { status: 'NOT_FOUND', request_id: 'e2', message: 'Ticker not found.' }, 404);
      if (req.path.startsWith('/v3/reference/tickers')) {
        const active = req.url.searchParams.get('active') === 'true';
        const rows = active ? [{ ...tickerRow('KNWN'), composite_figi: known }, { ...tickerRow('GHOST'), composite_figi: 'BBG000GHOST1' }] : [];
        return json(res, { results: rows, status: 'OK', request_id: 't' });
      }
      return json(res, { results: [], status: 'OK', request_id: 'r' });
    };
    const result = await createMetaHandler({ source: polygon(), lake, now: FRIDAY_EVENING, logger: memoryLogger() })({ date: '2024-03-15' });

    expect(vendor.requests.filter((r) => r.path.startsWith('/vX/')).map((r) => r.path).sort()).toEqual([`/vX/reference/tickers/${known}/events`, '/vX/reference/tickers/BBG000GHOST1/events'].sort());
    const raw = new RawZone(openStore(lake));
    const [fetch] = await raw.list('ticker_events');
    expect((await raw.read(fetch!)).map((p) => (p as { results: { composite_figi: string } }).results.composite_figi)).toEqual([known]);
    expect(await raw.readMeta(fetch!)).toMatchObject({
      rows: 1,
      requests: [
        { url: `${vendor.baseUrl}/vX/reference/tickers/${known}/events?types=ticker_change`, status: 200 },
        { url: `${vendor.baseUrl}/vX/reference/tickers/BBG000GHOST1/events?types=ticker_change`, status: 404 },
      ],
    });
    expect(result).toMatchObject({ status: 'ok', rows: 2 + 1 });

    // The next session: the same pairs, and both ids answered once (the 404 too): nothing asked.
    const asked = vendor.requests.length;
    const next = await createMetaHandler({ source: polygon(), lake, now: () => new Date('2024-03-18T22:00:00Z'), logger: memoryLogger() })({ date: '2024-03-18' });
    expect(next).toMatchObject({ status: 'ok', sessions: ['2024-03-18'] });
    expect(vendor.requests.slice(asked).filter((r) => r.path.startsWith('/vX/'))).toEqual([]);
    expect(await raw.sessions('ticker_events')).toEqual(['2024-03-15']);
  });

  it('keeps the key out of raw files, metadata records and log lines even when the vendor echoes it', async () => {
    vendor.route = (req, res) => {
      if (req.path.startsWith('/v3/reference/splits')) return json(res, { results: [], status: 'OK', request_id: 's' });
      if (req.path.startsWith('/v3/reference/dividends')) return json(res, { results: [], status: 'OK', request_id: `d ${KEY}` });
      const page = req.url.searchParams.get('cursor');
      const active = req.url.searchParams.get('active');
      if (active !== null && page === null) {
        return json(res, { results: [tickerRow(active === 'true' ? 'AAPL' : 'OLD', active === 'true')], status: 'OK', next_url: `https://api.polygon.io/v3/reference/tickers?cursor=${active}&apiKey=${KEY}` });
      }
      return json(res, { results: [tickerRow(page === 'true' ? 'MSFT' : 'GONE', page === 'true')], status: 'OK', request_id: `echo ${KEY}` });
    };
    const logger = memoryLogger();
    const handler = createMetaHandler({ source: polygon(), lake, now: FRIDAY_EVENING, logger });

    const result = await handler({ date: '2024-03-15' }, { awsRequestId: 'r' });

    expect(result).toMatchObject({ status: 'ok', rows: 4 });
    const store = openStore(lake);
    const objects = await store.list('');
    expect(objects.length).toBe(6); // tickers, splits and dividends, data and meta
    for (const { key } of objects) {
      const body = await store.get(key);
      expect((key.endsWith('.gz') ? gunzipSync(body) : body).toString('utf8')).not.toContain(KEY);
    }
    expect(logger.lines.join('\n')).not.toContain(KEY);
    expect(JSON.stringify(result)).not.toContain(KEY);
  });
});
