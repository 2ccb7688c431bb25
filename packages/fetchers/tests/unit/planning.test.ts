import { describe, expect, it } from '@jest/globals';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { latestFetchableSession, parseEvent, sessionsToFetch } from '../../src/fetch.js';
import { newYorkClock, newYorkCloseMs } from '../../src/time.js';

describe('newYorkCloseMs', () => {
  it('is 16:00 in New York: 20:00 UTC in summer time, 21:00 UTC in winter', () => {
    expect(new Date(newYorkCloseMs('2024-03-15')).toISOString()).toBe('2024-03-15T20:00:00.000Z');
    expect(new Date(newYorkCloseMs('2024-01-02')).toISOString()).toBe('2024-01-02T21:00:00.000Z');
    // the Monday after the spring-forward weekend, and the one after fall-back
    expect(new Date(newYorkCloseMs('2024-03-11')).toISOString()).toBe('2024-03-11T20:00:00.000Z');
    expect(new Date(newYorkCloseMs('2024-11-04')).toISOString()).toBe('2024-11-04T21:00:00.000Z');
  });
});

describe('newYorkClock', () => {
  it('gives the New York date, which lags UTC in the evening', () => {
    expect(newYorkClock(new Date('2024-03-16T02:00:00Z'))).toEqual({ date: '2024-03-15', minutes: 22 * 60 });
  });
});

describe('latestFetchableSession', () => {
  it.each([
    ['2024-03-15T20:29:59Z', '2024-03-14', 'Friday 16:29 ET: today is not ready'],
    ['2024-03-15T20:30:00Z', '2024-03-15', 'Friday 16:30 ET: today counts'],
    ['2024-03-16T15:00:00Z', '2024-03-15', 'Saturday: Friday'],
    ['2024-03-18T14:00:00Z', '2024-03-15', 'Monday morning: Friday'],
    ['2024-07-04T23:00:00Z', '2024-07-03', 'Independence Day evening: the day before'],
    ['2024-01-02T21:29:00Z', '2023-12-29', 'winter, 16:29 ET on the first session of the year'],
    ['2024-01-02T21:30:00Z', '2024-01-02', 'winter, 16:30 ET'],
  ])('at %s is %s (%s)', (at, expected) => {
    expect(latestFetchableSession(new Date(at))).toBe(expected);
  });
});

describe('sessionsToFetch', () => {
  it('takes just the latest session on an empty raw zone', () => {
    expect(sessionsToFetch([], '2024-03-15', 5)).toEqual(['2024-03-15']);
  });

  it('takes the sessions after the last fetched one, oldest first, up to the cap', () => {
    const fetched = nyse.sessionsBetween('2024-02-01', '2024-03-05');
    const expected = nyse.sessionsBetween('2024-03-06', '2024-03-11');
    expect(sessionsToFetch(fetched, '2024-03-15', 4)).toEqual(expected);
  });

  it('takes a session that failed while a later one succeeded: the holes of the lookback window come first', () => {
    // 2024-03-12 failed, 2024-03-13 succeeded: a "last fetched" watermark would never look back.
    const fetched = nyse.sessionsBetween('2024-02-01', '2024-03-15').filter((d) => d !== '2024-03-12' && d !== '2024-02-27');
    expect(sessionsToFetch(fetched, '2024-03-15', 5)).toEqual(['2024-02-27', '2024-03-12']);
    expect(sessionsToFetch(fetched, '2024-03-15', 1)).toEqual(['2024-02-27']);
  });

  it('looks back exactly the lookback window, and never before the first fetched session', () => {
    const fetched = nyse.sessionsBetween('2024-01-02', '2024-03-15').filter((d) => d !== '2024-03-01' && d !== '2024-03-13');
    // A window of 3 sessions (03-13, 03-14, 03-15) sees only the newer hole; one of 11 sees both.
    expect(sessionsToFetch(fetched, '2024-03-15', 5, 3)).toEqual(['2024-03-13']);
    expect(sessionsToFetch(fetched, '2024-03-15', 5, 11)).toEqual(['2024-03-01', '2024-03-13']);
    expect(nyse.sessionsBetween('2024-03-01', '2024-03-15')).toHaveLength(11);
    // A raw zone that starts on 2024-03-14 has no hole before it, whatever the window.
    expect(sessionsToFetch(['2024-03-14'], '2024-03-15', 5, 20)).toEqual(['2024-03-15']);
  });

  it('still catches up every session after a long outage, beyond the window, oldest first', () => {
    expect(sessionsToFetch(['2023-12-01'], '2024-03-15', 3, 5)).toEqual(['2023-12-04', '2023-12-05', '2023-12-06']);
  });

  it('takes nothing when the latest session is already fetched', () => {
    expect(sessionsToFetch(['2024-03-15'], '2024-03-15', 5)).toEqual([]);
  });
});

describe('parseEvent', () => {
  it('ignores fields it does not know (Step Functions may add some) and treats null as absent', () => {
    expect(parseEvent({ date: '2024-03-15', lake: null, execution: 'arn:...' })).toEqual({ date: '2024-03-15' });
    expect(parseEvent(undefined)).toEqual({});
    expect(parseEvent(null)).toEqual({});
  });
});
