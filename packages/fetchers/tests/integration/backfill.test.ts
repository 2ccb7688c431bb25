import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { performance } from 'node:perf_hooks';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { RawZone, openStore } from '@fibbars/ohlcv-core/storage';
import { dividendsCoverage, fetchSessions, splitsCoverage } from '../../src/fetch.js';
import { PolygonSource } from '../../src/polygon.js';
import type { PolygonOptions } from '../../src/polygon.js';
import { SyntheticSource } from '../../src/synthetic.js';
import { tempLake } from '../helpers/lake.js';
import { syntheticVendor } from '../helpers/synthetic-vendor.js';
import type { SyntheticVendorOptions } from '../helpers/synthetic-vendor.js';
import { startVendor } from '../helpers/vendor.js';
import type { VendorServer } from '../helpers/vendor.js';

// 2026-11-26 02:00 UTC: the evening of 2026-11-25 in New York, that session is closed.
const NOW = () => new Date('2026-11-26T02:00:00Z');
const KEY = 'pk_backfill_SECRET_0c0c0c0c';

/** The composite FIGIs of a snapshot's active tickers, in snapshot order. */
function activeFigis(pages: readonly string[]): string[] {
  const rows = pages.flatMap((p) => (JSON.parse(p) as { results: { active: boolean; composite_figi?: string }[] }).results);
  return rows.filter((r) => r.active && r.composite_figi !== undefined).map((r) => r.composite_figi!);
}

