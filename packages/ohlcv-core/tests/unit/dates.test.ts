import { describe, expect, it } from '@jest/globals';
import { runInNewContext } from 'node:vm';
import pl from 'nodejs-polars';
import { dateToIso, epochDayToIso, isoToEpochDay, recordDateToIso, toEpochMs } from '../../src/dates.js';

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
