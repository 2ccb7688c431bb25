// The gap analysis (DESIGN §3.4): sessions missing from the lake and
// per-ticker holes, by the NYSE calendar. `fibbars gaps`, `checkHealth` and a
// notebook all use this one.
import pl from 'nodejs-polars';
import { nyse } from './calendar.js';
import { epochDayToIso } from './dates.js';

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

/**
 * `findGaps` for a whole daily history, aggregated by Polars: the set of
 * present sessions and each ticker's first / last / row count come from one
 * group-by, and only tickers with fewer rows than lake sessions in their range
 * are read row by row. Memory stays proportional to tickers and sessions, not
 * to rows.
 */
export async function findGapsInFrame(daily: pl.DataFrame): Promise<GapReport> {
  if (daily.height === 0) return findGaps([], []);
  const day = pl.col('date').cast(pl.Int32);
  const present = (daily.select(day.alias('d')).unique().sort('d').getColumn('d').toArray() as number[]).map(Number);
  const perTicker = daily
    .groupBy('ticker')
    .agg(day.min().alias('first'), day.max().alias('last'), pl.col('date').count().alias('n'))
    .sort('ticker');
  // Index of the first present session >= day (present is sorted).
  const lowerBound = (d: number) => {
    let lo = 0;
    let hi = present.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((present[mid] as number) < d) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const tickers: string[] = [];
  const dates: string[] = [];
  const holed: string[] = [];
  const rows = perTicker.toRecords() as { ticker: string; first: number; last: number; n: number }[];
  for (const r of rows) {
    const expected = lowerBound(Number(r.last) + 1) - lowerBound(Number(r.first));
    if (Number(r.n) < expected) holed.push(r.ticker);
  }
  if (holed.length > 0) {
    const detail = daily.filter(pl.col('ticker').isIn(holed)).select('ticker', day.alias('d'));
    tickers.push(...(detail.getColumn('ticker').toArray() as string[]));
    dates.push(...(detail.getColumn('d').toArray() as number[]).map((d) => epochDayToIso(Number(d))));
  }
  // Every present session once more, so the lake-level set is exact.
  const report = findGaps([...tickers, ...present.map(() => '\u0000present')], [...dates, ...present.map(epochDayToIso)]);
  const tickerHoles = report.tickerHoles.filter((h) => h.ticker !== '\u0000present');
  return {
    ...report,
    tickers: rows.length,
    tickerHoles,
    tickersWithHoles: tickerHoles.length,
    holes: tickerHoles.reduce((a, h) => a + h.missing.length, 0),
  };
}
