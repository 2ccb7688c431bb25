import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { PolygonSource } from '../../src/polygon.js';
import type { PolygonOptions } from '../../src/polygon.js';
import { sourceFromEnv } from '../../src/config.js';
import { bar, groupedDaily, json, startVendor, tickerRow } from '../helpers/vendor.js';
import type { VendorServer } from '../helpers/vendor.js';

const KEY = 'pk_test_SECRET_7f3a9c2e51';
const SESSION = '2024-03-15';
const GROUPED_PATH = `/v2/aggs/grouped/locale/us/market/stocks/${SESSION}`;

describe('PolygonSource against a local vendor server', () => {
  let vendor: VendorServer;
  let sleeps: number[];
  const source = (options: Partial<PolygonOptions> = {}) =>
    new PolygonSource({
      apiKey: KEY,
      baseUrl: vendor.baseUrl,
      rpm: 10_000,
      timeoutMs: 2_000,
      maxRetries: 3,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      ...options,
    });

  beforeEach(async () => {
    vendor = await startVendor();
    sleeps = [];
  });
  afterEach(() => vendor.close());

  describe('grouped daily', () => {
    it('asks for unadjusted bars with the key in the Authorization header only, and keeps the body byte for byte', async () => {
      const body = JSON.stringify(groupedDaily([bar('AAPL', 172.62), bar('MSFT', 416.42)]));
      vendor.route = (_req, res) => json(res, body);

      const result = await source().groupedDaily(SESSION);

      expect(vendor.requests).toHaveLength(1);
      const [req] = vendor.requests;
      expect(req!.path).toBe(GROUPED_PATH);
      expect(req!.url.searchParams.get('adjusted')).toBe('false');
      expect(req!.authorization).toBe(`Bearer ${KEY}`);
      expect(req!.url.toString()).not.toContain(KEY);
      expect(result.pages).toEqual([body]);
      expect(result.rows).toBe(2);
      expect(result.requests).toEqual([
        {
          url: `${vendor.baseUrl}${GROUPED_PATH}?adjusted=false`,
          status: 200,
          bytes: Buffer.byteLength(body),
          sha256: createHash('sha256').update(body).digest('hex'),
        },
      ]);
    });

    it('passes garbage tickers and odd rows through untouched (validation downstream quarantines them)', async () => {
      const body = JSON.stringify(
        groupedDaily([
          bar('ZVZZT', 10),
          bar('', 1),
          bar('brk.b', 400),
          bar('??', -3),
          bar('NOVWAP', 5, { vw: undefined, n: undefined }),
          bar('NULLS', 5, { o: null, vw: null }),
          bar('INVERTED', 5, { h: 1, l: 9 }),
          bar('TEST.ZZ€', 0, { v: 0 }),
        ]),
      );
      vendor.route = (_req, res) => json(res, body);

      const result = await source().groupedDaily(SESSION);

      expect(result.pages).toEqual([body]);
      expect(result.rows).toBe(8);
    });

    it('makes no request at all on a non-session date', async () => {
      const result = await source().groupedDaily('2024-03-16');

      expect(result).toEqual({ pages: [], requests: [], rows: 0 });
      expect(vendor.requests).toHaveLength(0);
    });

    it('fails with InvalidResponseError on an empty result for a session the calendar says was open', async () => {
      vendor.route = (_req, res) => json(res, groupedDaily([]));

      await expect(source().groupedDaily(SESSION)).rejects.toMatchObject({
        name: 'InvalidResponseError',
        message: expect.stringMatching(/grouped daily 2024-03-15: .*no bars/),
      });
    });

    it('fails with InvalidResponseError naming the endpoint and the field when the payload does not parse', async () => {
      vendor.route = (_req, res) => json(res, { status: 'OK', results: [{ T: 'AAPL', o: 'one hundred' }] });

      await expect(source().groupedDaily(SESSION)).rejects.toMatchObject({
        name: 'InvalidResponseError',
        message: expect.stringMatching(/grouped daily 2024-03-15: unexpected payload at results\.0\.o/),
      });
    });

    it('fails with InvalidResponseError on a vendor ERROR status', async () => {
      vendor.route = (_req, res) => json(res, { status: 'ERROR', request_id: 'x', error: 'something broke' });

      await expect(source().groupedDaily(SESSION)).rejects.toMatchObject({ name: 'InvalidResponseError', message: expect.stringContaining('"ERROR"') });
    });

    it('fails with InvalidResponseError on a body cut short (complete HTTP message, truncated JSON)', async () => {
      const full = JSON.stringify(groupedDaily([bar('AAPL', 172.62)]));
      vendor.route = (_req, res) => json(res, full.slice(0, full.length - 20));

      await expect(source().groupedDaily(SESSION)).rejects.toMatchObject({ name: 'InvalidResponseError', message: expect.stringMatching(/not JSON/) });
    });

    it('retries when the connection drops mid-body, then succeeds', async () => {
      const body = JSON.stringify(groupedDaily([bar('AAPL', 172.62)]));
      vendor.route = (_req, res, n) => {
        if (n === 1) {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
          res.write(body.slice(0, 30));
          setTimeout(() => res.socket?.destroy(), 10);
          return;
        }
        json(res, body);
      };

      const result = await source().groupedDaily(SESSION);

      expect(result.pages).toEqual([body]);
      expect(vendor.requests).toHaveLength(2);
    });
  });

  describe('resilience', () => {
    it('honours Retry-After on 429, then succeeds', async () => {
      const body = JSON.stringify(groupedDaily([bar('AAPL', 1)]));
      vendor.route = (_req, res, n) => (n <= 2 ? json(res, { status: 'ERROR', error: 'too many' }, 429, { 'retry-after': '7' }) : json(res, body));

      const result = await source().groupedDaily(SESSION);

      expect(result.pages).toEqual([body]);
      expect(vendor.requests).toHaveLength(3);
      expect(sleeps).toEqual([7_000, 7_000]);
    });

    it('backs off exponentially with full jitter on 5xx, then succeeds', async () => {
      const body = JSON.stringify(groupedDaily([bar('AAPL', 1)]));
      vendor.route = (_req, res, n) => (n <= 3 ? json(res, 'oops', [500, 502, 503][n - 1]) : json(res, body));

      const result = await source({ baseDelayMs: 1_000, random: () => 0.25 }).groupedDaily(SESSION);

      expect(result.rows).toBe(1);
      // full jitter: random() * base * 2^(attempt - 1)
      expect(sleeps).toEqual([0.25 * 1_000, 0.25 * 2_000, 0.25 * 4_000]);
    });

    it('throws RateLimitedError with the cause once 429 outlasts the retries', async () => {
      vendor.route = (_req, res) => json(res, { status: 'ERROR' }, 429);

      const error = await source({ maxRetries: 2 }).groupedDaily(SESSION).catch((e: unknown) => e);

      expect(error).toMatchObject({ name: 'RateLimitedError', message: expect.stringMatching(/HTTP 429.*after 3 attempts/) });
      expect((error as Error).cause).toBeInstanceOf(Error);
      expect(vendor.requests).toHaveLength(3);
    });

    it('throws UpstreamUnavailableError once 5xx outlasts the retries', async () => {
      vendor.route = (_req, res) => json(res, 'down', 503);

      await expect(source({ maxRetries: 1 }).groupedDaily(SESSION)).rejects.toMatchObject({
        name: 'UpstreamUnavailableError',
        message: expect.stringMatching(/HTTP 503 after 2 attempts/),
      });
    });

    it('times out a request that hangs, retries it, and succeeds', async () => {
      const body = JSON.stringify(groupedDaily([bar('AAPL', 1)]));
      vendor.route = (_req, res, n) => {
        if (n === 1) return; // never answers
        json(res, body);
      };

      const result = await source({ timeoutMs: 1_000 }).groupedDaily(SESSION);

      expect(result.pages).toEqual([body]);
      expect(vendor.requests).toHaveLength(2);
    });

    it('throws UpstreamUnavailableError naming the timeout when every attempt hangs', async () => {
      vendor.route = () => undefined;

      await expect(source({ timeoutMs: 100, maxRetries: 1 }).groupedDaily(SESSION)).rejects.toMatchObject({
        name: 'UpstreamUnavailableError',
        message: expect.stringMatching(/timed out after 100 ms after 2 attempts/),
      });
    });

    it('throws UpstreamUnavailableError when nothing listens', async () => {
      await vendor.close();

      await expect(source({ maxRetries: 1 }).groupedDaily(SESSION)).rejects.toMatchObject({ name: 'UpstreamUnavailableError', message: expect.stringMatching(/network error/) });
    });

    it('does not retry a refused key: ConfigError at once', async () => {
      vendor.route = (_req, res) => json(res, { status: 'ERROR', error: 'Unknown API Key' }, 401);

      await expect(source().groupedDaily(SESSION)).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/HTTP 401/) });
      expect(vendor.requests).toHaveLength(1);
    });

    it('keeps to the rate limit: the sixth request of a minute waits for the window at 5 per minute', async () => {
      let now = 1_000_000;
      const waits: number[] = [];
      const body = JSON.stringify(groupedDaily([bar('AAPL', 1)]));
      vendor.route = (_req, res) => json(res, body);
      const limited = source({
        rpm: 5,
        now: () => now,
        sleep: async (ms) => {
          waits.push(ms);
          now += ms;
        },
      });

      for (const d of ['2024-03-11', '2024-03-12', '2024-03-13', '2024-03-14', '2024-03-15', '2024-03-18']) await limited.groupedDaily(d);

      expect(waits).toEqual([60_000]);
      expect(vendor.requests).toHaveLength(6);
    });

    it('bounds the requests in flight during a backfill', async () => {
      let inFlight = 0;
      let peak = 0;
      vendor.route = async (_req, res) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 200));
        inFlight--;
        json(res, groupedDaily([bar('AAPL', 1)]));
      };
      const s = source({ concurrency: 2 });

      await Promise.all(['2024-03-11', '2024-03-12', '2024-03-13', '2024-03-14', '2024-03-15'].map((d) => s.groupedDaily(d)));

      expect(peak).toBe(2);
    });
  });

  describe('tickers', () => {
    it('follows next_url through every page, active then delisted, without ever sending the key in a URL', async () => {
      const pagesActive = [[tickerRow('A'), tickerRow('AA')], [tickerRow('AAPL')], [tickerRow('ZZZ')]];
      const pagesDelisted = [[tickerRow('OLD', false)], [tickerRow('GONE', false)]];
      const bodies: string[] = [];
      vendor.route = (req, res) => {
        const active = req.url.searchParams.get('active') ?? req.url.searchParams.get('cursor')!.split('-')[0]!;
        const page = Number(req.url.searchParams.get('cursor')?.split('-')[1] ?? 0);
        const list = active === 'true' ? pagesActive : pagesDelisted;
        const hasNext = page + 1 < list.length;
        // The vendor appends the key to next_url when the client used ?apiKey=; we must strip it.
        const body = JSON.stringify({
          results: list[page],
          status: 'OK',
          request_id: `r${active}${page}`,
          count: list[page]!.length,
          ...(hasNext && { next_url: `https://api.polygon.io/v3/reference/tickers?cursor=${active}-${page + 1}&apiKey=${KEY}` }),
        });
        bodies.push(body);
        json(res, body);
      };

      const result = await source().tickers();

      expect(vendor.requests.map((r) => r.url.search)).toEqual([
        '?market=stocks&active=true&limit=1000',
        '?cursor=true-1',
        '?cursor=true-2',
        '?market=stocks&active=false&limit=1000',
        '?cursor=false-1',
      ]);
      expect(vendor.requests.every((r) => r.path === '/v3/reference/tickers' && r.authorization === `Bearer ${KEY}`)).toBe(true);
      expect(result.rows).toBe(6);
      expect(result.pages).toHaveLength(5);
      // bodies as received, except the echoed key is blanked
      expect(result.pages).toEqual(bodies.map((b) => b.split(KEY).join('REDACTED')));
      expect(JSON.stringify(result)).not.toContain(KEY);
    });

    it('stops a next_url loop with InvalidResponseError', async () => {
      vendor.route = (_req, res) => json(res, { results: [tickerRow('A')], status: 'OK', next_url: `${vendor.baseUrl}/v3/reference/tickers?cursor=same` });

      await expect(source().tickers()).rejects.toMatchObject({ name: 'InvalidResponseError', message: expect.stringMatching(/pagination does not end/) });
    });
  });

  describe('splits', () => {
    it('asks for the splits executed on the session, paginating', async () => {
      vendor.route = (req, res) => {
        if (!req.url.searchParams.has('cursor')) {
          json(res, { results: [{ execution_date: SESSION, id: 'E1', split_from: 1, split_to: 4, ticker: 'AAPL' }], status: 'OK', next_url: `${vendor.baseUrl}/v3/reference/splits?cursor=p2` });
        } else {
          json(res, { results: [{ execution_date: SESSION, id: 'E2', split_from: 10, split_to: 1, ticker: 'XYZ' }], status: 'OK' });
        }
      };

      const result = await source().splits(SESSION);

      expect(vendor.requests[0]!.url.searchParams.get('execution_date')).toBe(SESSION);
      expect(result.rows).toBe(2);
      expect(result.pages).toHaveLength(2);
    });

    it('asks for a whole range in one listing (execution_date.gte / .lte), keeping every page as received', async () => {
      const bodies: string[] = [];
      vendor.route = (req, res) => {
        const cursor = req.url.searchParams.get('cursor');
        const results = cursor === null
          ? [{ execution_date: '2024-01-05', id: 'E1', split_from: 1, split_to: 4, ticker: 'AAPL' }]
          : [{ execution_date: '2024-03-14', id: 'E2', split_from: 10, split_to: 1, ticker: 'XYZ' }];
        const body = JSON.stringify({ results, status: 'OK', ...(cursor === null && { next_url: 'https://api.polygon.io/v3/reference/splits?cursor=YXA9Mg' }) });
        bodies.push(body);
        json(res, body);
      };

      const result = await source().splits('2024-01-02', SESSION);

      expect(vendor.requests).toHaveLength(2);
      const q = vendor.requests[0]!.url.searchParams;
      expect([q.get('execution_date.gte'), q.get('execution_date.lte'), q.get('limit'), q.has('execution_date')]).toEqual(['2024-01-02', SESSION, '1000', false]);
      // next_url is followed on the configured host.
      expect(vendor.requests[1]!.url.searchParams.get('cursor')).toBe('YXA9Mg');
      expect(result).toMatchObject({ rows: 2, pages: bodies });
      expect(result.requests.map((r) => r.sha256)).toEqual(bodies.map((b) => createHash('sha256').update(b).digest('hex')));
    });

    it('makes no request for a range without a session, and refuses a range that ends before it starts', async () => {
      expect(await source().splits('2024-03-16', '2024-03-17')).toMatchObject({ rows: 0, pages: [] });
      await expect(source().splits(SESSION, '2024-03-01')).rejects.toMatchObject({ name: 'ConfigError' });
      expect(vendor.requests).toHaveLength(0);
    });

    it('accepts a session without splits', async () => {
      vendor.route = (_req, res) => json(res, { results: [], status: 'OK', request_id: 'x' });

      expect((await source().splits(SESSION)).rows).toBe(0);
    });
  });

  describe('dividends', () => {
    const dividend = (ticker: string, exDate: string, cash: number, extra: Record<string, unknown> = {}) => ({
      cash_amount: cash,
      currency: 'USD',
      declaration_date: '2024-02-29',
      dividend_type: 'CD',
      ex_dividend_date: exDate,
      frequency: 4,
      id: `E${ticker}`,
      pay_date: '2024-04-04',
      record_date: '2024-03-18',
      ticker,
      ...extra,
    });

    it('asks for the dividends going ex on the session, paginating without the key in any URL', async () => {
      vendor.route = (req, res) => {
        if (!req.url.searchParams.has('cursor')) {
          json(res, { results: [dividend('AAPL', SESSION, 0.24)], status: 'OK', request_id: 'd1', next_url: `https://api.polygon.io/v3/reference/dividends?cursor=p2&apiKey=${KEY}` });
        } else {
          json(res, { results: [dividend('XYZ', SESSION, 1.5, { dividend_type: 'SC', frequency: 0 })], status: 'OK', request_id: 'd2' });
        }
      };

      const result = await source().dividends(SESSION);

      expect(vendor.requests.map((r) => `${r.path}${r.url.search}`)).toEqual([
        `/v3/reference/dividends?ex_dividend_date=${SESSION}&limit=1000`,
        '/v3/reference/dividends?cursor=p2',
      ]);
      expect(vendor.requests.every((r) => r.authorization === `Bearer ${KEY}`)).toBe(true);
      expect(result.rows).toBe(2);
      expect(result.pages).toHaveLength(2);
      expect(result.requests.map((r) => r.url)).toEqual([
        `${vendor.baseUrl}/v3/reference/dividends?ex_dividend_date=${SESSION}&limit=1000`,
        `${vendor.baseUrl}/v3/reference/dividends?cursor=p2`,
      ]);
      expect(JSON.stringify(result)).not.toContain(KEY);
    });

    it('asks for a whole range in one listing (ex_dividend_date.gte / .lte, oldest first), following next_url on the configured host without the key', async () => {
      const bodies: string[] = [];
      vendor.route = (req, res) => {
        const cursor = req.url.searchParams.get('cursor');
        const results = cursor === null
          ? [dividend('AAPL', '2024-02-09', 0.24), dividend('MSFT', '2024-02-14', 0.75)]
          : [dividend('XYZ', '2024-03-14', 0.1)];
        const body = JSON.stringify({ results, status: 'OK', request_id: `r${cursor ?? 0}`, ...(cursor === null && { next_url: `https://api.polygon.io/v3/reference/dividends?cursor=ZGl2Mg&apiKey=${KEY}` }) });
        bodies.push(body);
        json(res, body);
      };

      const result = await source().dividends('2024-01-02', SESSION);

      expect(vendor.requests).toHaveLength(2);
      expect(vendor.requests[0]!.url.search).toBe(`?ex_dividend_date.gte=2024-01-02&ex_dividend_date.lte=${SESSION}&sort=ex_dividend_date&order=asc&limit=1000`);
      expect(vendor.requests[1]!.url.search).toBe('?cursor=ZGl2Mg');
      expect(vendor.requests.every((r) => r.path === '/v3/reference/dividends' && r.authorization === `Bearer ${KEY}`)).toBe(true);
      // bodies as received, except the echoed key is blanked
      const stored = bodies.map((b) => b.split(KEY).join('REDACTED'));
      expect(result).toMatchObject({ rows: 3, pages: stored });
      expect(result.requests.map((r) => r.sha256)).toEqual(stored.map((b) => createHash('sha256').update(b).digest('hex')));
      expect(JSON.stringify(result)).not.toContain(KEY);
    });

    it.each([
      [{ status: 'OK', results: 'none' }, /dividends 2024-03-15 page 1: unexpected payload at results:/],
      [{ status: 'OK', results: [{ ex_dividend_date: SESSION, cash_amount: 0.2 }] }, /dividends 2024-03-15 page 1: unexpected payload at results\.0\.ticker/],
      [{ status: 'OK', results: [{ ticker: 'AAPL', cash_amount: 0.2 }] }, /unexpected payload at results\.0\.ex_dividend_date/],
      [{ status: 'OK', results: [{ ticker: 'AAPL', ex_dividend_date: '2024-02-30', cash_amount: 0.2 }] }, /unexpected payload at results\.0\.ex_dividend_date: must be a calendar date/],
      [{ status: 'OK', results: [{ ticker: 'AAPL', ex_dividend_date: SESSION, cash_amount: '0.24' }] }, /unexpected payload at results\.0\.cash_amount/],
      [{ status: 'ERROR', error: 'broken' }, /dividends 2024-03-15 page 1: unexpected payload at status: .*\(status "ERROR"\)/],
    ])('fails with InvalidResponseError on the bad payload %j', async (body, message) => {
      vendor.route = (_req, res) => json(res, body);

      await expect(source().dividends(SESSION)).rejects.toMatchObject({ name: 'InvalidResponseError', message: expect.stringMatching(message) });
    });

    it('keeps unknown fields and entries without the optional ones, and accepts a session without dividends', async () => {
      const body = JSON.stringify({ results: [{ ticker: 'AAPL', ex_dividend_date: SESSION, cash_amount: 0.24, new_field: [1] }], status: 'OK', request_id: 'x' });
      vendor.route = (req, res) => json(res, req.url.searchParams.get('ex_dividend_date') === SESSION ? body : { results: [], status: 'OK', request_id: 'y' });

      expect(await source().dividends(SESSION)).toMatchObject({ rows: 1, pages: [body] });
      expect((await source().dividends('2024-03-14')).rows).toBe(0);
    });

    it('makes no request on a non-session or a range without a session, and refuses a range that ends before it starts, naming the dataset', async () => {
      expect(await source().dividends('2024-03-16')).toEqual({ pages: [], requests: [], rows: 0 });
      expect(await source().dividends('2024-03-16', '2024-03-17')).toEqual({ pages: [], requests: [], rows: 0 });
      await expect(source().dividends(SESSION, '2024-03-01')).rejects.toMatchObject({ name: 'ConfigError', message: `dividends range ${SESSION}..2024-03-01 ends before it starts` });
      await expect(source().splits(SESSION, '2024-03-01')).rejects.toMatchObject({ name: 'ConfigError', message: `splits range ${SESSION}..2024-03-01 ends before it starts` });
      expect(vendor.requests).toHaveLength(0);
    });
  });

  describe('ticker events', () => {
    const META = 'BBG000MM2P62';
    const page = (figi: string, name: string, changes: [string, string][], extra: Record<string, unknown>[] = []) => ({
      results: {
        name,
        composite_figi: figi,
        cik: '0001326801',
        events: [...changes.map(([ticker, date]) => ({ ticker_change: { ticker }, type: 'ticker_change', date })), ...extra],
        new_field: true,
      },
      status: 'OK',
      request_id: `r-${figi}`,
    });
    const idOf = (path: string) => decodeURIComponent(/^\/vX\/reference\/tickers\/([^/]+)\/events$/.exec(path)?.[1] ?? '');

    it('asks one id per request, URL-encoded, and keeps the pages in the order of the ids; a 404 gives no page, its request follows the pages\'', async () => {
      const bodies: Record<string, string> = {
        [META]: JSON.stringify(page(META, 'Meta Platforms, Inc. Class A Common Stock', [['META', '2022-06-09'], ['FB', '2012-05-18']], [{ type: 'other_event', date: '2020-01-02' }])),
        'BBG/ODD+ID': JSON.stringify(page('BBG/ODD+ID', 'Odd Id Corp.', [['ODD', '2001-02-03']])),
      };
      const notFound = JSON.stringify({ status: 'NOT_FOUND', request_id: 'x', message: 'Ticker not found.' });
      vendor.route = async (req, res) => {
        const id = idOf(req.path);
        // The first id answers last: the pages still follow the ids.
        if (id === META) await new Promise((resolve) => setTimeout(resolve, 50));
        if (bodies[id] === undefined) return json(res, notFound, 404);
        return json(res, bodies[id]!);
      };

      const result = await source({ concurrency: 3 }).tickerEvents([META, 'BBG000UNKNWN', 'BBG/ODD+ID']);

      expect(vendor.requests.map((r) => `${r.path}${r.url.search}`).sort()).toEqual([
        '/vX/reference/tickers/BBG%2FODD%2BID/events?types=ticker_change',
        '/vX/reference/tickers/BBG000MM2P62/events?types=ticker_change',
        '/vX/reference/tickers/BBG000UNKNWN/events?types=ticker_change',
      ]);
      expect(vendor.requests.every((r) => r.authorization === `Bearer ${KEY}` && !r.url.toString().includes(KEY))).toBe(true);
      expect(result.pages).toEqual([bodies[META], bodies['BBG/ODD+ID']]);
      expect(result.rows).toBe(3); // ticker changes only
      expect(result.requests).toEqual([
        { url: `${vendor.baseUrl}/vX/reference/tickers/${META}/events?types=ticker_change`, status: 200, bytes: Buffer.byteLength(bodies[META]!), sha256: createHash('sha256').update(bodies[META]!).digest('hex') },
        { url: `${vendor.baseUrl}/vX/reference/tickers/BBG%2FODD%2BID/events?types=ticker_change`, status: 200, bytes: Buffer.byteLength(bodies['BBG/ODD+ID']!), sha256: createHash('sha256').update(bodies['BBG/ODD+ID']!).digest('hex') },
        { url: `${vendor.baseUrl}/vX/reference/tickers/BBG000UNKNWN/events?types=ticker_change`, status: 404, bytes: Buffer.byteLength(notFound), sha256: createHash('sha256').update(notFound).digest('hex') },
      ]);
    });

    it('accepts a page without results or without events, and asks nothing for no id', async () => {
      expect(await source().tickerEvents([])).toEqual({ pages: [], requests: [], rows: 0 });
      expect(vendor.requests).toHaveLength(0);
      vendor.route = (req, res) => json(res, idOf(req.path) === 'A' ? { status: 'OK', request_id: 'a' } : { status: 'OK', results: { name: 'B Corp.', composite_figi: 'B' } });

      expect(await source().tickerEvents(['A', 'B'])).toMatchObject({ rows: 0, pages: [expect.any(String), expect.any(String)] });
    });

    it.each([
      [{ status: 'OK', results: [] }, /^ticker events BBG000MM2P62: unexpected payload at results:/],
      [{ status: 'OK', results: 'none' }, /^ticker events BBG000MM2P62: unexpected payload at results:/],
      [{ status: 'OK', results: { composite_figi: META, events: { type: 'ticker_change' } } }, /^ticker events BBG000MM2P62: unexpected payload at results\.events:/],
      [[], /^ticker events BBG000MM2P62: unexpected payload at body:/],
      ['"OK"', /^ticker events BBG000MM2P62: unexpected payload at body:/],
      ['{"status":"OK","results":{', /^ticker events BBG000MM2P62: the body is not JSON/],
    ])('fails with InvalidResponseError naming the id on the bad body %j', async (body, message) => {
      vendor.route = (_req, res) => json(res, body);

      await expect(source().tickerEvents([META])).rejects.toMatchObject({ name: 'InvalidResponseError', message: expect.stringMatching(message) });
    });

    it('throws the named errors of the other failures, and starts no request after one', async () => {
      vendor.route = (req, res) => (idOf(req.path) === 'B' ? json(res, { status: 'ERROR' }, 503) : json(res, page(idOf(req.path), 'x', [])));

      await expect(source({ concurrency: 1, maxRetries: 1 }).tickerEvents(['A', 'B', 'C'])).rejects.toMatchObject({ name: 'UpstreamUnavailableError', message: 'ticker events B: HTTP 503 after 2 attempts' });
      expect(vendor.requests.map((r) => idOf(r.path))).toEqual(['A', 'B', 'B']);

      vendor.route = (_req, res) => json(res, { status: 'ERROR' }, 429);
      await expect(source({ maxRetries: 0 }).tickerEvents([META])).rejects.toMatchObject({ name: 'RateLimitedError' });
      vendor.route = (_req, res) => json(res, { status: 'ERROR', error: 'Unknown API Key' }, 401);
      await expect(source().tickerEvents([META])).rejects.toMatchObject({ name: 'ConfigError' });
      vendor.route = (_req, res) => json(res, { status: 'ERROR', error: 'bad id' }, 400);
      await expect(source().tickerEvents([META])).rejects.toMatchObject({ name: 'InvalidResponseError', message: expect.stringMatching(/^ticker events BBG000MM2P62: unexpected HTTP 400/) });
    });

    it('refuses an empty id with a ConfigError before any request', async () => {
      await expect(source().tickerEvents([META, ' '])).rejects.toMatchObject({ name: 'ConfigError' });
      expect(vendor.requests).toHaveLength(0);
    });
  });

  describe('the API key', () => {
    it('appears in no error message or cause, whatever fails', async () => {
      const routes: ((res: import('node:http').ServerResponse) => void)[] = [
        (res) => json(res, { status: 'ERROR', error: `bad key ${KEY}` }, 401),
        (res) => json(res, `echo apiKey=${KEY}`, 418),
        (res) => json(res, { status: 'ERROR' }, 429),
        (res) => json(res, 'x', 500),
        (res) => json(res, `{"status":"OK","results":[`),
        (res) => json(res, { status: 'OK', results: 'nope', next_url: `/x?apiKey=${KEY}` }),
      ];
      for (const route of routes) {
        vendor.route = (_req, res) => route(res);
        const error = await source({ maxRetries: 1 }).groupedDaily(SESSION).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        const chain: string[] = [];
        for (let e: unknown = error; e instanceof Error; e = e.cause) chain.push(e.name, e.message, String(e.stack));
        expect(chain.join('\n')).not.toContain(KEY);
      }
    });
  });

  describe('configuration', () => {
    it('refuses to build without an API key when polygon is selected, before any request', () => {
      expect(() => sourceFromEnv({ FIBBARS_SOURCE: 'polygon', POLYGON_BASE_URL: vendor.baseUrl })).toThrow(
        expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(/POLYGON_API_KEY/) }),
      );
      expect(() => new PolygonSource({ apiKey: '  ', baseUrl: vendor.baseUrl })).toThrow(expect.objectContaining({ name: 'ConfigError' }));
      expect(vendor.requests).toHaveLength(0);
    });
  });
});
