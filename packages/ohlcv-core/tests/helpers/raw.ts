/**
 * Writes vendor-shaped raw fetches (Polygon grouped daily, splits, tickers)
 * into a lake's raw zone, for job tests.
 */
import type { RawFetch, RawZone } from '../../src/storage.js';

export interface RawBar {
  T: string;
  o?: number | null;
  h?: number | null;
  l?: number | null;
  c?: number | null;
  v?: number | null;
  vw?: number;
  n?: number;
}

/** A valid bar for `ticker` around `price` (high/low bracket open/close). */
export function bar(ticker: string, price: number, volume = 1000): RawBar {
  return { T: ticker, o: price, h: price * 1.02, l: price * 0.98, c: price * 1.01, v: volume, vw: price * 1.005, n: 10 };
}

function groupedDailyPage(session: string, bars: RawBar[]): string {
  const t = Date.parse(`${session}T21:00:00Z`);
  return JSON.stringify({
    adjusted: false,
    queryCount: bars.length,
    resultsCount: bars.length,
    status: 'OK',
    results: bars.map((b) => ({ ...b, t })),
  });
}

let clock = Date.parse('2030-01-01T00:00:00Z');
/** Strictly increasing fetch times, so a later write is always the later fetch. */
export function nextFetchTime(): Date {
  clock += 1000;
  return new Date(clock);
}

export async function writeOhlcv(raw: RawZone, session: string, bars: RawBar[]): Promise<RawFetch> {
  return raw.write('ohlcv', session, [groupedDailyPage(session, bars)], {
    requests: [{ url: `https://api.example/v2/aggs/grouped/locale/us/market/stocks/${session}?adjusted=false`, status: 200, bytes: 0, sha256: '' }],
    rows: bars.length,
    source: 'test',
    fetchedAt: nextFetchTime(),
  });
}

/** The request of a listing that answered for `[from, to]` (as the fetchers' range or one-date listings name it). */
function listingRequest(dataset: 'splits' | 'dividends', coverage: { from: string; to: string } | undefined) {
  if (!coverage) return [];
  const field = dataset === 'splits' ? 'execution_date' : 'ex_dividend_date';
  const q = coverage.from === coverage.to ? `${field}=${coverage.from}` : `${field}.gte=${coverage.from}&${field}.lte=${coverage.to}&sort=${field}&order=asc`;
  return [{ url: `https://api.example/v3/reference/${dataset}?${q}&limit=1000`, status: 200, bytes: 0, sha256: '' }];
}

/**
 * A splits listing stored under `session`. With `coverage`, its request names
 * the dates it answered for, so it also withdraws the splits of those dates
 * it does not hold; without, it only adds.
 */
export async function writeSplits(
  raw: RawZone,
  session: string,
  splits: Array<{ ticker: string; execution_date: string; split_from: number; split_to: number }>,
  coverage?: { from: string; to: string },
): Promise<RawFetch> {
  return raw.write('splits', session, [JSON.stringify({ status: 'OK', results: splits })], {
    requests: listingRequest('splits', coverage),
    rows: splits.length,
    source: 'test',
    fetchedAt: nextFetchTime(),
  });
}

export async function writeTickers(raw: RawZone, session: string, tickers: Array<{ ticker: string; name: string; active: boolean }>): Promise<RawFetch> {
  const results = tickers.map((t) => ({ ...t, market: 'stocks', locale: 'us', type: 'CS', currency_name: 'usd' }));
  return raw.write('tickers', session, [JSON.stringify({ status: 'OK', results })], {
    requests: [],
    rows: tickers.length,
    source: 'test',
    fetchedAt: nextFetchTime(),
  });
}

export interface RawDividend {
  ticker: string;
  ex_dividend_date: string;
  cash_amount: number;
  dividend_type?: string;
  currency?: string;
  frequency?: number;
  pay_date?: string;
}

/** A dividends listing stored under `session`, as the vendor's `/v3/reference/dividends` pages (`coverage` as for `writeSplits`). */
export async function writeDividends(raw: RawZone, session: string, dividends: RawDividend[], coverage?: { from: string; to: string }): Promise<RawFetch> {
  return raw.write('dividends', session, [JSON.stringify({ status: 'OK', results: dividends })], {
    requests: listingRequest('dividends', coverage),
    rows: dividends.length,
    source: 'test',
    fetchedAt: nextFetchTime(),
  });
}

export interface RawTicker {
  ticker: string;
  name: string;
  active: boolean;
  composite_figi?: string;
  delisted_utc?: string;
}

/** A ticker snapshot stored under `session`, with composite FIGIs where given. */
export async function writeTickerSnapshot(raw: RawZone, session: string, tickers: RawTicker[]): Promise<RawFetch> {
  const results = tickers.map((t) => ({ market: 'stocks', locale: 'us', type: 'CS', currency_name: 'usd', ...t }));
  return raw.write('tickers', session, [JSON.stringify({ status: 'OK', results })], { requests: [], rows: tickers.length, source: 'test', fetchedAt: nextFetchTime() });
}

/** A ticker-events fetch stored under `session`: one vendor page per security, its ticker changes as [symbol, date]. */
export async function writeTickerEvents(
  raw: RawZone,
  session: string,
  securities: Array<{ figi: string; name: string; changes: Array<[string, string]> }>,
): Promise<RawFetch> {
  const pages = securities.map((s) =>
    JSON.stringify({
      status: 'OK',
      results: { name: s.name, composite_figi: s.figi, events: s.changes.map(([ticker, date]) => ({ type: 'ticker_change', date, ticker_change: { ticker } })) },
    }),
  );
  const rows = securities.reduce((n, s) => n + s.changes.length, 0);
  return raw.write('ticker_events', session, pages, { requests: [], rows, source: 'test', fetchedAt: nextFetchTime() });
}
