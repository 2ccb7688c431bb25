import { nyse } from '@fibbars/ohlcv-core/calendar';

export interface TickerHoles {
  ticker: string;
  first: string;
  last: string;
  missing: string[];
}

export interface GapReport {
  from: string | null;
  to: string | null;
  expectedSessions: number;
  presentSessions: number;
  missingSessions: string[];
  tickers: number;
  tickersWithHoles: number;
  holes: number;
  tickerHoles: TickerHoles[];
}

/**
 * Sessions missing from the lake between its first and last session (per
 * the NYSE calendar), and per ticker the sessions inside its own first..last
 * range that have no row while the lake has that session. A session missing
 * for everyone is reported once, as a lake gap, not as a hole of every ticker.
 */
export function findGaps(tickers: readonly string[], dates: readonly string[]): GapReport {
  if (dates.length === 0) {
    return { from: null, to: null, expectedSessions: 0, presentSessions: 0, missingSessions: [], tickers: 0, tickersWithHoles: 0, holes: 0, tickerHoles: [] };
  }
  const present = new Set<string>();
  const byTicker = new Map<string, Set<string>>();
  for (let i = 0; i < dates.length; i++) {
    const d = dates[i] as string;
    const t = tickers[i] as string;
    present.add(d);
    let set = byTicker.get(t);
    if (!set) byTicker.set(t, (set = new Set()));
    set.add(d);
  }
  const sorted = [...present].sort();
  const from = sorted[0] as string;
  const to = sorted[sorted.length - 1] as string;
  const expected = nyse.sessionsBetween(from, to);
  const missingSessions = expected.filter((s) => !present.has(s));
  const tickerHoles: TickerHoles[] = [];
  let holes = 0;
  for (const [ticker, set] of [...byTicker].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const own = [...set].sort();
    const first = own[0] as string;
    const last = own[own.length - 1] as string;
    const missing = nyse.sessionsBetween(first, last).filter((s) => present.has(s) && !set.has(s));
    if (missing.length > 0) {
      tickerHoles.push({ ticker, first, last, missing });
      holes += missing.length;
    }
  }
  return {
    from,
    to,
    expectedSessions: expected.length,
    presentSessions: expected.length - missingSessions.length,
    missingSessions,
    tickers: byTicker.size,
    tickersWithHoles: tickerHoles.length,
    holes,
    tickerHoles,
  };
}