describe('fetchSessions: a backfill against the local vendor server serving the synthetic market', () => {
  let lake: string;
  let cleanup: () => Promise<void>;
  let vendor: VendorServer;
  let raw: RawZone;
  beforeEach(async () => {
    ({ lake, cleanup } = await tempLake());
    vendor = await startVendor();
    raw = new RawZone(openStore(lake));
  });
  afterEach(async () => {
    await vendor.close();
    await cleanup();
  });
  const serve = (options: SyntheticVendorOptions = {}) => {
    const route = syntheticVendor({ market: new SyntheticSource({ seed: 7, tickers: 300 }), ...options });
    vendor.route = route;
    return route;
  };
  const polygon = (options: Partial<PolygonOptions> = {}) =>
    new PolygonSource({ apiKey: KEY, baseUrl: vendor.baseUrl, rpm: 100_000, maxRetries: 1, concurrency: 8, sleep: async () => {}, ...options });

  it('costs at most 1.01 requests per session over two years (one listing of splits, one of dividends, one snapshot), plus one ticker-events request per active security on a new lake', async () => {
    serve();
    const sessions = nyse.sessionsBetween('2024-11-26', '2026-11-25');
    const started = performance.now();

    const report = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions, concurrency: 8 });

    const ms = performance.now() - started;
    const events = vendor.requests.filter((r) => r.path.startsWith('/vX/reference/tickers/'));
    const perSession = (vendor.requests.length - events.length) / sessions.length;
    console.log(`backfill of ${sessions.length} sessions: ${vendor.requests.length} requests (${events.length} ticker events, ${perSession.toFixed(4)} other per session) in ${(ms / 1000).toFixed(1)} s`);
    expect(perSession).toBeLessThanOrEqual(1.01);
    expect(report).toMatchObject({ requested: sessions.length, fetched: sessions, skipped: [], requests: vendor.requests.length });
    expect(vendor.requests.filter((r) => r.path.startsWith('/v2/aggs/grouped/'))).toHaveLength(sessions.length);
    expect(await raw.sessions('ohlcv')).toEqual(sessions);
    // The splits of the whole range: one fetch, kept whole (every page as received) under its last session.
    const reference = new SyntheticSource({ seed: 7, tickers: 300 });
    const [splits, ...more] = await raw.list('splits');
    expect(more).toEqual([]);
    expect(splits!.session).toBe('2026-11-25');
    expect(splitsCoverage(await raw.readMeta(splits!))).toEqual({ from: sessions[0], to: '2026-11-25' });
    const expected = await reference.splits(sessions[0]!, '2026-11-25');
    expect(expected.rows).toBeGreaterThan(0);
    expect(report.splitRows).toBe(expected.rows);
    expect(await raw.read(splits!)).toEqual(expected.pages.map((p) => JSON.parse(p)));
    expect(await raw.sessions('tickers')).toEqual(['2026-11-25']);
    // The dividends of the whole range likewise: one listing (one page here), kept whole under its last session.
    const [dividends, ...moreDividends] = await raw.list('dividends');
    expect(moreDividends).toEqual([]);
    expect(dividends!.session).toBe('2026-11-25');
    const dividendsMeta = await raw.readMeta(dividends!);
    expect(dividendsCoverage(dividendsMeta)).toEqual({ from: sessions[0], to: '2026-11-25' });
    const expectedDividends = await reference.dividends(sessions[0]!, '2026-11-25');
    expect(expectedDividends.rows).toBeGreaterThan(0);
    expect(report.dividendRows).toBe(expectedDividends.rows);
    expect(await raw.read(dividends!)).toEqual(expectedDividends.pages.map((p) => JSON.parse(p)));
    expect(vendor.requests.filter((r) => r.path === '/v3/reference/dividends')).toHaveLength(expectedDividends.pages.length);
    // No earlier snapshot: the events of every active security with a FIGI, one request each, in one fetch.
    const figis = activeFigis((await reference.tickers('2026-11-25')).pages);
    expect(figis.length).toBeGreaterThan(250);
    expect(events.map((r) => r.path).sort()).toEqual(figis.map((f) => `/vX/reference/tickers/${f}/events`).sort());
    const [tickerEvents, ...moreEvents] = await raw.list('ticker_events');
    expect(moreEvents).toEqual([]);
    expect(tickerEvents!.session).toBe('2026-11-25');
    expect(await raw.read(tickerEvents!)).toEqual((await reference.tickerEvents(figis)).pages.map((p) => JSON.parse(p)));
    expect(report.tickerEventRows).toBe(figis.length);
    // grouped daily of each session, the splits and dividends listings, the snapshot (active, delisted), the events
    expect(vendor.requests.length).toBe(sessions.length + expected.pages.length + expectedDividends.pages.length + 2 + figis.length);
    expect(report.rawKeys.slice(0, 4)).toEqual([(await raw.list('tickers'))[0]!.key, splits!.key, dividends!.key, tickerEvents!.key]);
    expect(report.rawKeys).toHaveLength(sessions.length + 4);
  }, 180_000);

  it('writes the listings, the ticker events and the snapshot before any daily file, skips what is fetched, and --refetch fetches again', async () => {
    serve();
    const writes: string[] = [];
    const write = raw.write.bind(raw);
    raw.write = async (kind, session, pages, meta) => {
      const out = await write(kind, session, pages, meta);
      writes.push(`${kind} ${session}`);
      return out;
    };
    const sessions = nyse.sessionsBetween('2026-07-01', '2026-07-10');
    const reference = new SyntheticSource({ seed: 7, tickers: 300 });

    // A new lake: the events of every active security, written before the snapshot, both before any daily file.
    const first = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions: sessions.slice(0, 3) });
    // The vendor serves today's snapshot whatever the session (the route's as of 2026-11-25).
    const figis = activeFigis((await reference.tickers('2026-11-25')).pages);
    const third = sessions[2]!; // 2026-07-06: July 3 is a holiday
    expect(writes.slice(0, 2).sort()).toEqual([`dividends ${third}`, `splits ${third}`]);
    expect(writes.slice(2, 4)).toEqual([`ticker_events ${third}`, `tickers ${third}`]);
    expect(writes.slice(4).sort()).toEqual(sessions.slice(0, 3).map((s) => `ohlcv ${s}`));
    expect(first.tickerEventRows).toBe(figis.length);
    // 3 grouped dailies, one page each of splits and dividends, two snapshot pages, one request per security
    expect(first.requests).toBe(3 + 4 + figis.length);
    expect(vendor.requests).toHaveLength(first.requests);
    writes.length = 0;
    const requestsBefore = vendor.requests.length;
    const report = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions, concurrency: 3 });

    expect(report.skipped).toEqual(sessions.slice(0, 3));
    expect(report.fetched).toEqual(sessions.slice(3));
    // No (ticker, FIGI) pair of the snapshot under 2026-07-10 is new since the one under 2026-07-06: no ticker events asked.
    expect(writes.slice(0, 2).sort()).toEqual(['dividends 2026-07-10', 'splits 2026-07-10']);
    expect(writes[2]).toBe('tickers 2026-07-10');
    expect(writes.slice(3).sort()).toEqual(sessions.slice(3).map((s) => `ohlcv ${s}`));
    expect(report.tickerEventRows).toBe(0);
    expect(await raw.sessions('ticker_events')).toEqual([third]);
    expect(vendor.requests.length - requestsBefore).toBe(report.requests);
    // 4 grouped dailies, one page each of splits and dividends, two snapshot pages
    expect(report.requests).toBe(sessions.length - 3 + 4);
    const expectedDividends = await reference.dividends(sessions[3]!, '2026-07-10');
    expect(report.dividendRows).toBe(expectedDividends.rows);
    const dividendsFetch = await raw.latest('dividends', '2026-07-10');
    expect(dividendsCoverage(await raw.readMeta(dividendsFetch!))).toEqual({ from: sessions[3], to: '2026-07-10' });
    expect(report.rawKeys).toContain(dividendsFetch!.key);
    expect(report.rawKeys).toHaveLength(3 + sessions.length - 3);
    // Nothing left: no request, not even a snapshot.
    const again = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions });
    expect(again).toMatchObject({ fetched: [], skipped: sessions, requests: 0, tickerEventRows: 0 });
    const refetched = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions, refetch: true });
    expect(refetched.fetched).toEqual(sessions);
  });

  it('on a new lake, a ticker-events backfill the vendor fails (503) stops there: the snapshot and the daily files are written, the next backfill asks the rest', async () => {
    let failing = true;
    serve({ fault: (req) => (failing && req.path.startsWith('/vX/') ? 503 : undefined) });
    const sessions = nyse.sessionsBetween('2026-06-01', '2026-06-05');
    const lines: string[] = [];
    const logger = { info: () => {}, warn: (m: string, e?: Record<string, unknown>) => lines.push(JSON.stringify({ m, ...e })), error: () => {} };

    const report = await fetchSessions({ source: polygon(), raw, now: NOW, logger }, { sessions });
    const figis = activeFigis((await new SyntheticSource({ seed: 7, tickers: 300 }).tickers('2026-11-25')).pages);
    expect(report).toMatchObject({ fetched: sessions, tickerEventRows: 0, tickerEventsPending: figis.length });
    expect(await raw.sessions('ohlcv')).toEqual(sessions);
    expect(await raw.sessions('tickers')).toEqual(['2026-06-05']);
    expect(await raw.sessions('ticker_events')).toEqual([]);
    expect(lines.map((l) => JSON.parse(l) as { m: string; error: string })).toEqual([expect.objectContaining({ m: 'ticker events backfill stopped by a vendor failure: the next runs ask the rest', error: 'UpstreamUnavailableError' })]);

    // The next backfill (a later session) asks every security, and nothing is left.
    failing = false;
    const asked = vendor.requests.length;
    const next = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions: ['2026-06-08'] });
    expect(vendor.requests.slice(asked).filter((r) => r.path.startsWith('/vX/')).map((r) => r.path).sort()).toEqual(figis.map((f) => `/vX/reference/tickers/${f}/events`).sort());
    expect(next).toMatchObject({ tickerEventRows: figis.length, tickerEventsPending: 0 });
  });

  it('writes no daily file when the dividends listing fails, and its re-run fetches everything', async () => {
    let failing = true;
    serve({ fault: (req) => (failing && req.path === '/v3/reference/dividends' ? 503 : undefined) });
    const sessions = nyse.sessionsBetween('2026-06-01', '2026-06-12');

    await expect(fetchSessions({ source: polygon(), raw, now: NOW }, { sessions })).rejects.toMatchObject({ name: 'UpstreamUnavailableError', message: expect.stringMatching(/dividends 2026-06-01\.\.2026-06-12/) });
    expect(await raw.sessions('ohlcv')).toEqual([]);
    expect(await raw.sessions('dividends')).toEqual([]);

    failing = false;
    const report = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions });
    expect(report.fetched).toEqual(sessions);
    expect(await raw.sessions('dividends')).toEqual(['2026-06-12']);
  });

  it('keeps at most `concurrency` sessions in flight', async () => {
    const route = serve({ latencyMs: 25 });
    const sessions = nyse.sessionsBetween('2026-06-01', '2026-06-30');

    await fetchSessions({ source: polygon({ concurrency: 64 }), raw, now: NOW }, { sessions, concurrency: 5 });

    expect(route.maxGroupedInFlight).toBe(5);
  });

  it('stops starting sessions after a failure, throws it by name, and its re-run fetches only what is missing', async () => {
    const bad = '2026-06-10';
    let failing = true;
    serve({ fault: (req) => (failing && req.path.endsWith(bad) ? 503 : undefined) });
    const sessions = nyse.sessionsBetween('2026-06-01', '2026-06-30');

    await expect(fetchSessions({ source: polygon(), raw, now: NOW }, { sessions, concurrency: 1 })).rejects.toMatchObject({ name: 'UpstreamUnavailableError' });
    expect(await raw.sessions('ohlcv')).toEqual(sessions.filter((s) => s < bad));

    failing = false;
    const report = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions, concurrency: 4 });
    expect(report.fetched).toEqual(sessions.filter((s) => s >= bad));
    expect(await raw.sessions('ohlcv')).toEqual(sessions);
  });

  it('lets the sessions in flight finish before it throws the first failure, and starts no other', async () => {
    const market = new SyntheticSource({ seed: 7, tickers: 20 });
    const [slow, bad, ...rest] = nyse.sessionsBetween('2026-06-01', '2026-06-05');
    const asked: string[] = [];
    const source = {
      name: market.name,
      tickers: (asOf?: string) => market.tickers(asOf),
      splits: (from: string, to: string) => market.splits(from, to),
      dividends: (from: string, to: string) => market.dividends(from, to),
      tickerEvents: (ids: readonly string[]) => market.tickerEvents(ids),
      groupedDaily: async (session: string) => {
        asked.push(session);
        if (session === bad) throw Object.assign(new Error(`no bars for ${session}`), { name: 'UpstreamUnavailableError' });
        if (session === slow) await new Promise((resolve) => setTimeout(resolve, 100));
        return market.groupedDaily(session);
      },
    };
    await expect(fetchSessions({ source, raw, now: NOW }, { sessions: [slow!, bad!, ...rest], concurrency: 2 })).rejects.toThrow(`no bars for ${bad}`);
    // The slow session was in flight when the other failed: it is written by the time the error arrives.
    expect(await raw.sessions('ohlcv')).toEqual([slow]);
    expect(asked).toEqual([slow, bad]);
  });

  it.each([
    [['2026-11-27'], /after the latest closed session 2026-11-25/, 'a session of tomorrow'],
    [['2027-01-04'], /after the latest closed session/, 'a session of next year'],
    [['2026-11-26'], /not an NYSE session/, 'Thanksgiving'],
    [['2026-02-30'], /not an NYSE session/, 'an impossible date'],
    [['2026-11-24', '2026-11-23'], /ascending/, 'sessions out of order'],
  ])('refuses %j with a ConfigError before any request or write (%s)', async (sessions, message) => {
    serve();
    await expect(fetchSessions({ source: polygon(), raw, now: NOW }, { sessions })).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(message) });
    expect(vendor.requests).toEqual([]);
    expect(await openStore(lake).list('')).toEqual([]);
  });
});
