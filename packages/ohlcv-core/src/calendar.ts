// The NYSE trading calendar, exact from 1990-01-01 to 2100-12-31.
//
// This module has no imports on purpose: the Lambda bundles use it, and it
// must stay free of Polars and the AWS SDK. Dates are ISO `YYYY-MM-DD`
// strings in and out. The session table is built once at module load
// (about 28,000 sessions); every lookup after that is an array access.

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MS_PER_DAY = 86_400_000;

/** First and last calendar dates the table covers (inclusive). */
const FIRST_YEAR = 1990;
const LAST_YEAR = 2100;

/**
 * Closures outside the regular holiday rules (national days of mourning,
 * 9/11, Hurricane Sandy). Dates that fall on weekends are not listed.
 */
const UNSCHEDULED_CLOSURES: readonly string[] = [
  '1994-04-27', // President Nixon's funeral
  '2001-09-11', // September 11 attacks
  '2001-09-12',
  '2001-09-13',
  '2001-09-14',
  '2004-06-11', // President Reagan's funeral
  '2007-01-02', // President Ford's day of mourning
  '2012-10-29', // Hurricane Sandy
  '2012-10-30',
  '2018-12-05', // President G. H. W. Bush's day of mourning
  '2025-01-09', // President Carter's day of mourning
];

function epochDay(year: number, month: number, day: number): number {
  return Math.floor(Date.UTC(year, month - 1, day) / MS_PER_DAY);
}

