// The bar kernel (src/kernel.ts) against the lazy Polars plan of the same
// definition (`resampleLazy`), on seeded random frames with the cases the
// kernel handles itself: nulls, unsorted input, gaps, all three anchors,
// splits, kept-bucket subsets, and the lake's reordering of month files.
import { describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
// mulberry32: a small seeded generator, so a failure replays.
import { mulberry32 as random } from '@fibbars/testing/random';
import { ConfigError, nyse, resample, resampleLazy, resampleMany } from '../../src/index.js';
import { dailyArrays, kernelBars, lakeArrays } from '../../src/kernel.js';
import { prepareRows, splitFactorTable } from '../../src/resample.js';
import { isoToEpochDay } from '../../src/dates.js';
import { SILVER_DAILY_SCHEMA } from '../../src/schemas.js';
import { frameDifference } from '../helpers/lake-checks.js';

const SESSIONS = nyse.sessionsBetween('2023-09-01', '2024-03-28');

/**
 * Rows for `tickers` tickers over SESSIONS, sorted by (ticker, date): each
 * ticker skips about one session in ten (gaps), and about one row in eight
 * has a null vwap, transactions, high or volume.
 */
function market(seed: number, tickers = 12): DataFrame {
  const rnd = random(seed);
  const cols: Record<string, unknown[]> = { ticker: [], date: [], open: [], high: [], low: [], close: [], volume: [], vwap: [], transactions: [] };
  for (let t = 0; t < tickers; t++) {
    const name = `T${String(t).padStart(2, '0')}`;
    let px = 20 + 80 * rnd();
    for (const d of SESSIONS) {
      if (rnd() < 0.1) continue;
      const open = px * (1 + (rnd() - 0.5) * 0.02);
      const close = open * (1 + (rnd() - 0.5) * 0.04);
      px = close;
      const nul = (p: number) => (rnd() < p ? null : 1);
      cols.ticker!.push(name);
      cols.date!.push(isoToEpochDay(d));
      cols.open!.push(open);
      cols.high!.push(nul(0.03) === null ? null : Math.max(open, close) * (1 + rnd() * 0.01));
      cols.low!.push(Math.min(open, close) * (1 - rnd() * 0.01));
      cols.close!.push(close);
      cols.volume!.push(nul(0.03) === null ? null : Math.round(1000 + 1e5 * rnd()));
      cols.vwap!.push(nul(0.12) === null ? null : (open + close) / 2);
      cols.transactions!.push(nul(0.12) === null ? null : Math.round(10 + 500 * rnd()));
    }
  }
  return pl.DataFrame(cols).select(...Object.entries(SILVER_DAILY_SCHEMA).map(([c, t]) => pl.col(c).cast(t).alias(c)));
}

function splitsFor(seed: number): DataFrame {
  const rnd = random(seed + 7);
  const ticker: string[] = [];
  const date: number[] = [];
  const from: number[] = [];
  const to: number[] = [];
  for (let t = 0; t < 12; t += 2) {
    for (let k = 0; k < 2; k++) {
      ticker.push(`T${String(t).padStart(2, '0')}`);
      date.push(isoToEpochDay(SESSIONS[Math.floor(rnd() * SESSIONS.length)]!));
      const reverse = rnd() < 0.3;
      from.push(reverse ? 4 : 1);
      to.push(reverse ? 1 : 2);
    }
  }
  return pl.DataFrame({ ticker, execution_date: date, split_from: from, split_to: to }).select(
    pl.col('ticker'),
    pl.col('execution_date').cast(pl.Date),
    pl.col('split_from').cast(pl.Float64),
    pl.col('split_to').cast(pl.Float64),
  );
}

function shuffled(df: DataFrame, seed: number): DataFrame {
  const rnd = random(seed);
  const idx = Array.from({ length: df.height }, (_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return df.select(pl.all().gather(idx));
}

const SEEDS = [1, 2];

describe('the bar kernel equals the Polars plan of the same definition', () => {
  for (const seed of SEEDS) {
    for (const anchor of ['calendar', 'ticker', 'latest'] as const) {
      it(`seed ${seed}, ${anchor} anchor, with nulls and gaps, every interval`, async () => {
        const daily = market(seed);
        for (const days of [1, 2, 3, 5, 8, 34]) {
          const ours = resample(daily, { days, anchor });
          const plan = await resampleLazy(daily, { days, anchor }).collect();
          expect(ours.height).toBeGreaterThan(0);
          expect(frameDifference(ours, plan)).toBeNull();
        }
      });
    }
    it(`seed ${seed}: split-adjusted bars and an asOf, calendar and latest`, async () => {
      const daily = market(seed);
      const splits = splitsFor(seed);
      for (const anchor of ['calendar', 'latest'] as const) {
        for (const days of [3, 13]) {
          const opts = { days, anchor, splits, asOf: '2024-02-15' };
          expect(frameDifference(resample(daily, opts), await resampleLazy(daily, opts).collect())).toBeNull();
        }
      }
    });
  }

  it('sorts an unsorted frame itself: the bars equal those of the sorted frame', () => {
    const daily = market(4);
    const mixed = shuffled(daily, 4);
    for (const anchor of ['calendar', 'ticker'] as const) {
      expect(frameDifference(resample(mixed, { days: 5, anchor }), resample(daily, { days: 5, anchor }))).toBeNull();
    }
    const many = resampleMany(mixed, { intervals: [3, 21] });
    return many.then((m) => expect(frameDifference(m.get(21), resample(daily, { days: 21 }))).toBeNull());
  });

  it('refuses duplicate (ticker, date) rows, rows without a ticker, and non-sessions outside the ticker anchor', () => {
    const daily = market(5, 3);
    const dup = pl.concat([daily, daily.slice(10, 1)]);
    expect(() => resample(dup, { days: 3 })).toThrow(ConfigError);
    expect(() => resample(dup, { days: 3 })).toThrow(/more than one row for T00 on 20\d\d-\d\d-\d\d/);
    const noTicker = daily.withColumns(pl.when(pl.col('date').eq(pl.col('date').max())).then(pl.lit(null)).otherwise(pl.col('ticker')).alias('ticker'));
    expect(() => resample(noTicker, { days: 3 })).toThrow(/row without a ticker/);
    const saturday = pl.concat([
      daily,
      daily.slice(0, 1).withColumns(pl.lit(isoToEpochDay('2024-03-30')).cast(pl.Date).alias('date'), pl.lit('ZZZ').alias('ticker')),
    ]);
    expect(() => resample(saturday, { days: 3 })).toThrow(/2024-03-30 is not an NYSE session/);
    expect(resample(saturday, { days: 3, anchor: 'ticker' }).filter(pl.col('ticker').eq(pl.lit('ZZZ'))).height).toBe(1);
  });

  it('builds only the kept buckets, as a range or a list', () => {
    const daily = market(6);
    const rows = prepareRows(daily, { sorted: true }).collectSync();
    const arrays = dailyArrays(rows);
    const all = kernelBars(rows, arrays, 5, 'calendar', undefined);
    const buckets = [...new Set(all.getColumn('bucket').toArray() as number[])].sort((a, b) => a - b);
    const lo = buckets[3]!;
    const hi = buckets[7]!;
    const inRange = all.filter(pl.col('bucket').gtEq(lo).and(pl.col('bucket').ltEq(hi)));
    expect(frameDifference(kernelBars(rows, arrays, 5, 'calendar', undefined, { lo, hi }), inRange)).toBeNull();
    const list = [buckets[1]!, buckets[4]!, buckets.at(-1)!];
    const inList = all.filter(pl.col('bucket').isIn(list));
    expect(frameDifference(kernelBars(rows, arrays, 5, 'calendar', undefined, list), inList)).toBeNull();
    expect(kernelBars(rows, arrays, 5, 'calendar', undefined, []).height).toBe(0);
  });
});

describe('lakeArrays: month files in date order, reordered by ticker in JS', () => {
  /** The rows as a scan of date-ordered files yields them: each ticker's rows in date order, tickers interleaved. */
  function asScanned(daily: DataFrame, seed: number): DataFrame {
    return shuffled(daily, seed).sort('date');
  }

  it('gives the bars of the sorted, end-date-tagged rows, split factors looked up in JS', async () => {
    for (const seed of SEEDS) {
      const daily = market(seed);
      const splits = splitsFor(seed);
      const asOf = '2024-03-15';
      const scanned = asScanned(daily, seed);
      const ours = await lakeArrays(scanned, isoToEpochDay(asOf), splitFactorTable(splits));
      expect(ours).not.toBeNull();
      const ref = prepareRows(daily, { splits, asOf, basis: 'end-date' }).collectSync();
      const refArrays = dailyArrays(ref);
      expect(ours!.n).toBe(ref.height);
      expect(Array.from(ours!.date)).toEqual(Array.from(refArrays.date));
      expect(ours!.factor).not.toBeNull();
      expect(Array.from(ours!.factor!)).toEqual(Array.from(refArrays.factor!));
      const asOfIdx = nyse.sessionIndex(asOf);
      for (const days of [3, 21]) {
        expect(frameDifference(kernelBars(scanned, ours!, days, 'calendar', asOfIdx), kernelBars(ref, refArrays, days, 'calendar', asOfIdx))).toBeNull();
      }
    }
  });

  it('returns null when a ticker\'s rows are not in date order, so the caller sorts', async () => {
    const daily = market(7, 3);
    expect(await lakeArrays(shuffled(daily, 7), isoToEpochDay('2024-03-28'), null)).toBeNull();
  });
});
