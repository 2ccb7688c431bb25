// Date flags of the commands. The rules are ohlcv-core's (Polars-free entry
// points): what an ISO date is, the New York clock, and the 16:30 cut-off
// after which today's session counts as closed.
import { latestClosedSession, newYorkClock, nyse } from '@fibbars/ohlcv-core/calendar';
import { isIsoDate } from '@fibbars/ohlcv-core/dates';
import { NotASessionError, UsageError } from './errors.js';

/**
 * Checks a `YYYY-MM-DD` flag value names a real calendar date inside the
 * calendar's range and not after today in New York (`now` is the command's
 * clock, injected by tests): a future date is refused before anything is
 * fetched or written.
 */
export function parseIsoDate(flag: string, value: string, now: Date): string {
  const v = value.trim();
  if (!isIsoDate(v)) {
    throw new UsageError(`${flag} "${value}" is not a date: use YYYY-MM-DD, e.g. ${flag} ${defaultSession(now)}`);
  }
  if (v < nyse.range.from || v > nyse.range.to) {
    throw new UsageError(`${flag} ${v} is outside the NYSE calendar (${nyse.range.from} to ${nyse.range.to}): pick a date in that range`);
  }
  const today = newYorkClock(now).date;
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

/**
 * The session a run without `--date` is for: today's session once the close
 * has settled (16:30 New York time), else the previous session. This is
 * ohlcv-core's `latestClosedSession`.
 */
export const defaultSession: (now: Date) => string = latestClosedSession;

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