/** Weekday of an epoch day: 0 = Sunday ... 6 = Saturday (1970-01-01 was a Thursday). */
function weekday(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

function toIso(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}

const TWO_DIGITS = Array.from({ length: 32 }, (_, i) => String(i).padStart(2, '0'));

/**
 * ISO strings of ascending epoch days, from one `Date` per year boundary
 * instead of one per day: `toISOString` for the 27,895 sessions took about
 * 50 ms of every process's start-up, this takes a few.
 */
function isoDays(days: readonly number[]): string[] {
  const out = new Array<string>(days.length);
  let year = 0;
  let yearStart = 0;
  let nextYear = Number.NEGATIVE_INFINITY;
  let starts: number[] = [];
  for (let i = 0; i < days.length; i++) {
    const d = days[i]!;
    if (d >= nextYear || d < yearStart) {
      year = new Date(d * MS_PER_DAY).getUTCFullYear();
      yearStart = epochDay(year, 1, 1);
      nextYear = epochDay(year + 1, 1, 1);
      starts = Array.from({ length: 12 }, (_, m) => epochDay(year, m + 1, 1));
    }
    let month = 11;
    while (starts[month]! > d) month--;
    out[i] = `${year}-${TWO_DIGITS[month + 1]!}-${TWO_DIGITS[d - starts[month]! + 1]!}`;
  }
  return out;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function parseIso(date: string): number {
  if (typeof date !== 'string') {
    throw new TypeError(`calendar: expected an ISO date string YYYY-MM-DD, got ${typeof date}`);
  }
  const m = ISO_DATE.exec(date);
  if (!m) throw new RangeError(`calendar: malformed date "${date}", expected YYYY-MM-DD`);
  const year = Number(m[1]);
  const month = Number(m[2]);
  const dayOfMonth = Number(m[3]);
  // Date.UTC would roll 2021-02-30 over to March: check the day of the month first.
  if (month < 1 || month > 12 || dayOfMonth < 1 || dayOfMonth > daysInMonth(year, month)) {
    throw new RangeError(`calendar: invalid date "${date}" (no such day)`);
  }
  return epochDay(year, month, dayOfMonth);
}

/** n-th (1-based) given weekday of a month, or the last one when n = -1. */
function nthWeekday(year: number, month: number, wd: number, n: number): number {
  if (n > 0) {
    const first = epochDay(year, month, 1);
    return first + ((wd - weekday(first) + 7) % 7) + (n - 1) * 7;
  }
  const last = epochDay(year, month + 1, 0);
  return last - ((weekday(last) - wd + 7) % 7);
}

/** Easter Sunday (Gregorian), anonymous algorithm (Meeus/Jones/Butcher). */
function easterSunday(year: number): number {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const dayOfMonth = ((h + l - 7 * m + 114) % 31) + 1;
  return epochDay(year, month, dayOfMonth);
}

/** A fixed-date holiday moved off the weekend: Saturday -> Friday, Sunday -> Monday. */
function observed(day: number): number {
  const wd = weekday(day);
  if (wd === 6) return day - 1;
  if (wd === 0) return day + 1;
  return day;
}

/** Exchange holidays in force in `year` (epoch days; all on weekdays). */
function holidaysOf(year: number): number[] {
  const days: number[] = [];
  // New Year's Day: Sunday -> Monday; on a Saturday it is not observed at all
  // (NYSE Rule 7.2: the Friday before closes a yearly accounting period).
  const newYear = epochDay(year, 1, 1);
  if (weekday(newYear) !== 6) days.push(observed(newYear));
  if (year >= 1998) days.push(nthWeekday(year, 1, 1, 3)); // Martin Luther King Jr. Day
  days.push(nthWeekday(year, 2, 1, 3)); // Washington's Birthday
  days.push(easterSunday(year) - 2); // Good Friday
  days.push(nthWeekday(year, 5, 1, -1)); // Memorial Day
  if (year >= 2022) days.push(observed(epochDay(year, 6, 19))); // Juneteenth
  days.push(observed(epochDay(year, 7, 4))); // Independence Day
  days.push(nthWeekday(year, 9, 1, 1)); // Labor Day
  days.push(nthWeekday(year, 11, 4, 4)); // Thanksgiving
  days.push(observed(epochDay(year, 12, 25))); // Christmas
  return days;
}

const TABLE_START = epochDay(FIRST_YEAR, 1, 1);
const TABLE_END = epochDay(LAST_YEAR, 12, 31);

// sessionDays: sorted epoch days of every session.
// indexOfDay[d - TABLE_START]: session index of day d, or -1.
// onOrBefore[d - TABLE_START]: index of the latest session <= d, or -1.
const { sessionDays, sessionIsos, indexOfDay, onOrBefore } = (() => {
  const closed = new Set<number>();
  for (let y = FIRST_YEAR; y <= LAST_YEAR; y++) for (const h of holidaysOf(y)) closed.add(h);
  for (const d of UNSCHEDULED_CLOSURES) closed.add(parseIso(d));
  const span = TABLE_END - TABLE_START + 1;
  const byDay = new Int32Array(span).fill(-1);
  const before = new Int32Array(span);
  const list: number[] = [];
  for (let d = TABLE_START; d <= TABLE_END; d++) {
    const wd = weekday(d);
    if (wd !== 0 && wd !== 6 && !closed.has(d)) {
      byDay[d - TABLE_START] = list.length;
      list.push(d);
    }
    before[d - TABLE_START] = list.length - 1;
  }
  return {
    sessionDays: Int32Array.from(list),
    sessionIsos: Object.freeze(isoDays(list)),
    indexOfDay: byDay,
    onOrBefore: before,
  };
})();

const FIRST_ISO = toIso(TABLE_START);
const LAST_ISO = toIso(TABLE_END);

function inTable(date: string): number {
  const day = parseIso(date);
  if (day < TABLE_START || day > TABLE_END) {
    throw new RangeError(`calendar: date ${date} is outside the NYSE calendar range ${FIRST_ISO}..${LAST_ISO}`);
  }
  return day;
}

function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1) {
    throw new RangeError(`calendar: bucket size must be a positive integer, got ${String(days)}`);
  }
}

/** Inclusive first and last sessions of a bucket. */
export interface BucketBounds {
  first: string;
  last: string;
}

/**
 * Is `date` an NYSE trading session?
 *
 * @example
 * isSession('2022-06-20'); // false: Juneteenth observed
 */
