import { describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import { DataQualityError, SILVER_DAILY_SCHEMA, consolidate, hasSchema } from '../../src/index.js';
import { bar, rawFrame, records } from './support/frames.js';

const F1 = { fetched_at: '2024-06-03T21:00:00Z', fetch_id: '20240603T210000000Z-00000001' };
const F2 = { fetched_at: '2024-06-04T21:00:00Z', fetch_id: '20240604T210000000Z-00000002' };
const F3 = { fetched_at: '2024-06-05T08:00:00Z', fetch_id: '20240605T080000000Z-00000003' };

const day1 = [bar('MSFT', '2024-06-03', 400, 10, F1), bar('AAPL', '2024-06-03', 190, 20, F1), bar('OLD', '2024-06-03', 5, 30, F1)];
// OLD delists after 2024-06-03; NEW lists on 2024-06-04.
const day2 = [bar('AAPL', '2024-06-04', 191, 21, F2), bar('NEW', '2024-06-04', 50, 40, F2), bar('MSFT', '2024-06-04', 401, 11, F2)];

function keys(rows: Record<string, unknown>[]): string[] {
  return rows.map((r) => `${r['ticker']} ${r['date']}`);
}

describe('consolidate', () => {
  it('builds a sorted, unique silver daily history from raw sessions', () => {
    const { daily, report } = consolidate(null, rawFrame([...day1, ...day2]));
    expect(hasSchema(daily, SILVER_DAILY_SCHEMA)).toBe(true);
    expect(keys(records(daily))).toEqual([
      'AAPL 2024-06-03',
      'AAPL 2024-06-04',
      'MSFT 2024-06-03',
      'MSFT 2024-06-04',
      'NEW 2024-06-04',
      'OLD 2024-06-03',
    ]);
    expect(report).toMatchObject({ sessions: ['2024-06-03', '2024-06-04'], changedSessions: ['2024-06-03', '2024-06-04'], changedYears: [2024], rowsBefore: 0, rowsAfter: 6 });
  });

  it('appends a new session to an existing history and keeps tickers that list or delist mid-range', () => {
    const first = consolidate(null, rawFrame(day1)).daily;
    const { daily, report } = consolidate(first, rawFrame(day2));
    expect(keys(records(daily))).toEqual(keys(records(consolidate(null, rawFrame([...day1, ...day2])).daily)));
    expect(report).toMatchObject({ sessions: ['2024-06-04'], changedSessions: ['2024-06-04'], rowsBefore: 3, rowsAfter: 6 });
  });

  it('changes nothing when the same raw is consolidated twice', () => {
    const raw = rawFrame([...day1, ...day2]);
    const once = consolidate(null, raw).daily;
    const { daily, report } = consolidate(once, raw);
    expect(daily.frameEqual(once, true)).toBe(true);
    expect(report.changedSessions).toEqual([]);
    expect(report.changedYears).toEqual([]);
  });

  it('replaces only the refetched session, whole, with the latest fetch', () => {
    const history = consolidate(null, rawFrame([...day1, ...day2])).daily;
    // The refetch of 2024-06-04 corrects AAPL and no longer lists NEW.
    const refetch = [bar('AAPL', '2024-06-04', 192, 22, F3), bar('MSFT', '2024-06-04', 401, 11, F3)];
    const { daily, report } = consolidate(history, rawFrame([...day2, ...refetch]));
    const rows = records(daily);
    expect(keys(rows)).toEqual(['AAPL 2024-06-03', 'AAPL 2024-06-04', 'MSFT 2024-06-03', 'MSFT 2024-06-04', 'OLD 2024-06-03']);
    expect(rows[1]).toMatchObject({ open: 192, volume: 22 });
    expect(records(history).filter((r) => r['date'] === '2024-06-03')).toEqual(rows.filter((r) => r['date'] === '2024-06-03'));
    expect(report).toMatchObject({ sessions: ['2024-06-04'], changedSessions: ['2024-06-04'] });
    expect(report.counts.sessions[0]).toMatchObject({ received: 2, accepted: 2, superseded: 3 });
  });

  it('quarantines bad rows and resolves conflicting duplicates before merging', () => {
    const rows = [
      ...Array.from({ length: 200 }, (_, i) => bar(`T${String(i).padStart(3, '0')}`, '2024-06-03', 10 + i, 100)),
      { ...bar('ZERO', '2024-06-03', 1), open: 0, high: 0, low: 0, close: 0, volume: 0 },
      bar('T000', '2024-06-03', 99, 50),
    ];
    const { daily, quarantined, report } = consolidate(null, rawFrame(rows));
    expect(daily.height).toBe(200);
    expect(records(quarantined).map((r) => [r['ticker'], r['reason']])).toEqual([
      ['ZERO', 'non-positive-price'],
      ['T000', 'conflicting-duplicate'],
    ]);
    expect(report.counts.totals).toMatchObject({ received: 202, accepted: 200, quarantined: 2 });
  });

  it('fails with DataQualityError when a session rejects too many rows, unless the gate is skipped', () => {
    const raw = rawFrame([bar('A', '2024-06-03', 10), { ...bar('B', '2024-06-03', 10), volume: -1 }]);
    expect(() => consolidate(null, raw)).toThrow(DataQualityError);
    expect(consolidate(null, raw, { skipQualityGate: true }).daily.height).toBe(1);
    expect(consolidate(null, raw, { maxRejectedShare: 0.5 }).daily.height).toBe(1);
  });

  it('accepts an existing history without vwap and transactions', () => {
    const existing = consolidate(null, rawFrame(day1)).daily.select('ticker', 'date', 'open', 'high', 'low', 'close', 'volume');
    const { daily } = consolidate(existing, rawFrame(day2));
    expect(hasSchema(daily, SILVER_DAILY_SCHEMA)).toBe(true);
    expect(daily.height).toBe(6);
  });

  it('keeps one row per (ticker, date), the first, when the existing history repeats a key', () => {
    const history = consolidate(null, rawFrame(day1)).daily;
    // The MSFT row twice, the second copy with another close: a history no lake job writes.
    const msft = history.filter(pl.col('ticker').eq(pl.lit('MSFT')));
    const existing = pl.concat([history, msft.withColumns(pl.lit(999).alias('close'))]);
    const { daily } = consolidate(existing, rawFrame(day2));
    expect(keys(records(daily))).toEqual(keys(records(consolidate(null, rawFrame([...day1, ...day2])).daily)));
    const closeOn = (frame: typeof daily) => records(frame.filter(pl.col('ticker').eq(pl.lit('MSFT')).and(pl.col('date').eq(pl.col('date').min()))))[0]?.['close'];
    expect(closeOn(daily)).toBe(closeOn(history));
    expect(closeOn(daily)).not.toBe(999);
  });
});
