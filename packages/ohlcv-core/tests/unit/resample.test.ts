import { describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import {
  BAR_SCHEMA,
  ConfigError,
  DEFAULT_INTERVALS,
  adjustForSplits,
  affectedBuckets,
  bucketBounds,
  hasSchema,
  nyse,
  parseSplits,
  resample,
  resampleLazy,
  resampleMany,
} from '../../src/index.js';
import { bar, dailyFrame, records } from './support/frames.js';
import type { RawRow } from './support/frames.js';

/** One bar per session for `ticker` over [from, to], prices rising by 1 per session. */
function series(ticker: string, from: string, to: string, start = 10, extra: Partial<RawRow> = {}): RawRow[] {
  return nyse.sessionsBetween(from, to).map((d, i) => bar(ticker, d, start + i, 100 + i, extra));
}

describe('resample (calendar anchor)', () => {
  it('returns the bar schema with bucket = floor(sessionIndex / N)', () => {
    const bars = resample(dailyFrame(series('A', '2024-06-03', '2024-06-28')), { days: 5 });
    expect(hasSchema(bars, BAR_SCHEMA)).toBe(true);
    for (const b of records(bars)) {
      expect(b['bucket']).toBe(Math.floor(nyse.sessionIndex(b['start_date'] as string) / 5));
      expect(Math.floor(nyse.sessionIndex(b['end_date'] as string) / 5)).toBe(b['bucket']);
    }
  });

  it('aggregates open first, high max, low min, close last, volume sum and n_days', () => {
    const rows = series('A', '2024-06-03', '2024-06-28');
    const bars = records(resample(dailyFrame(rows), { days: 3 }));
    for (const b of bars) {
      const inBar = rows.filter((r) => r.date >= (b['start_date'] as string) && r.date <= (b['end_date'] as string));
      expect(b['n_days']).toBe(inBar.length);
      expect(b['open']).toBe(inBar[0]!.open);
      expect(b['close']).toBe(inBar.at(-1)!.close);
      expect(b['high']).toBe(Math.max(...inBar.map((r) => r.high!)));
      expect(b['low']).toBe(Math.min(...inBar.map((r) => r.low!)));
      expect(b['volume']).toBe(inBar.reduce((s, r) => s + r.volume!, 0));
      expect(b['transactions']).toBe(inBar.length * 10);
    }
    expect(bars.reduce((s, b) => s + (b['n_days'] as number), 0)).toBe(rows.length);
  });

  it('skips a holiday inside a bucket: the bar still spans N sessions', () => {
    // 2024-07-04 is a holiday; find the 5-session bucket that straddles it.
    const b = Math.floor(nyse.sessionIndex('2024-07-03') / 5);
    const { first, last } = bucketBounds(b, 5);
    const rows = series('A', '2024-06-24', '2024-07-19');
    const bar5 = records(resample(dailyFrame(rows), { days: 5 })).find((x) => x['bucket'] === b)!;
    expect(bar5).toMatchObject({ start_date: first, end_date: last, n_days: 5, is_complete: true });
    expect(nyse.sessionsBetween(first, last)).not.toContain('2024-07-04');
    expect(first < '2024-07-04' && last > '2024-07-04').toBe(true);
  });

  it('marks a bucket complete once its last calendar session is on or before asOf', () => {
    const rows = series('A', '2024-06-03', '2024-06-12');
    const bars = records(resample(dailyFrame(rows), { days: 5 }));
    const latest = bars.at(-1)!;
    const { last } = bucketBounds(latest['bucket'] as number, 5);
    expect(latest['is_complete']).toBe(last <= '2024-06-12');
    expect(bars.slice(0, -1).every((b) => b['is_complete'] === true)).toBe(true);
    // an explicit asOf beyond the data completes it; one before it drops later rows
    expect(records(resample(dailyFrame(rows), { days: 5, asOf: last })).at(-1)!['is_complete']).toBe(true);
    const cut = records(resample(dailyFrame(rows), { days: 5, asOf: '2024-06-08' }));
    expect(cut.every((b) => (b['end_date'] as string) <= '2024-06-07')).toBe(true);
  });

  it('shares bucket boundaries across tickers that list and delist mid-range', () => {
    const rows = [...series('OLD', '2024-06-03', '2024-06-12'), ...series('NEW', '2024-06-10', '2024-06-21')];
    const bars = records(resample(dailyFrame(rows), { days: 5 }));
    const old = bars.filter((b) => b['ticker'] === 'OLD');
    const neu = bars.filter((b) => b['ticker'] === 'NEW');
    const shared = old.map((b) => b['bucket']).filter((b) => neu.some((n) => n['bucket'] === b));
    expect(shared.length).toBeGreaterThan(0);
    for (const b of bars) {
      const { first, last } = bucketBounds(b['bucket'] as number, 5);
      expect((b['start_date'] as string) >= first && (b['end_date'] as string) <= last).toBe(true);
    }
    // OLD's last bar has fewer than 5 rows but its calendar bucket has ended: complete.
    const lastOld = old.at(-1)!;
    expect(bucketBounds(lastOld['bucket'] as number, 5).last <= '2024-06-21').toBe(true);
    expect(lastOld['is_complete']).toBe(true);
  });
});

describe('resample (ticker and latest anchors)', () => {
  it('numbers each ticker rows from its own first session under the ticker anchor', () => {
    const rows = [...series('A', '2024-06-03', '2024-06-14'), ...series('B', '2024-06-06', '2024-06-14')];
    const bars = records(resample(dailyFrame(rows), { days: 3, anchor: 'ticker' }));
    const b = bars.filter((x) => x['ticker'] === 'B');
    expect(b.map((x) => [x['bucket'], x['start_date'], x['n_days'], x['is_complete']])).toEqual([
      [0, '2024-06-06', 3, true],
      [1, '2024-06-11', 3, true],
      [2, '2024-06-14', 1, false],
    ]);
    expect(bars.filter((x) => x['ticker'] === 'A').map((x) => x['n_days'])).toEqual([3, 3, 3, 1]);
  });

  it('ends the newest bar on asOf under the latest anchor', () => {
    const rows = series('A', '2024-06-03', '2024-06-14');
    const bars = records(resample(dailyFrame(rows), { days: 4, anchor: 'latest' }));
    expect(bars.map((b) => [b['bucket'], b['start_date'], b['end_date'], b['n_days']])).toEqual([
      [-2, '2024-06-03', '2024-06-04', 2],
      [-1, '2024-06-05', '2024-06-10', 4],
      [0, '2024-06-11', '2024-06-14', 4],
    ]);
    const asOf = records(resample(dailyFrame(rows), { days: 4, anchor: 'latest', asOf: '2024-06-09' })).at(-1)!;
    expect(asOf).toMatchObject({ bucket: 0, end_date: '2024-06-07', n_days: 4 });
  });
});

describe('resample columns', () => {
  it('weights vwap by volume over rows having both, and nulls it when none has', () => {
    const rows = [
      bar('A', '2024-06-03', 10, 100, { vwap: 10 }),
      bar('A', '2024-06-04', 10, 300, { vwap: 20 }),
      bar('A', '2024-06-05', 10, 999, { vwap: null, transactions: null }),
      bar('N', '2024-06-03', 10, 100, { vwap: null, transactions: null }),
    ];
    const days = 3;
    const bars = records(resample(dailyFrame(rows), { days, anchor: 'ticker' }));
    expect(bars[0]!['vwap']).toBeCloseTo((10 * 100 + 20 * 300) / 400, 12);
    expect(bars[0]!['transactions']).toBe(20);
    expect(bars[1]).toMatchObject({ ticker: 'N', vwap: null, transactions: null });
  });

  it('accepts a frame without vwap and transactions', () => {
    const df = dailyFrame(series('A', '2024-06-03', '2024-06-07')).select('ticker', 'date', 'open', 'high', 'low', 'close', 'volume');
    expect(records(resample(df, { days: 5 }))).toEqual([expect.objectContaining({ vwap: null, transactions: null, n_days: 5 })]);
  });

  it('rejects duplicate rows, non-session dates, bad intervals and anchors with ConfigError', () => {
    const rows = series('A', '2024-06-03', '2024-06-07');
    expect(() => resample(dailyFrame([...rows, rows[0]!]), { days: 5 })).toThrow(/more than one row for A on 2024-06-03/);
    expect(() => resample(dailyFrame([bar('A', '2024-07-04', 1)]), { days: 5 })).toThrow(/2024-07-04 is not an NYSE session/);
    expect(() => resample(dailyFrame(rows), { days: 0 })).toThrow(ConfigError);
    expect(() => resample(dailyFrame(rows), { days: 5, anchor: 'weekly' as never })).toThrow(/unknown anchor "weekly"/);
    expect(() => resample(dailyFrame(rows).drop('volume'), { days: 5 })).toThrow(/missing column\(s\) volume/);
  });
});

describe('split adjustment', () => {
  const splits = parseSplits([
    {
      status: 'OK',
      results: [
        { ticker: 'FWD', execution_date: '2024-06-06', split_from: 1, split_to: 4 },
        { ticker: 'REV', execution_date: '2024-06-06', split_from: 10, split_to: 1 },
      ],
    },
  ]);
  // Unadjusted prices as traded: FWD ~400 before its 4:1 split and ~100 after; REV ~1 before a 1:10 reverse split and ~10 after.
  const rows = [
    ...nyse.sessionsBetween('2024-06-03', '2024-06-05').map((d) => bar('FWD', d, 400, 1000)),
    ...nyse.sessionsBetween('2024-06-06', '2024-06-10').map((d) => bar('FWD', d, 100, 4000)),
    ...nyse.sessionsBetween('2024-06-03', '2024-06-05').map((d) => bar('REV', d, 1, 10_000)),
    ...nyse.sessionsBetween('2024-06-06', '2024-06-10').map((d) => bar('REV', d, 10, 1000)),
  ];

  it('divides prices and multiplies volume before the execution date by the ratio (4:1 and 1:10)', () => {
    const adj = records(adjustForSplits(dailyFrame(rows), splits));
    for (const r of adj) {
      const src = rows.find((x) => x.ticker === r['ticker'] && x.date === r['date'])!;
      const ratio = (r['date'] as string) < '2024-06-06' ? (r['ticker'] === 'FWD' ? 4 : 0.1) : 1;
      expect(r['open']).toBeCloseTo(src.open! / ratio, 12);
      expect(r['close']).toBeCloseTo(src.close! / ratio, 12);
      expect(r['vwap']).toBeCloseTo(src.vwap! / ratio, 12);
      expect(r['volume']).toBeCloseTo(src.volume! * ratio, 9);
      expect(r['transactions']).toBe(src.transactions);
    }
    // after adjustment the series is continuous across the split
    expect(new Set(adj.filter((r) => r['ticker'] === 'FWD').map((r) => r['open']))).toEqual(new Set([100]));
    expect(new Set(adj.filter((r) => r['ticker'] === 'REV').map((r) => r['open']))).toEqual(new Set([10]));
  });

  it('compounds successive splits backwards from the latest one', () => {
    const two = parseSplits([{ results: [
      { ticker: 'FWD', execution_date: '2024-06-05', split_from: 1, split_to: 2 },
      { ticker: 'FWD', execution_date: '2024-06-07', split_from: 1, split_to: 3 },
    ] }]);
    const adj = records(adjustForSplits(dailyFrame(series('FWD', '2024-06-03', '2024-06-10', 60)), two));
    const factor = (d: string) => (d < '2024-06-05' ? 6 : d < '2024-06-07' ? 3 : 1);
    for (const r of adj) {
      const src = series('FWD', '2024-06-03', '2024-06-10', 60).find((x) => x.date === r['date'])!;
      expect(r['open']).toBeCloseTo(src.open! / factor(r['date'] as string), 12);
    }
  });

  it('builds bars from adjusted rows across a split', () => {
    const bars = records(resample(dailyFrame(rows), { days: 10, anchor: 'ticker', splits }));
    const fwd = bars.find((b) => b['ticker'] === 'FWD')!;
    expect(fwd).toMatchObject({ n_days: 6, open: 100, close: 101 });
    expect(fwd['volume']).toBeCloseTo(3 * 4000 + 3 * 4000, 9);
    const rev = bars.find((b) => b['ticker'] === 'REV')!;
    expect(rev).toMatchObject({ n_days: 6, open: 10 });
    expect(rev['volume']).toBeCloseTo(6 * 1000, 9);
  });
});

describe('resampleMany, resampleLazy and affectedBuckets', () => {
  const rows = [...series('A', '2024-01-02', '2024-06-28'), ...series('B', '2024-03-01', '2024-05-31', 50)];

  it('computes every default interval from one scan, equal to resample one by one', async () => {
    const daily = dailyFrame(rows);
    const many = await resampleMany(daily, {});
    expect([...many.keys()]).toEqual([...DEFAULT_INTERVALS]);
    for (const n of DEFAULT_INTERVALS) {
      expect(many.get(n)!.frameEqual(resample(daily, { days: n }), true)).toBe(true);
    }
    const lazy = await resampleLazy(daily.lazy(), { days: 8, anchor: 'ticker' }).collect();
    expect(lazy.frameEqual(resample(daily, { days: 8, anchor: 'ticker' }), true)).toBe(true);
  });

  it('lists the calendar buckets holding new sessions with their bounds', () => {
    const sessions = ['2024-06-27', '2024-06-28', '2024-07-01'];
    const got = affectedBuckets(sessions, 21);
    const expected = [...new Set(sessions.map((s) => Math.floor(nyse.sessionIndex(s) / 21)))].sort((a, b) => a - b);
    expect(got.map((b) => b.bucket)).toEqual(expected);
    for (const b of got) expect(b).toEqual({ bucket: b.bucket, ...bucketBounds(b.bucket, 21) });
    expect(() => affectedBuckets(['2024-07-04'], 21)).toThrow(ConfigError);
  });

  it('recomputing only the affected buckets reproduces the full rebuild', () => {
    const daily = dailyFrame(rows);
    const full = resample(daily, { days: 13 });
    const [aff] = affectedBuckets(['2024-06-28'], 13);
    const slice = daily.filter(pl.col('date').cast(pl.Utf8).gtEq(pl.lit(aff!.first)).and(pl.col('date').cast(pl.Utf8).ltEq(pl.lit(aff!.last))));
    const partial = resample(slice, { days: 13, asOf: '2024-06-28' });
    const fromFull = full.filter(pl.col('bucket').eq(aff!.bucket));
    expect(partial.frameEqual(fromFull, true)).toBe(true);
  });
});

describe('resample row order', () => {
  it('takes open and close by date even when 300,000 rows arrive shuffled', async () => {
    // Prices rise with the date within each ticker, so a bar's open must be its
    // low + 1 and its close its high - 0.5 whatever order the rows come in.
    const sessions = nyse.sessions.slice(-2800, -300);
    const grid = pl
      .DataFrame({ ticker: Array.from({ length: 120 }, (_, i) => `T${String(i).padStart(3, '0')}`) })
      .join(pl.DataFrame([pl.Series('date', sessions.map((s) => s), pl.Utf8).str.strptime(pl.Date, '%Y-%m-%d')]), { how: 'cross' })
      .withRowIndex('i')
      .withColumns(
        pl.col('i').cast(pl.Float64).alias('open'),
        pl.col('i').cast(pl.Float64).add(1).alias('high'),
        pl.col('i').cast(pl.Float64).sub(1).alias('low'),
        pl.col('i').cast(pl.Float64).add(0.5).alias('close'),
        pl.lit(1000).cast(pl.Float64).alias('volume'),
      )
      .drop('i');
    const shuffled = grid.sample({ n: grid.height, seed: 7, shuffle: true });
    expect(shuffled.height).toBe(300_000);
    for (const anchor of ['calendar', 'ticker'] as const) {
      const many = await resampleMany(shuffled, { anchor, intervals: [5, 34] });
      for (const bars of many.values()) {
        const wrong = bars.filter(pl.col('open').neq(pl.col('low').add(1)).or(pl.col('close').neq(pl.col('high').sub(0.5))));
        expect(wrong.height).toBe(0);
        expect(bars.getColumn('n_days').sum()).toBe(300_000);
      }
    }
  });
});
