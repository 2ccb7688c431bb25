// Real data: 100 S&P 500 members, 2013-02-08..2017-12-29 (see ../shared/data/README.md).
// The Polars pipeline (validateDaily, resample) is checked against a deliberately
// plain implementation below: loops over JS arrays, no Polars.
import { beforeAll, describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { DEFAULT_INTERVALS, isoToEpochDay, nyse, resampleMany, validateDaily } from '../../src/index.js';
import { readSp500Rows, requireSharedData, SP500_FILE, type Sp500Row as Row } from '@fibbars/testing';

interface RefBar {
  ticker: string;
  start_date: string;
  end_date: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  vwap: number | null;
  transactions: number | null;
  n_days: number;
  bucket: number;
  is_complete: boolean;
}

/** The rules of DESIGN §3.3, written out plainly. */
function plainReason(r: Row): string | null {
  const prices = [r.open, r.high, r.low, r.close];
  if (prices.some((p) => p === null)) return 'missing-price';
  if (prices.some((p) => !Number.isFinite(p))) return 'non-finite-price';
  if (prices.some((p) => p! <= 0)) return 'non-positive-price';
  if (r.volume === null) return 'missing-volume';
  if (!Number.isFinite(r.volume)) return 'non-finite-volume';
  if (r.volume < 0) return 'negative-volume';
  const lo = Math.min(r.open!, r.close!);
  const hi = Math.max(r.open!, r.close!);
  if (!(r.low! <= lo && hi <= r.high!)) return 'ohlc-inconsistent';
  return null;
}

/** Plain N-session bars: group rows per ticker (sorted by date) and walk them. */
function plainBars(rows: Row[], days: number, anchor: 'calendar' | 'ticker'): RefBar[] {
  const byTicker = new Map<string, Row[]>();
  for (const r of rows) {
    let list = byTicker.get(r.ticker);
    if (!list) byTicker.set(r.ticker, (list = []));
    list.push(r);
  }
  let maxIndex = -1;
  for (const r of rows) maxIndex = Math.max(maxIndex, nyse.sessionIndex(r.date));
  const out: RefBar[] = [];
  for (const ticker of [...byTicker.keys()].sort()) {
    const list = byTicker.get(ticker)!.slice().sort((a, b) => (a.date < b.date ? -1 : 1));
    let current: RefBar | null = null;
    list.forEach((r, i) => {
      const bucket = anchor === 'calendar' ? Math.floor(nyse.sessionIndex(r.date) / days) : Math.floor(i / days);
      if (!current || current.bucket !== bucket) {
        current = {
          ticker,
          start_date: r.date,
          end_date: r.date,
          open: r.open!,
          high: r.high!,
          low: r.low!,
          close: r.close!,
          volume: 0,
          vwap: null, // the sample has no vwap
          transactions: null, // nor transaction counts
          n_days: 0,
          bucket,
          is_complete: false,
        };
        out.push(current);
      }
      current.end_date = r.date;
      current.high = Math.max(current.high, r.high!);
      current.low = Math.min(current.low, r.low!);
      current.close = r.close!;
      current.volume += r.volume!;
      current.n_days += 1;
    });
  }
  for (const b of out) {
    b.is_complete = anchor === 'calendar' ? (b.bucket + 1) * days - 1 <= maxIndex : b.n_days === days;
  }
  return out;
}

function toFrame(rows: Row[]): DataFrame {
  const col = <K extends keyof Row>(k: K) => rows.map((r) => r[k]);
  return pl.DataFrame([
    pl.Series('ticker', col('ticker'), pl.Utf8),
    pl.Series('date', rows.map((r) => isoToEpochDay(r.date)), pl.Int32).cast(pl.Date),
    pl.Series('open', col('open'), pl.Float64),
    pl.Series('high', col('high'), pl.Float64),
    pl.Series('low', col('low'), pl.Float64),
    pl.Series('close', col('close'), pl.Float64),
    pl.Series('volume', col('volume'), pl.Float64),
  ]);
}

/** Bars of a Polars frame as plain objects, dates as ISO strings. */
function barsOf(df: DataFrame): Record<string, unknown>[] {
  const s = df.withColumns(pl.col('start_date').cast(pl.Utf8), pl.col('end_date').cast(pl.Utf8));
  const cols = Object.fromEntries(s.columns.map((c) => [c, s.getColumn(c).toArray() as unknown[]]));
  return Array.from({ length: s.height }, (_, i) => Object.fromEntries(s.columns.map((c) => [c, cols[c]![i]])));
}

function close(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  return a === b;
}

/** Every mismatching column of every bar (first few), plus missing/extra bars. */
function diffBars(got: Record<string, unknown>[], want: RefBar[]): string[] {
  const problems: string[] = [];
  if (got.length !== want.length) problems.push(`bar count ${got.length} != ${want.length}`);
  const byKey = new Map(got.map((b) => [`${String(b['ticker'])}|${String(b['bucket'])}`, b]));
  for (const w of want) {
    const g = byKey.get(`${w.ticker}|${w.bucket}`);
    if (!g) {
      problems.push(`missing bar ${w.ticker} bucket ${w.bucket}`);
      continue;
    }
    for (const [k, v] of Object.entries(w)) {
      if (!close(g[k], v)) problems.push(`${w.ticker} bucket ${w.bucket} ${k}: ${String(g[k])} != ${String(v)}`);
    }
    if (problems.length > 20) break;
  }
  return problems;
}

// The sample is this suite's input: when it is missing, every test fails with
// the path it was looked for at, rather than passing on nothing.
describe('reference: S&P 500 sample 2013-2017', () => {
  let rows: Row[];
  let valid: Row[];
  let daily: DataFrame;
  let quarantined: DataFrame;

  beforeAll(() => {
    rows = readSp500Rows(requireSharedData(SP500_FILE));
    valid = rows.filter((r) => plainReason(r) === null);
    const result = validateDaily(toFrame(rows));
    daily = result.accepted;
    quarantined = result.quarantined;
  });

  it('quarantines the known bad rows with their reasons, and exactly the rows the plain rules reject', () => {
    const q = quarantined.select(pl.col('ticker'), pl.col('date').cast(pl.Utf8), pl.col('reason')).toRecords();
    const got = q.map((r) => `${String(r['ticker'])} ${String(r['date'])} ${String(r['reason'])}`).sort();
    expect(got).toEqual(
      expect.arrayContaining([
        'BHF 2017-07-26 missing-price',
        'CHD 2014-05-19 ohlc-inconsistent',
        'AOS 2014-05-19 ohlc-inconsistent',
        'BBY 2016-03-14 ohlc-inconsistent',
        'CHK 2014-06-30 ohlc-inconsistent',
      ]),
    );
    const plain = rows
      .map((r) => [r, plainReason(r)] as const)
      .filter(([, reason]) => reason !== null)
      .map(([r, reason]) => `${r.ticker} ${r.date} ${reason}`)
      .sort();
    expect(got).toEqual(plain);
    expect(daily.height).toBe(valid.length);
    expect(daily.height + quarantined.height).toBe(rows.length);
  });

  for (const anchor of ['calendar', 'ticker'] as const) {
    it(`matches the plain implementation on every column of every bar, all six intervals, ${anchor} anchor`, async () => {
      const many = await resampleMany(daily, { anchor });
      for (const days of DEFAULT_INTERVALS) {
        const problems = diffBars(barsOf(many.get(days)!), plainBars(valid, days, anchor));
        expect({ days, problems }).toEqual({ days, problems: [] });
      }
    });
  }

  it('does not depend on row order: shuffled input gives the same bars', async () => {
    const shuffled = daily.sample({ n: daily.height, withReplacement: false, seed: 42, shuffle: true });
    expect(shuffled.frameEqual(daily)).toBe(false);
    for (const anchor of ['calendar', 'ticker'] as const) {
      const many = await resampleMany(shuffled, { anchor, intervals: [5, 34] });
      for (const days of [5, 34]) {
        const problems = diffBars(barsOf(many.get(days)!), plainBars(valid, days, anchor));
        expect({ anchor, days, problems }).toEqual({ anchor, days, problems: [] });
      }
    }
  });
});