export function isSession(date: string): boolean {
  return indexOfDay[inTable(date) - TABLE_START]! >= 0;
}

/**
 * Session index of `date`: 1990-01-02 is 0, each later session adds 1.
 * Throws a RangeError when `date` is not a session.
 *
 * @example
 * sessionIndex('1990-01-03'); // 1
 */
export function sessionIndex(date: string): number {
  const idx = indexOfDay[inTable(date) - TABLE_START]!;
  if (idx < 0) throw new RangeError(`calendar: ${date} is not an NYSE session`);
  return idx;
}

/**
 * The session with the given index (the inverse of `sessionIndex`).
 *
 * @example
 * sessionAt(0); // '1990-01-02'
 */
export function sessionAt(index: number): string {
  const iso = Number.isInteger(index) ? sessionIsos[index] : undefined;
  if (iso === undefined) {
    throw new RangeError(`calendar: session index ${String(index)} is outside 0..${sessionIsos.length - 1}`);
  }
  return iso;
}

/**
 * Every session from `from` to `to`, both inclusive (empty when `from > to`).
 *
 * @example
 * sessionsBetween('2021-12-30', '2022-01-04'); // ['2021-12-30', '2021-12-31', '2022-01-03', '2022-01-04']
 */
export function sessionsBetween(from: string, to: string): string[] {
  const a = inTable(from);
  const b = inTable(to);
  if (a > b) return [];
  const lastIdx = onOrBefore[b - TABLE_START]!;
  // first session >= a: the one after the latest session < a
  const firstIdx = a === TABLE_START ? 0 : onOrBefore[a - 1 - TABLE_START]! + 1;
  return sessionIsos.slice(firstIdx, lastIdx + 1);
}

/**
 * The latest session on or before `date` (the date itself when it is a session).
 *
 * @example
 * latestSessionOnOrBefore('2024-07-06'); // '2024-07-05'
 */
export function latestSessionOnOrBefore(date: string): string {
  const idx = onOrBefore[inTable(date) - TABLE_START]!;
  if (idx < 0) throw new RangeError(`calendar: no NYSE session on or before ${date} in the calendar range`);
  return sessionIsos[idx]!;
}

/**
 * The first session strictly after `date` (any date, session or not).
 *
 * @example
 * nextSession('2024-07-03'); // '2024-07-05'
 */
export function nextSession(date: string): string {
  const idx = onOrBefore[inTable(date) - TABLE_START]! + 1;
  const iso = sessionIsos[idx];
  if (iso === undefined) throw new RangeError(`calendar: no NYSE session after ${date} in the calendar range`);
  return iso;
}

/**
 * The last session strictly before `date` (any date, session or not).
 *
 * @example
 * previousSession('2024-01-02'); // '2023-12-29'
 */
export function previousSession(date: string): string {
  const day = inTable(date);
  const idx = day === TABLE_START ? -1 : onOrBefore[day - 1 - TABLE_START]!;
  if (idx < 0) throw new RangeError(`calendar: no NYSE session before ${date} in the calendar range`);
  return sessionIsos[idx]!;
}

/**
 * Calendar-anchored bucket of a session for N-session bars:
 * `floor(sessionIndex(date) / days)`. Throws on a non-session.
 *
 * @example
 * bucketOf('1990-01-05', 3); // 1 (sessions 0..2 are bucket 0)
 */
export function bucketOf(date: string, days: number): number {
  checkDays(days);
  return Math.floor(sessionIndex(date) / days);
}

/**
 * First and last calendar sessions of a calendar-anchored bucket.
 *
 * @example
 * bucketBounds(0, 3); // { first: '1990-01-02', last: '1990-01-04' }
 */
export function bucketBounds(bucket: number, days: number): BucketBounds {
  checkDays(days);
  if (!Number.isInteger(bucket) || bucket < 0) {
    throw new RangeError(`calendar: bucket must be a non-negative integer, got ${String(bucket)}`);
  }
  return { first: sessionAt(bucket * days), last: sessionAt(bucket * days + days - 1) };
}

