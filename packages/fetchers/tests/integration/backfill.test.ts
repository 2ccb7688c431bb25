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

  it('costs at most 1.01 requests per session over two years: one listing of splits, one of dividends, one snapshot', async () => {
    serve();
    const sessions = nyse.sessionsBetween('2024-11-26', '2026-11-25');
    const started = performance.now();

    const report = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions, concurrency: 8 });

    const ms = performance.now() - started;
    const perSession = vendor.requests.length / sessions.length;
    console.log(`backfill of ${sessions.length} sessions: ${vendor.requests.length} requests (${perSession.toFixed(4)} per session) in ${(ms / 1000).toFixed(1)} s`);
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
    // grouped daily of each session, the splits and dividends listings, the snapshot (active, delisted)
    expect(vendor.requests.length).toBe(sessions.length + expected.pages.length + expectedDividends.pages.length + 2);
    expect(report.rawKeys.slice(0, 3)).toEqual([(await raw.list('tickers'))[0]!.key, splits!.key, dividends!.key]);
    expect(report.rawKeys).toHaveLength(sessions.length + 3);
  }, 180_000);

  it('writes the snapshot, the splits and the dividends before any daily file, skips what is fetched, and --refetch fetches again', async () => {
    serve();
    const writes: string[] = [];
    const write = raw.write.bind(raw);
    raw.write = async (kind, session, pages, meta) => {
      const out = await write(kind, session, pages, meta);
      writes.push(`${kind} ${session}`);
      return out;
    };
    const sessions = nyse.sessionsBetween('2026-07-01', '2026-07-10');

    await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions: sessions.slice(0, 3) });
    writes.length = 0;
    const requestsBefore = vendor.requests.length;
    const report = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions, concurrency: 3 });

    expect(report.skipped).toEqual(sessions.slice(0, 3));
    expect(report.fetched).toEqual(sessions.slice(3));
    expect(writes.slice(0, 3).sort()).toEqual(['dividends 2026-07-10', 'splits 2026-07-10', 'tickers 2026-07-10']);
    expect(writes.slice(3).sort()).toEqual(sessions.slice(3).map((s) => `ohlcv ${s}`));
    expect(vendor.requests.length - requestsBefore).toBe(report.requests);
    // 4 grouped dailies, one page each of splits and dividends, two snapshot pages
    expect(report.requests).toBe(sessions.length - 3 + 4);
    const expectedDividends = await new SyntheticSource({ seed: 7, tickers: 300 }).dividends(sessions[3]!, '2026-07-10');
    expect(report.dividendRows).toBe(expectedDividends.rows);
    const dividendsFetch = await raw.latest('dividends', '2026-07-10');
    expect(dividendsCoverage(await raw.readMeta(dividendsFetch!))).toEqual({ from: sessions[3], to: '2026-07-10' });
    expect(report.rawKeys).toContain(dividendsFetch!.key);
    // Nothing left: no request, not even a snapshot.
    const again = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions });
    expect(again).toMatchObject({ fetched: [], skipped: sessions, requests: 0 });
    const refetched = await fetchSessions({ source: polygon(), raw, now: NOW }, { sessions, refetch: true });
    expect(refetched.fetched).toEqual(sessions);
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

    expect(route.maxInFlight).toBe(5);
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
