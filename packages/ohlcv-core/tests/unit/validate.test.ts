import { describe, expect, it } from '@jest/globals';
import {
  DataQualityError,
  QUARANTINE_SCHEMA,
  RAW_DAILY_SCHEMA,
  checkQuality,
  hasSchema,
  median,
  validateDaily,
} from '../../src/index.js';
import { bar, rawFrame, records } from './support/frames.js';

const D = '2024-06-04';

describe('validateDaily', () => {
  it('accepts valid rows and returns them sorted by (ticker, date) in the raw schema', () => {
    const { accepted, quarantined, counts } = validateDaily(rawFrame([bar('MSFT', D, 400), bar('AAPL', D, 190), bar('AAPL', '2024-06-03', 189)]));
    expect(hasSchema(accepted, RAW_DAILY_SCHEMA)).toBe(true);
    expect(hasSchema(quarantined, QUARANTINE_SCHEMA)).toBe(true);
    expect(records(accepted).map((r) => `${r['ticker']} ${r['date']}`)).toEqual(['AAPL 2024-06-03', 'AAPL 2024-06-04', 'MSFT 2024-06-04']);
    expect(quarantined.height).toBe(0);
    expect(counts.totals).toEqual({ received: 3, accepted: 3, collapsed: 0, quarantined: 0, superseded: 0 });
  });

  it.each([
    ['an all-zero row', { open: 0, high: 0, low: 0, close: 0, volume: 0 }, 'non-positive-price'],
    ['a missing open', { open: null }, 'missing-price'],
    ['a negative close', { close: -1 }, 'non-positive-price'],
    ['an infinite high', { high: Infinity }, 'non-finite-price'],
    ['a NaN low', { low: NaN }, 'non-finite-price'],
    ['a missing volume', { volume: null }, 'missing-volume'],
    ['a negative volume', { volume: -5 }, 'negative-volume'],
    ['an infinite volume', { volume: Infinity }, 'non-finite-volume'],
    ['open below low', { open: 5, low: 9, high: 12, close: 10 }, 'ohlc-inconsistent'],
    ['open above high', { open: 15, low: 9, high: 12, close: 10 }, 'ohlc-inconsistent'],
    ['close above high', { open: 10, low: 9, high: 12, close: 13 }, 'ohlc-inconsistent'],
    ['low above high', { open: 10, low: 11, high: 10.5, close: 10 }, 'ohlc-inconsistent'],
    ['a missing ticker', { ticker: null }, 'missing-ticker'],
  ])('quarantines %s with its reason', (_name, patch, reason) => {
    const row = { ...bar('BAD', D, 10), ...patch };
    const { accepted, quarantined, counts } = validateDaily(rawFrame([bar('OK', D, 10), row]));
    expect(records(accepted).map((r) => r['ticker'])).toEqual(['OK']);
    expect(records(quarantined)).toEqual([expect.objectContaining({ reason })]);
    expect(counts.sessions).toEqual([{ session: D, received: 2, accepted: 1, collapsed: 0, quarantined: 1, superseded: 0 }]);
  });

  it('accepts a zero-volume row with valid prices and a bar where open equals high and low', () => {
    const { accepted } = validateDaily(rawFrame([bar('Z', D, 10, 0), { ticker: 'F', date: D, open: 5, high: 5, low: 5, close: 5, volume: 1 }]));
    expect(accepted.height).toBe(2);
  });

  it('collapses identical duplicate rows to one and counts them as collapsed', () => {
    const { accepted, quarantined, counts } = validateDaily(rawFrame([bar('A', D, 10), bar('A', D, 10), bar('A', D, 10), bar('B', D, 20)]));
    expect(records(accepted).map((r) => r['ticker'])).toEqual(['A', 'B']);
    expect(quarantined.height).toBe(0);
    expect(counts.sessions[0]).toEqual({ session: D, received: 4, accepted: 2, collapsed: 2, quarantined: 0, superseded: 0 });
  });

  it('keeps the larger-volume row when a session holds two conflicting rows for one ticker', () => {
    const small = bar('A', D, 10, 500);
    const large = bar('A', D, 11, 900);
    const { accepted, quarantined, counts } = validateDaily(rawFrame([small, large]));
    expect(records(accepted)).toEqual([expect.objectContaining({ ticker: 'A', open: 11, volume: 900 })]);
    expect(records(quarantined)).toEqual([expect.objectContaining({ ticker: 'A', open: 10, volume: 500, reason: 'conflicting-duplicate' })]);
    expect(counts.totals).toMatchObject({ received: 2, accepted: 1, quarantined: 1 });
  });

  it('keeps the first of conflicting rows with the same volume', () => {
    const { accepted, quarantined } = validateDaily(rawFrame([bar('A', D, 12, 700), bar('A', D, 10, 700), bar('A', D, 11, 700)]));
    expect(records(accepted)).toEqual([expect.objectContaining({ open: 12 })]);
    expect(records(quarantined).map((r) => r['open'])).toEqual([10, 11]);
  });

  it('validates before deduplicating: an invalid larger-volume row does not beat a valid one', () => {
    const { accepted, quarantined } = validateDaily(rawFrame([bar('A', D, 10, 500), { ...bar('A', D, 10, 9000), open: 0 }]));
    expect(records(accepted)).toEqual([expect.objectContaining({ volume: 500 })]);
    expect(records(quarantined)).toEqual([expect.objectContaining({ reason: 'non-positive-price' })]);
  });

  it('keeps the latest fetch of a session whole and drops older fetches entirely', () => {
    const early = { fetched_at: '2024-06-04T21:00:00Z', fetch_id: '20240604T210000000Z-aaaaaaaa' };
    const late = { fetched_at: '2024-06-05T09:00:00Z', fetch_id: '20240605T090000000Z-bbbbbbbb' };
    const other = { fetched_at: '2024-06-03T21:00:00Z', fetch_id: '20240603T210000000Z-cccccccc' };
    const raw = rawFrame([
      bar('A', D, 10, 100, early),
      bar('B', D, 20, 100, early), // B is absent from the latest fetch: it must not survive
      bar('A', D, 11, 50, late), // smaller volume, but the latest fetch wins whole
      bar('C', D, 30, 100, late),
      bar('A', '2024-06-03', 9, 100, other),
    ]);
    const { accepted, quarantined, counts } = validateDaily(raw);
    expect(records(accepted).map((r) => [r['ticker'], r['date'], r['open']])).toEqual([
      ['A', '2024-06-03', 9],
      ['A', D, 11],
      ['C', D, 30],
    ]);
    expect(quarantined.height).toBe(0);
    expect(counts.sessions).toEqual([
      { session: '2024-06-03', received: 1, accepted: 1, collapsed: 0, quarantined: 0, superseded: 0 },
      { session: D, received: 2, accepted: 2, collapsed: 0, quarantined: 0, superseded: 2 },
    ]);
  });

  it('breaks a fetched_at tie by the greater fetch id', () => {
    const t = '2024-06-04T21:00:00Z';
    const { accepted } = validateDaily(rawFrame([bar('A', D, 10, 100, { fetched_at: t, fetch_id: 'x-2' }), bar('A', D, 12, 100, { fetched_at: t, fetch_id: 'x-1' })]));
    expect(records(accepted)).toEqual([expect.objectContaining({ open: 10 })]);
  });

  it('accepts a minimal frame without vwap, transactions or fetch columns', () => {
    const raw = rawFrame([bar('A', D, 10)]).select('ticker', 'date', 'open', 'high', 'low', 'close', 'volume');
    const { accepted } = validateDaily(raw);
    expect(records(accepted)).toEqual([expect.objectContaining({ ticker: 'A', vwap: null, transactions: null })]);
  });

  it('names the missing columns of an unusable frame', () => {
    expect(() => validateDaily(rawFrame([bar('A', D, 10)]).select('ticker', 'date'))).toThrow(/missing column\(s\) open, high, low, close, volume/);
  });
});