/**
 * The Fibonacci session counts the pipeline resamples by default (bar
 * lengths in sessions, so bucket sizes for `bucketOf`).
 */
export const DEFAULT_INTERVALS: readonly number[] = Object.freeze([3, 5, 8, 13, 21, 34]);

/**
 * Minutes after midnight New York time from which today's session counts as
 * closed (16:30): the vendors publish a session's daily bars by then.
 */
export const SESSION_READY_MINUTES = 16 * 60 + 30;

// Built on first use: an Intl formatter with a time zone costs about 25 ms to
// create, which every process importing the calendar would pay at start-up.
let nyParts: Intl.DateTimeFormat | undefined;
const nyPartsFormat = (): Intl.DateTimeFormat => (nyParts ??= new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
}));

/** Wall-clock date and time in New York (the exchange's time zone). */
export interface NewYorkClock {
  /** The date in New York, `YYYY-MM-DD`. */
  date: string;
  /** Minutes after midnight in New York. */
  minutes: number;
}

/**
 * The date and minutes after midnight in New York at the instant `at`,
 * whatever the machine's time zone.
 *
 * @example
 * newYorkClock(new Date('2026-12-02T03:00:00Z')); // { date: '2026-12-01', minutes: 1320 }
 */
export function newYorkClock(at: Date): NewYorkClock {
  const parts: Record<string, string> = {};
  for (const p of nyPartsFormat().formatToParts(at)) parts[p.type] = p.value;
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

/**
 * The latest session whose daily bars can exist at the instant `now`: today's
 * session once it is 16:30 in New York ({@link SESSION_READY_MINUTES}), else
 * the session before (on a non-session day, the last session before it).
 *
 * @example
 * latestClosedSession(new Date('2026-11-25T21:29:00Z')); // '2026-11-24' (16:29 in New York)
 * latestClosedSession(new Date('2026-11-25T21:30:00Z')); // '2026-11-25'
 */
export function latestClosedSession(now: Date): string {
  const ny = newYorkClock(now);
  return ny.minutes >= SESSION_READY_MINUTES ? latestSessionOnOrBefore(ny.date) : previousSession(ny.date);
}

/** The NYSE calendar as one object; see the individual functions for details. */
export interface NyseCalendar {
  readonly isSession: typeof isSession;
  readonly sessionIndex: typeof sessionIndex;
  readonly sessionAt: typeof sessionAt;
  readonly sessionsBetween: typeof sessionsBetween;
  readonly latestSessionOnOrBefore: typeof latestSessionOnOrBefore;
  readonly nextSession: typeof nextSession;
  readonly previousSession: typeof previousSession;
  readonly bucketOf: typeof bucketOf;
  readonly bucketBounds: typeof bucketBounds;
  /** Every session of the table in order, as ISO strings (index = session index). */
  readonly sessions: readonly string[];
  /** Every session as days since 1970-01-01 (the Polars Date encoding), index = session index. */
  readonly sessionEpochDays: Readonly<Int32Array>;
  /** First and last dates the calendar covers. */
  readonly range: { readonly from: string; readonly to: string };
}

/**
 * The NYSE calendar, exact from 1990-01-01 to 2100-12-31.
 *
 * @example
 * import { nyse } from '@fibbars/ohlcv-core/calendar';
 * nyse.isSession('2022-01-03'); // true
 * nyse.sessionsBetween('2024-12-23', '2024-12-27'); // ['2024-12-23', '2024-12-24', '2024-12-26', '2024-12-27']
 * nyse.sessionIndex('1990-01-02'); // 0
 */
export const nyse: NyseCalendar = Object.freeze({
  isSession,
  sessionIndex,
  sessionAt,
  sessionsBetween,
  latestSessionOnOrBefore,
  nextSession,
  previousSession,
  bucketOf,
  bucketBounds,
  sessions: sessionIsos,
  sessionEpochDays: sessionDays,
  range: Object.freeze({ from: FIRST_ISO, to: LAST_ISO }),
});
