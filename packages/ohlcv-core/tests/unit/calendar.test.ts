import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_INTERVALS,
  SESSION_READY_MINUTES,
  bucketBounds,
  bucketOf,
  isSession,
  latestClosedSession,
  latestSessionOnOrBefore,
  newYorkClock,
  nextSession,
  nyse,
  previousSession,
  sessionAt,
  sessionIndex,
  sessionsBetween,
} from '../../src/calendar.js';
import { readGzipText, requireSharedData, SP500_FILE } from '@fibbars/testing';

function sessionsInYear(year: number): number {
  return nyse.sessionsBetween(`${year}-01-01`, `${year}-12-31`).length;
}

describe('nyse calendar', () => {
  // Published NYSE session counts (cross-checked with pandas_market_calendars'
  // XNYS calendar and the NYSE holiday notices of each year).
  it.each([
    [2013, 252],
    [2014, 252],
    [2015, 252],
    [2016, 252],
    [2017, 251],
    [2018, 251],
    [2019, 252],
    [2020, 253],
    [2021, 252],
    [2022, 251],
    [2023, 250],
    [2024, 252],
    [2001, 248],
    [2012, 250],
  ])('counts the sessions of %i as %i', (year, count) => {
    expect(sessionsInYear(year)).toBe(count);
  });

  it.each([
    '1994-04-27',
    '2001-09-11',
    '2001-09-12',
    '2001-09-13',
    '2001-09-14',
    '2004-06-11',
    '2007-01-02',
    '2012-10-29',
    '2012-10-30',
    '2018-12-05',
    '2025-01-09',
  ])('is closed on the unscheduled closure %s', (date) => {
    expect(isSession(date)).toBe(false);
    expect(() => sessionIndex(date)).toThrow(/not an NYSE session/);
  });

  it('reopens after the closures', () => {
    expect(nextSession('2001-09-10')).toBe('2001-09-17');
    expect(nextSession('2012-10-26')).toBe('2012-10-31');
    expect(previousSession('2025-01-10')).toBe('2025-01-08');
  });

  it('does not observe New Year on a Saturday but moves a Sunday one to Monday', () => {
    expect(isSession('2021-12-31')).toBe(true); // 2022-01-01 is a Saturday
    expect(isSession('2010-12-31')).toBe(true);
    expect(isSession('2017-01-02')).toBe(false); // 2017-01-01 is a Sunday
    expect(isSession('2023-01-02')).toBe(false);
  });

  it('closes for Juneteenth only from 2022, with weekend observance', () => {
    expect(isSession('2020-06-19')).toBe(true);
    expect(isSession('2021-06-18')).toBe(true); // Juneteenth 2021 fell on a Saturday, before the rule
    expect(isSession('2022-06-20')).toBe(false); // Sunday -> Monday
    expect(isSession('2023-06-19')).toBe(false);
    expect(isSession('2027-06-18')).toBe(false); // Saturday -> Friday
  });

  it('applies MLK Day from 1998 only', () => {
    expect(isSession('1997-01-20')).toBe(true);
    expect(isSession('1998-01-19')).toBe(false);
  });

  it.each([
    ['1990-04-13', 'Good Friday'],
    ['2008-03-21', 'Good Friday'],
    ['2024-03-29', 'Good Friday'],
    ['2024-05-27', 'Memorial Day'],
    ['2024-09-02', 'Labor Day'],
    ['2024-11-28', 'Thanksgiving'],
    ['2024-02-19', "Washington's Birthday"],
    ['2020-07-03', 'Independence Day on a Saturday'],
    ['2021-07-05', 'Independence Day on a Sunday'],
    ['2021-12-24', 'Christmas on a Saturday'],
    ['2022-12-26', 'Christmas on a Sunday'],
  ])('is closed on %s (%s)', (date) => {
    expect(isSession(date)).toBe(false);
  });

  it('is open on the ordinary weekdays around holidays', () => {
    expect(isSession('2024-12-24')).toBe(true);
    expect(isSession('2024-11-29')).toBe(true);
    expect(isSession('2024-07-03')).toBe(true);
    expect(isSession('2024-07-06')).toBe(false); // Saturday
  });

  it('numbers sessions from 1990-01-02 and inverts with sessionAt', () => {
    expect(sessionIndex('1990-01-02')).toBe(0);
    expect(sessionAt(0)).toBe('1990-01-02');
    expect(sessionIndex('1990-01-03')).toBe(1);
    const i = sessionIndex('2017-12-29');
    expect(sessionAt(i)).toBe('2017-12-29');
    expect(sessionIndex('2018-01-02')).toBe(i + 1);
    expect(nyse.sessions[i]).toBe('2017-12-29');
    expect(nyse.sessionEpochDays[i]).toBe(Date.UTC(2017, 11, 29) / 86_400_000);
  });

  it('spells every session as its epoch day in ISO (the start-up table matches Date)', () => {
    expect(nyse.sessions).toHaveLength(nyse.sessionEpochDays.length);
    const wrong = nyse.sessions.filter((iso, i) => iso !== new Date(nyse.sessionEpochDays[i]! * 86_400_000).toISOString().slice(0, 10));
    expect(wrong).toEqual([]);
    expect(nyse.sessions.slice(0, 2)).toEqual(['1990-01-02', '1990-01-03']);
  });

  it('gives inclusive ranges and moves across non-sessions', () => {
    expect(sessionsBetween('2021-12-30', '2022-01-04')).toEqual(['2021-12-30', '2021-12-31', '2022-01-03', '2022-01-04']);
    expect(sessionsBetween('2024-07-06', '2024-07-07')).toEqual([]);
    expect(sessionsBetween('2024-07-08', '2024-07-05')).toEqual([]);
    expect(sessionsBetween('1990-01-01', '1990-01-03')).toEqual(['1990-01-02', '1990-01-03']);
    expect(latestSessionOnOrBefore('2024-07-07')).toBe('2024-07-05');
    expect(latestSessionOnOrBefore('2024-07-05')).toBe('2024-07-05');
    expect(nextSession('2024-07-05')).toBe('2024-07-08');
    expect(previousSession('2024-07-08')).toBe('2024-07-05');
    expect(() => previousSession('1990-01-02')).toThrow(/no NYSE session before/);
    expect(() => latestSessionOnOrBefore('1990-01-01')).toThrow(/no NYSE session on or before/);
  });

  it('holds only weekdays, and closes 7 to 10 weekdays a year outside the unscheduled closures', () => {
    const weekend = nyse.sessions.filter((d) => [0, 6].includes(new Date(`${d}T00:00:00Z`).getUTCDay()));
    expect(weekend).toEqual([]);
    const extra: Record<number, number> = { 1994: 1, 2001: 4, 2004: 1, 2007: 1, 2012: 2, 2018: 1, 2025: 1 };
    const offYears: number[] = [];
    for (let y = 1990; y <= 2100; y++) {
      let weekdays = 0;
      for (let t = Date.UTC(y, 0, 1); t <= Date.UTC(y, 11, 31); t += 86_400_000) {
        const wd = new Date(t).getUTCDay();
        if (wd !== 0 && wd !== 6) weekdays++;
      }
      const closed = weekdays - sessionsInYear(y) - (extra[y] ?? 0);
      if (closed < 7 || closed > 10) offYears.push(y);
    }
    expect(offYears).toEqual([]);
    expect(nyse.sessions.at(-1)).toBe('2100-12-31');
  });

  it('aligns calendar buckets on session indices', () => {
    expect(bucketOf('1990-01-02', 3)).toBe(0);
    expect(bucketOf('1990-01-05', 3)).toBe(1);
    expect(bucketBounds(0, 3)).toEqual({ first: '1990-01-02', last: '1990-01-04' });
    const d = '2024-07-05';
    const b = bucketOf(d, 5);
    const { first, last } = bucketBounds(b, 5);
    expect(first <= d && d <= last).toBe(true);
    expect(sessionsBetween(first, last)).toHaveLength(5);
    expect(bucketOf(first, 5)).toBe(b);
    expect(bucketOf(nextSession(last), 5)).toBe(b + 1);
  });

  it('rejects malformed and out-of-range input with a clear message', () => {
    expect(() => isSession('2024-7-5')).toThrow(/malformed date "2024-7-5"/);
    expect(() => isSession('2024-02-30')).toThrow(/invalid date "2024-02-30"/);
    expect(() => isSession('2023-02-29')).toThrow(/invalid date/);
    expect(() => isSession('2100-02-29')).toThrow(/invalid date/); // not a leap year
    expect(isSession('2000-02-29')).toBe(true); // a leap year, and a Tuesday
    expect(() => isSession('2024-04-31')).toThrow(/invalid date/);
    expect(() => isSession('2024-13-01')).toThrow(/invalid date/);
    expect(() => isSession('2024-01-00')).toThrow(/invalid date/);
    expect(() => isSession('1989-12-29')).toThrow(/outside the NYSE calendar range/);
    expect(() => isSession('2101-01-03')).toThrow(/outside the NYSE calendar range/);
    expect(() => sessionAt(-1)).toThrow(/session index -1/);
    expect(() => sessionAt(1.5)).toThrow(/session index 1.5/);
    expect(() => bucketOf('2024-07-05', 0)).toThrow(/positive integer/);
    expect(() => bucketOf('2024-07-06', 5)).toThrow(/not an NYSE session/);
  });
});

