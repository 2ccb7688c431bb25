import { nyse } from '@fibbars/ohlcv-core/calendar';
import { NotASessionError, UsageError } from './errors.js';

const ISO = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Checks a `YYYY-MM-DD` flag value names a real calendar date inside the
 * calendar's range and not after today in New York (`now` is the command's
 * clock, injected by tests): a future date is refused before anything is
 * fetched or written.
 */
export function parseIsoDate(flag: string, value: string, now: Date): string {
  const v = value.trim();
  const d = ISO.test(v) ? new Date(`${v}T00:00:00Z`) : undefined;
  if (!d || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== v) {
    throw new UsageError(`${flag} "${value}" is not a date: use YYYY-MM-DD, e.g. ${flag} ${defaultSession(now)}`);
  }
  if (v < nyse.range.from || v > nyse.range.to) {
    throw new UsageError(`${flag} ${v} is outside the NYSE calendar (${nyse.range.from} to ${nyse.range.to}): pick a date in that range`);
  }
  const today = newYorkDate(now);
  if (v > today) {
    throw new UsageError(`${flag} ${v} is in the future (today is ${today} in New York): pass ${flag} ${defaultSession(now)} or earlier`);
  }
  return v;
}

/**
 * Like `parseIsoDate`, and the date must be an NYSE session that has closed
 * (today's session counts from 16:30 New York time, when its bars are ready).
 */
export function parseSession(flag: string, value: string, now: Date): string {
  const v = parseIsoDate(flag, value, now);
  if (!nyse.isSession(v)) {
    const before = nyse.latestSessionOnOrBefore(v);
    const after = nyse.nextSession(v);
    const latest = defaultSession(now);
    throw new NotASessionError(
      `${v} is not an NYSE session (${weekday(v)}, market closed): pass a session date, e.g. ${flag} ${before}${after <= latest ? ` or ${flag} ${after}` : ''}`,
    );
  }
  const latest = defaultSession(now);
  if (v > latest) {
    throw new UsageError(`${flag} ${v}: today's session has not closed yet (its bars are ready from 16:30 New York time): pass ${flag} ${latest}`);
  }
  return v;
}

/** Today's date in New York. */
export function newYorkDate(now: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York', year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

function newYorkMinutes(now: Date): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(now);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return get('hour') * 60 + get('minute');
}

/**
 * The session a run without `--date` is for: today's session once the close
 * has settled (16:30 New York time), else the previous session.
 */
export function defaultSession(now: Date): string {
  const today = newYorkDate(now);
  if (nyse.isSession(today) && newYorkMinutes(now) >= 16 * 60 + 30) return today;
  return nyse.isSession(today) ? nyse.previousSession(today) : nyse.latestSessionOnOrBefore(today);
}

export function weekday(iso: string): string {
  return new Date(`${iso}T12:00:00Z`).toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' });
}

/** The last `count` sessions before `session` (exclusive), oldest first. */
export function sessionsBefore(session: string, count: number): string[] {
  if (count <= 0) return [];
  const end = nyse.sessionIndex(session);
  const start = Math.max(0, end - count);
  const out: string[] = [];
  for (let i = start; i < end; i++) out.push(nyse.sessionAt(i));
  return out;
}
