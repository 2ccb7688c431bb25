import { describe, expect, it } from '@jest/globals';
import { runInNewContext } from 'node:vm';
import pl from 'nodejs-polars';
import { checkIsoDate, dateToIso, epochDayToIso, isIsoDate, isoToEpochDay, recordDateToIso, toEpochMs } from '../../src/dates.js';

describe('dates', () => {
  it('converts ISO dates to epoch days and back', () => {
    expect(isoToEpochDay('1970-01-02')).toBe(1);
    expect(epochDayToIso(19_000)).toBe('2022-01-08');
    expect(epochDayToIso(isoToEpochDay('2024-02-29'))).toBe('2024-02-29');
    expect(dateToIso(new Date(Date.UTC(2024, 5, 4)))).toBe('2024-06-04');
  });

  it('rejects malformed and impossible dates and instants with the input in the message', () => {
    expect(() => isoToEpochDay('2024-6-4')).toThrow(/malformed date "2024-6-4"/);
    expect(() => isoToEpochDay('2023-02-29')).toThrow(/invalid date "2023-02-29"/);
    expect(toEpochMs('1970-01-01T00:00:01Z')).toBe(1000);
    expect(() => toEpochMs('yesterday', 'fetchedAt')).toThrow(/invalid fetchedAt "yesterday"/);
  });
});

describe('isIsoDate and checkIsoDate', () => {
  it('accept exactly the YYYY-MM-DD strings that name a day that exists', () => {
    for (const ok of ['2024-02-29', '2000-02-29', '1990-01-01', '2026-12-31', '0050-06-01']) expect(isIsoDate(ok)).toBe(true);
    for (const bad of ['2023-02-29', '2100-02-29', '2024-13-01', '2024-04-31', '2024-01-00', '2024-6-4', '2024/06/04', ' 2024-06-04', '2024-06-04T00:00:00Z', '', 'yesterday']) {
      expect(isIsoDate(bad)).toBe(false);
    }
    for (const notString of [20240604, null, undefined, new Date(0), ['2024-06-04']]) expect(isIsoDate(notString)).toBe(false);
  });

  it('checkIsoDate returns the date, or throws a one-line ConfigError naming the value', () => {
    expect(checkIsoDate('2024-06-03')).toBe('2024-06-03');
    expect(() => checkIsoDate('2024-02-30')).toThrow(expect.objectContaining({ name: 'ConfigError', message: 'date "2024-02-30" is not a calendar date YYYY-MM-DD' }));
    expect(() => checkIsoDate('yesterday', 'event.date')).toThrow('event.date "yesterday" is not a calendar date YYYY-MM-DD');
    expect(() => checkIsoDate(20240604, '--date')).toThrow('--date 20240604 is not a calendar date YYYY-MM-DD');
    expect(() => checkIsoDate(undefined)).toThrow('date undefined is not a calendar date YYYY-MM-DD');
    expect(() => checkIsoDate(10n)).toThrow('date 10 is not a calendar date YYYY-MM-DD');
  });
});

describe('recordDateToIso', () => {
  it('reads a Polars Date record value as its ISO day, from this realm or another, and nothing else', () => {
    const frame = pl.DataFrame({ d: [19000, null] }).withColumns(pl.col('d').cast(pl.Int32).cast(pl.Date));
    const [first, second] = frame.toRecords().map((r) => r['d']);
    expect(recordDateToIso(first)).toBe(epochDayToIso(19000));
    expect(recordDateToIso(second)).toBeNull();
    expect(recordDateToIso(runInNewContext('new Date(Date.UTC(2024, 5, 4))'))).toBe('2024-06-04');
    expect(recordDateToIso('2024-06-04')).toBeNull();
    expect(recordDateToIso(19000)).toBeNull();
  });
});