describe('the New York clock and the 16:30 cut-off', () => {
  it('gives the New York date, which lags UTC in the evening, in summer and in winter time', () => {
    expect(newYorkClock(new Date('2024-03-16T02:00:00Z'))).toEqual({ date: '2024-03-15', minutes: 22 * 60 });
    expect(newYorkClock(new Date('2026-12-02T03:00:00Z'))).toEqual({ date: '2026-12-01', minutes: 22 * 60 });
    expect(newYorkClock(new Date('2026-12-01T05:00:00Z'))).toEqual({ date: '2026-12-01', minutes: 0 });
    expect(SESSION_READY_MINUTES).toBe(16 * 60 + 30);
  });

  it.each([
    ['2024-03-15T20:29:59Z', '2024-03-14', 'Friday 16:29 ET: today is not ready'],
    ['2024-03-15T20:30:00Z', '2024-03-15', 'Friday 16:30 ET: today counts'],
    ['2024-03-16T15:00:00Z', '2024-03-15', 'Saturday: Friday'],
    ['2024-03-18T14:00:00Z', '2024-03-15', 'Monday morning: Friday'],
    ['2024-07-04T23:00:00Z', '2024-07-03', 'Independence Day evening: the day before'],
    ['2024-01-02T21:29:00Z', '2023-12-29', 'winter, 16:29 ET on the first session of the year'],
    ['2024-01-02T21:30:00Z', '2024-01-02', 'winter, 16:30 ET'],
    ['2026-11-26T22:00:00Z', '2026-11-25', 'Thanksgiving evening: the Wednesday'],
    ['2026-12-02T03:00:00Z', '2026-12-01', 'UTC is already on the next day, New York is not'],
  ])('latestClosedSession at %s is %s (%s)', (at, expected) => {
    expect(latestClosedSession(new Date(at))).toBe(expected);
  });
});

describe('DEFAULT_INTERVALS', () => {
  it('is the Fibonacci session counts, frozen', () => {
    expect([...DEFAULT_INTERVALS]).toEqual([3, 5, 8, 13, 21, 34]);
    expect(Object.isFrozen(DEFAULT_INTERVALS)).toBe(true);
  });
});

describe('nyse calendar against the shared S&P 500 sample', () => {
  it('has the 1,233 sessions of 2013-02-08..2017-12-29, exactly the dates in the data', () => {
    // A missing sample fails the test, naming the file (the calendar is checked against real data).
    const lines = readGzipText(requireSharedData(SP500_FILE)).split('\n');
    const dateCol = lines[0]!.split(',').indexOf('date');
    const dates = new Set<string>();
    for (let k = 1; k < lines.length; k++) {
      const line = lines[k]!;
      if (line) dates.add(line.split(',')[dateCol]!);
    }
    const sessions = sessionsBetween('2013-02-08', '2017-12-29');
    expect(sessions).toHaveLength(1233);
    expect([...dates].sort()).toEqual(sessions);
  });
});
