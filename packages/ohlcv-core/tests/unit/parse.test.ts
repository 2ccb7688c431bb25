import { describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import {
  ConfigError,
  DataQualityError,
  RAW_DAILY_SCHEMA,
  SPLITS_SCHEMA,
  TICKERS_SCHEMA,
  hasSchema,
  parseGroupedDaily,
  parseSplits,
  parseTickers,
} from '../../src/index.js';

// Shapes as the vendor returns them (grouped daily aggs, reference tickers, reference splits).
const groupedPage = {
  adjusted: false,
  queryCount: 3,
  request_id: 'b1a2',
  resultsCount: 3,
  status: 'OK',
  results: [
    { T: 'AAPL', v: 51234567, vw: 190.1234, o: 189.3, c: 190.6, h: 191.1, l: 188.9, t: 1717531200000, n: 612345 },
    { T: 'BRK.B', v: 3000000.5, o: 400, c: 401, h: 402, l: 399, t: 1717531200000 },
    { T: 'ZZZ', v: 10, vw: 1, o: null, c: 1, h: 1, l: 1, t: 1 },
  ],
};

describe('parseGroupedDaily', () => {
  it('maps vendor fields to the raw schema and takes the date from the session, not t', () => {
    const df = parseGroupedDaily([groupedPage], '2024-06-04', '2024-06-04T22:00:00.000Z', 'F1');
    expect(hasSchema(df, RAW_DAILY_SCHEMA)).toBe(true);
    const rows = df.toRecords();
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({ ticker: 'AAPL', open: 189.3, high: 191.1, low: 188.9, close: 190.6, volume: 51234567, vwap: 190.1234, transactions: 612345, fetch_id: 'F1' });
    expect((rows[2]!['date'] as unknown as Date).toISOString().slice(0, 10)).toBe('2024-06-04');
    expect((rows[0]!['fetched_at'] as unknown as Date).toISOString()).toBe('2024-06-04T22:00:00.000Z');
  });

  it('keeps fractional volume and leaves missing vw and n null', () => {
    const rows = parseGroupedDaily([groupedPage], '2024-06-04', 0).toRecords();
    expect(rows[1]).toMatchObject({ ticker: 'BRK.B', volume: 3000000.5, vwap: null, transactions: null, fetch_id: null });
    expect(rows[2]!['open']).toBeNull();
  });

  it('concatenates pages given as body strings and accepts empty pages', () => {
    const df = parseGroupedDaily([JSON.stringify(groupedPage), { status: 'OK', resultsCount: 0 }], '2024-06-04', 0);
    expect(df.height).toBe(3);
    expect(parseGroupedDaily([], '2024-06-04', 0).height).toBe(0);
  });

  it('rejects a non-session, a malformed date and pages that are not vendor responses', () => {
    expect(() => parseGroupedDaily([], '2024-07-04', 0)).toThrow(ConfigError);
    expect(() => parseGroupedDaily([], '2024-07-04', 0)).toThrow(/not an NYSE session/);
    expect(() => parseGroupedDaily([], '2024/07/05', 0)).toThrow(/malformed date/);
    expect(() => parseGroupedDaily(['<html>'], '2024-06-04', 0)).toThrow(DataQualityError);
    expect(() => parseGroupedDaily([{ status: 'ERROR', error: 'x' }], '2024-06-04', 0)).toThrow(/status ERROR/);
    expect(() => parseGroupedDaily([{ status: 'OK', results: {} }], '2024-06-04', 0)).toThrow(/non-array/);
  });
});

describe('parseTickers', () => {
  it('parses active and delisted entries with the reference fields', () => {
    const page = {
      status: 'OK',
      count: 2,
      next_url: 'https://example.invalid/next',
      results: [
        { ticker: 'A', name: 'Agilent Technologies Inc.', market: 'stocks', locale: 'us', primary_exchange: 'XNYS', type: 'CS', active: true, currency_name: 'usd', cik: '0001090872', composite_figi: 'BBG000C2V3D6', share_class_figi: 'BBG001SCTQY4', last_updated_utc: '2024-06-04T00:00:00Z' },
        { ticker: 'TWTR', name: 'Twitter', market: 'stocks', locale: 'us', type: 'CS', active: false, delisted_utc: '2022-10-28T00:00:00Z', last_updated_utc: '2022-10-28T00:00:00Z' },
        { name: 'no ticker' },
      ],
    };
    const df = parseTickers([page]);
    expect(hasSchema(df, TICKERS_SCHEMA)).toBe(true);
    const rows = df.toRecords();
    expect(rows.map((r) => r['ticker'])).toEqual(['A', 'TWTR']);
    expect(rows[0]).toMatchObject({ active: true, primary_exchange: 'XNYS', delisted_utc: null });
    expect((rows[1]!['delisted_utc'] as unknown as Date).toISOString()).toBe('2022-10-28T00:00:00.000Z');
    expect(rows[1]!['primary_exchange']).toBeNull();
  });
});

describe('parseSplits', () => {
  it('parses forward and reverse splits, drops unusable entries and repeats', () => {
    const page = {
      status: 'OK',
      results: [
        { execution_date: '2020-08-31', id: 'E1', split_from: 1, split_to: 4, ticker: 'AAPL' },
        { execution_date: '2023-05-10', id: 'E2', split_from: 10, split_to: 1, ticker: 'XYZ' },
        { execution_date: '2020-08-31', id: 'E1', split_from: 1, split_to: 4, ticker: 'AAPL' },
        { execution_date: '2020-08-31', split_from: 0, split_to: 4, ticker: 'BAD' },
        { execution_date: 'soon', split_from: 1, split_to: 2, ticker: 'BAD' },
      ],
    };
    const df = parseSplits([page]);
    expect(hasSchema(df, SPLITS_SCHEMA)).toBe(true);
    expect(df.select(pl.col('ticker'), pl.col('execution_date').cast(pl.Utf8), 'split_from', 'split_to').toRecords()).toEqual([
      { ticker: 'AAPL', execution_date: '2020-08-31', split_from: 1, split_to: 4 },
      { ticker: 'XYZ', execution_date: '2023-05-10', split_from: 10, split_to: 1 },
    ]);
  });
});
