/**
 * The local vendor server's route that serves the seeded synthetic market as
 * the vendor's five endpoints (grouped daily, ticker reference, splits and
 * dividends: one session or a range, and the ticker events of an id: 404 for
 * an id the market does not know), page for page and byte for byte,
 * following the cursors of its own `next_url`s. Faults and a per-request
 * latency are injectable; requests in flight are counted. Scripted renames
 * rewrite what the vendor says about a security (see `renames`).
 */
import type { ServerResponse } from 'node:http';
import { SyntheticSource } from '../../src/synthetic.js';
import type { SourceResult } from '../../src/source.js';
import { json, type Route, type SeenRequest } from './vendor.js';

export interface SyntheticVendorOptions {
  market?: SyntheticSource;
  /** As-of date of the ticker snapshot served (the vendor serves today's). */
  tickersAsOf?: string;
  /** Milliseconds before each answer (a real vendor is tens of ms away). */
  latencyMs?: number;
  /** An HTTP status to answer instead of the data (a fault), or undefined. */
  fault?: (req: SeenRequest, n: number) => number | undefined;
  /**
   * Symbol changes to script: the market's security `figi` (one of its
   * composite FIGIs) trades as `from` before `date` and as `to` from `date`
   * on in grouped daily, the ticker snapshot (as of `date` or later) lists
   * `to` with that FIGI (as of an earlier date, `from`), and its ticker
   * events are both changes, newest first: `to` on `date`, `from` on its
   * listing date (only the latter while `tickersAsOf`, the vendor's today,
   * is before `date`).
   */
  renames?: readonly Rename[];
}

export interface Rename {
  figi: string;
  from: string;
  to: string;
  /** The first session of the new symbol (YYYY-MM-DD). */
  date: string;
}

export interface SyntheticVendorRoute extends Route {
  /** Requests in flight, of every endpoint, and the most at once so far. */
  inFlight: number;
  maxInFlight: number;
  /** The same for grouped-daily requests alone (one per session). */
  groupedInFlight: number;
  maxGroupedInFlight: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function decodeCursor(cursor: string): URLSearchParams {
  return new URLSearchParams(Buffer.from(cursor, 'base64url').toString('utf8'));
}

async function pagesFor(market: SyntheticSource, req: SeenRequest, tickersAsOf: string): Promise<SourceResult | undefined> {
  const q = req.url.searchParams;
  const grouped = /^\/v2\/aggs\/grouped\/locale\/us\/market\/stocks\/(\d{4}-\d{2}-\d{2})$/.exec(req.path);
  if (grouped) return market.groupedDaily(grouped[1]!);
  if (req.path === '/v3/reference/tickers') return market.tickers(snapshotDate(req, tickersAsOf));
  const events = /^\/vX\/reference\/tickers\/([^/]+)\/events$/.exec(req.path);
  if (events) return market.tickerEvents([decodeURIComponent(events[1]!)]);
  const byDate = { '/v3/reference/splits': 'execution_date', '/v3/reference/dividends': 'ex_dividend_date' } as const;
  if (req.path === '/v3/reference/splits' || req.path === '/v3/reference/dividends') {
    const field = byDate[req.path];
    const list = (from: string, to?: string) => (req.path === '/v3/reference/splits' ? market.splits(from, to) : market.dividends(from, to));
    const p = q.has('cursor') ? decodeCursor(q.get('cursor')!) : q;
    const one = p.get(field);
    if (one !== null) return list(one);
    const from = p.get(`${field}.gte`);
    const to = p.get(`${field}.lte`);
    return from !== null && to !== null ? list(from, to) : undefined;
  }
  return undefined;
}

/** The as-of date of a ticker-snapshot request (its cursor's, else the one served). */
function snapshotDate(req: SeenRequest, tickersAsOf: string): string {
  const cursor = req.url.searchParams.get('cursor');
  return cursor === null ? tickersAsOf : (decodeCursor(cursor).get('date') ?? tickersAsOf);
}

/** A page body with the scripted renames applied to what the request asked for. */
function renamed(market: SyntheticSource, renames: readonly Rename[], req: SeenRequest, body: string, tickersAsOf: string): string {
  if (renames.length === 0) return body;
  const page = JSON.parse(body) as { results?: unknown };
  const grouped = /\/stocks\/(\d{4}-\d{2}-\d{2})$/.exec(req.path);
  if (grouped) {
    const session = grouped[1]!;
    for (const r of renames) {
      const symbol = market.security(r.figi)?.ticker;
      for (const bar of page.results as { T: string }[]) if (bar.T === symbol) bar.T = session < r.date ? r.from : r.to;
    }
  } else if (req.path === '/v3/reference/tickers') {
    const asOf = snapshotDate(req, tickersAsOf);
    for (const row of page.results as { ticker: string; composite_figi?: string }[]) {
      const r = renames.find((x) => x.figi === row.composite_figi);
      if (r) row.ticker = asOf < r.date ? r.from : r.to;
    }
  } else {
    const results = page.results as { composite_figi?: string; events?: unknown[] } | undefined;
    const r = renames.find((x) => x.figi === results?.composite_figi);
    const listed = r ? market.security(r.figi)?.listed : undefined;
    if (!r || !results || listed === undefined) return body;
    // The timeline as of the vendor's today (the snapshot's as-of date), newest first.
    results.events = [
      ...(tickersAsOf >= r.date ? [{ ticker_change: { ticker: r.to }, type: 'ticker_change', date: r.date }] : []),
      { ticker_change: { ticker: r.from }, type: 'ticker_change', date: listed },
    ];
  }
  return JSON.stringify(page);
}

export function syntheticVendor(options: SyntheticVendorOptions = {}): SyntheticVendorRoute {
  const market = options.market ?? new SyntheticSource({ seed: 7, tickers: 300 });
  const tickersAsOf = options.tickersAsOf ?? '2026-11-25';
  const route = (async (req: SeenRequest, res: ServerResponse, n: number) => {
    const grouped = req.path.startsWith('/v2/aggs/grouped/');
    route.inFlight += 1;
    route.maxInFlight = Math.max(route.maxInFlight, route.inFlight);
    if (grouped) route.groupedInFlight += 1;
    route.maxGroupedInFlight = Math.max(route.maxGroupedInFlight, route.groupedInFlight);
    try {
      if (options.latencyMs) await sleep(options.latencyMs);
      const status = options.fault?.(req, n);
      if (status !== undefined) return json(res, { status: 'ERROR', error: 'injected fault' }, status);
      const result = await pagesFor(market, req, tickersAsOf);
      // The page whose own URL (path and query) is the one asked for.
      const asked = `${req.path}${req.url.search}`;
      const i = result?.requests.findIndex((r) => {
        const u = new URL(r.url);
        return `${u.pathname}${u.search}` === asked;
      });
      if (result === undefined || i === undefined || i < 0) return json(res, { status: 'NOT_FOUND', message: `no page for ${asked}` }, 404);
      return json(res, renamed(market, options.renames ?? [], req, result.pages[i]!, tickersAsOf));
    } finally {
      route.inFlight -= 1;
      if (grouped) route.groupedInFlight -= 1;
    }
  }) as SyntheticVendorRoute;
  route.inFlight = 0;
  route.maxInFlight = 0;
  route.groupedInFlight = 0;
  route.maxGroupedInFlight = 0;
  return route;
}
