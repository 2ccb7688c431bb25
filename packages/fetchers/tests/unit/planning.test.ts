import { describe, expect, it } from '@jest/globals';
import { latestClosedSession, nyse } from '@fibbars/ohlcv-core/calendar';
import { latestFetchableSession, parseEvent, sessionsToFetch } from '../../src/fetch.js';
import { newYorkCloseMs } from '../../src/time.js';

describe('newYorkCloseMs', () => {
  it('is 16:00 in New York: 20:00 UTC in summer time, 21:00 UTC in winter', () => {
    expect(new Date(newYorkCloseMs('2024-03-15')).toISOString()).toBe('2024-03-15T20:00:00.000Z');
    expect(new Date(newYorkCloseMs('2024-01-02')).toISOString()).toBe('2024-01-02T21:00:00.000Z');
    // the Monday after the spring-forward weekend, and the one after fall-back
    expect(new Date(newYorkCloseMs('2024-03-11')).toISOString()).toBe('2024-03-11T20:00:00.000Z');
    expect(new Date(newYorkCloseMs('2024-11-04')).toISOString()).toBe('2024-11-04T21:00:00.000Z');
  });
});

describe('latestFetchableSession', () => {
  // The 16:30 New York cut-off is ohlcv-core's (its calendar tests hold the cases).
  it('is the calendar\'s latest closed session', () => {
    expect(latestFetchableSession).toBe(latestClosedSession);
    expect(latestFetchableSession(new Date('2024-03-15T20:29:59Z'))).toBe('2024-03-14');
    expect(latestFetchableSession(new Date('2024-03-15T20:30:00Z'))).toBe('2024-03-15');
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
