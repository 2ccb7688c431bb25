// ISO dates: the one check that a string is a `YYYY-MM-DD` calendar day, and
// the ISO date <-> epoch-day conversions shared by the Polars modules. Polars
// stores a Date as days since 1970-01-01, so building Date columns from epoch
// days avoids any time-zone interpretation of JS Date objects.
//
// Free of Polars and the AWS SDK (the `@fibbars/ohlcv-core/dates` entry
// point): the Lambda bundles and the CLI's argument checks use it.
import { ConfigError } from './errors.js';

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const MS_PER_DAY = 86_400_000;

/**
 * Whether `value` is an ISO `YYYY-MM-DD` string naming a day that exists
 * (a leap day only in a leap year, no month 13, no 31 November).
 *
 * @example
 * isIsoDate('2024-02-29'); // true
 * isIsoDate('2023-02-29'); // false
 * isIsoDate('2024/02/01'); // false
 */
export function isIsoDate(value: unknown): value is string {
  return typeof value === 'string' && ISO_DATE.test(value) && !Number.isNaN(dayMs(value));
}

/** UTC midnight (ms) of a `YYYY-MM-DD`-shaped string, NaN when no such day (Date.parse would roll 02-30 over). */
function dayMs(iso: string): number {
  const ms = Date.parse(`${iso}T00:00:00Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === iso ? ms : Number.NaN;
}

/**
 * `value` when it is an ISO calendar date ({@link isIsoDate}), else a
 * `ConfigError` on one line naming it: `<what> "<value>" is not a calendar
 * date YYYY-MM-DD`.
 *
 * @example
 * checkIsoDate('2024-06-03'); // '2024-06-03'
 * checkIsoDate('2024-13-01', 'event.date'); // throws ConfigError: event.date "2024-13-01" is not a calendar date YYYY-MM-DD
 */
export function checkIsoDate(value: unknown, what = 'date'): string {
  if (!isIsoDate(value)) throw new ConfigError(`${what} ${shown(value)} is not a calendar date YYYY-MM-DD`);
  return value;
}

/** A value as a message shows it: JSON where it can be (strings quoted), else its `String`. */
function shown(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Days since 1970-01-01 of an ISO `YYYY-MM-DD` date (the Polars Date
 * encoding); throws a RangeError on malformed or impossible dates.
 *
 * @example
 * isoToEpochDay('1970-01-02'); // 1
 */
export function isoToEpochDay(iso: string): number {
  if (typeof iso !== 'string' || !ISO_DATE.test(iso)) {
    throw new RangeError(`malformed date "${String(iso)}", expected YYYY-MM-DD`);
  }
  const ms = dayMs(iso);
  if (Number.isNaN(ms)) throw new RangeError(`invalid date "${iso}" (no such day)`);
  return ms / MS_PER_DAY;
}

/**
 * ISO `YYYY-MM-DD` of an epoch day.
 *
 * @example
 * epochDayToIso(19_000); // '2022-01-08'
 */
export function epochDayToIso(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}

/**
 * ISO date of a JS Date (its UTC calendar day), as Polars returns Date values.
 *
 * @example
 * dateToIso(new Date(Date.UTC(2024, 5, 4))); // '2024-06-04'
 */
export function dateToIso(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/**
 * Milliseconds since the epoch of an instant given as Date, ISO timestamp or
 * ms number; throws a RangeError naming `what` when it is not a valid instant.
 *
 * @example
 * toEpochMs('1970-01-01T00:00:01Z'); // 1000
 */
export function toEpochMs(t: Date | string | number, what = 'timestamp'): number {
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) throw new RangeError(`invalid ${what} "${String(t)}"`);
  return ms;
}

/**
 * The ISO day of a Polars `Date` value as `toRecords` returns it (a JS Date at
 * UTC midnight), or null. Tested by shape, not `instanceof`: a Date made in
 * another realm (a vm context, a test runner) is still a Date.
 * @internal
 */
export function recordDateToIso(value: unknown): string | null {
  return Object.prototype.toString.call(value) === '[object Date]' ? dateToIso(value as Date) : null;
}
