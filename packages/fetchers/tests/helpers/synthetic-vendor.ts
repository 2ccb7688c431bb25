/**
 * The local vendor server's route that serves the seeded synthetic market as
 * the vendor's four endpoints (grouped daily, ticker reference, splits and
 * dividends: one session or a range), page for page and byte for byte, following the
 * cursors of its own `next_url`s. Faults and a per-request latency are
 * injectable; requests in flight are counted.
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
}

export interface SyntheticVendorRoute extends Route {
  inFlight: number;
  maxInFlight: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function decodeCursor(cursor: string): URLSearchParams {
  return new URLSearchParams(Buffer.from(cursor, 'base64url').toString('utf8'));
}

async function pagesFor(market: SyntheticSource, req: SeenRequest, tickersAsOf: string): Promise<SourceResult | undefined> {
  const q = req.url.searchParams;
  const grouped = /^\/v2\/aggs\/grouped\/locale\/us\/market\/stocks\/(\d{4}-\d{2}-\d{2})$/.exec(req.path);
  if (grouped) return market.groupedDaily(grouped[1]!);
  if (req.path === '/v3/reference/tickers') return market.tickers(q.has('cursor') ? (decodeCursor(q.get('cursor')!).get('date') ?? tickersAsOf) : tickersAsOf);
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

export function syntheticVendor(options: SyntheticVendorOptions = {}): SyntheticVendorRoute {
  const market = options.market ?? new SyntheticSource({ seed: 7, tickers: 300 });
  const tickersAsOf = options.tickersAsOf ?? '2026-11-25';
  const route = (async (req: SeenRequest, res: ServerResponse, n: number) => {
    route.inFlight += 1;
    route.maxInFlight = Math.max(route.maxInFlight, route.inFlight);
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
      return json(res, result.pages[i]!);
    } finally {
      route.inFlight -= 1;
    }
  }) as SyntheticVendorRoute;
  route.inFlight = 0;
  route.maxInFlight = 0;
  return route;
}
