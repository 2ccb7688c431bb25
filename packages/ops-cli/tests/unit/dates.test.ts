import { describe, expect, it } from '@jest/globals';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { defaultSession, parseIsoDate, parseSession, sessionsBefore } from '../../src/dates.js';

// Today is 2026-12-01 (a Tuesday) at 10:00 in New York: the session of today has not closed.
const NOW = new Date('2026-12-01T15:00:00Z');

describe('dates', () => {
  it('accepts sessions and refuses holidays and weekends, naming the sessions around them', () => {
    expect(parseSession('--date', '2026-11-25', NOW)).toBe('2026-11-25');
    expect(() => parseSession('--date', '2026-07-03', NOW)).toThrow(
      `2026-07-03 is not an NYSE session (Friday, market closed): pass a session date, e.g. --date ${nyse.latestSessionOnOrBefore('2026-07-03')} or --date ${nyse.nextSession('2026-07-03')}`,
    );
    expect(() => parseIsoDate('--from', '2026-02-30', NOW)).toThrow('--from "2026-02-30" is not a date: use YYYY-MM-DD');
    expect(() => parseIsoDate('--from', '1989-12-29', NOW)).toThrow(/outside the NYSE calendar/);
  });

  it('refuses a future date with one line naming today in New York, whatever the machine clock says', () => {
    expect(() => parseSession('--date', '2027-01-04', NOW)).toThrow(
      '--date 2027-01-04 is in the future (today is 2026-12-01 in New York): pass --date 2026-11-30 or earlier',
    );
    expect(() => parseIsoDate('--to', '2026-12-02', NOW)).toThrow(/^--to 2026-12-02 is in the future \(today is 2026-12-01 in New York\)/);
    // A future weekend is refused as future, not as "not a session".
    expect(() => parseSession('--date', '2026-12-05', NOW)).toThrow(/in the future/);
    // Today is not future, but its session is not closed before 16:30 New York time ...
    expect(parseIsoDate('--to', '2026-12-01', NOW)).toBe('2026-12-01');
    expect(() => parseSession('--date', '2026-12-01', NOW)).toThrow(/has not closed yet .*: pass --date 2026-11-30$/);
    // ... and is from then on (21:30 UTC is 16:30 in New York in December).
    expect(parseSession('--date', '2026-12-01', new Date('2026-12-01T21:30:00Z'))).toBe('2026-12-01');
    // The same date is a fine past date for a clock a year later: the check follows the injected clock.
    expect(parseSession('--date', '2027-01-04', new Date('2028-01-01T12:00:00Z'))).toBe('2027-01-04');
    // UTC midnight has passed, New York's has not: 2026-12-02 is still the future.
    expect(() => parseIsoDate('--to', '2026-12-02', new Date('2026-12-02T03:00:00Z'))).toThrow(/in the future \(today is 2026-12-01 in New York\)/);
  });

  it('picks today once the close has settled, else the session before', () => {
    // 2026-11-25 is a Wednesday session; 16:30 New York is 21:30 UTC in November.
    expect(defaultSession(new Date('2026-11-25T21:29:00Z'))).toBe(nyse.previousSession('2026-11-25'));
    expect(defaultSession(new Date('2026-11-25T21:30:00Z'))).toBe('2026-11-25');
    // Thanksgiving and the weekend fall back to the last session.
    expect(defaultSession(new Date('2026-11-26T22:00:00Z'))).toBe('2026-11-25');
    expect(defaultSession(new Date('2026-11-29T12:00:00Z'))).toBe('2026-11-27');
  });

  it('lists the sessions before a session, oldest first', () => {
    const before = sessionsBefore('2026-11-25', 5);
    expect(before).toEqual(nyse.sessionsBetween(before[0]!, nyse.previousSession('2026-11-25')));
    expect(before).toHaveLength(5);
    expect(sessionsBefore('2026-11-25', 0)).toEqual([]);
  });
});