describe('checkQuality', () => {
  const counts = (received: number, quarantined: number, session = D) => ({
    sessions: [{ session, received, accepted: received - quarantined, collapsed: 0, quarantined, superseded: 0 }],
    totals: { received, accepted: received - quarantined, collapsed: 0, quarantined, superseded: 0 },
  });

  it('passes a session at or under the rejected-share threshold', () => {
    expect(() => checkQuality(counts(1000, 10))).not.toThrow();
    expect(() => checkQuality(counts(1000, 50), { maxRejectedShare: 0.05 })).not.toThrow();
  });

  it('fails a session over the threshold, naming the session, share and threshold', () => {
    expect(() => checkQuality(counts(1000, 11))).toThrow(DataQualityError);
    expect(() => checkQuality(counts(1000, 11))).toThrow('session 2024-06-04: rejected share 1.10% (11 of 1000 rows) exceeds the threshold 1.00%');
  });

  it('fails a session whose row count is below half the trailing median', () => {
    expect(() => checkQuality(counts(499, 0), { trailingMedianRows: 1000 })).toThrow(/499 accepted rows is below half the trailing median of 1000/);
    expect(() => checkQuality(counts(500, 0), { trailingMedianRows: 1000 })).not.toThrow();
  });

  it('gates the real counts of validateDaily', () => {
    const rows = [bar('A', D, 10), { ...bar('B', D, 10), open: 0 }];
    expect(() => checkQuality(validateDaily(rawFrame(rows)).counts)).toThrow(/rejected share 50.00%/);
  });

  it('computes the median for the trailing window', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });
});
