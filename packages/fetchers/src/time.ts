/** The vendor's time stamps: a daily bar's `t` is 16:00 New York time on its session. */
import { newYorkClock } from '@fibbars/ohlcv-core/calendar';

/** UTC offset of New York in minutes (e.g. -240 in summer) at `at`. */
function newYorkOffsetMinutes(at: Date): number {
  const ny = newYorkClock(at);
  const asUtc = Date.parse(`${ny.date}T00:00:00Z`) + ny.minutes * 60_000;
  return Math.round((asUtc - Math.floor(at.getTime() / 60_000) * 60_000) / 60_000);
}

/** Unix milliseconds of 16:00 New York time on `date`: the vendor's `t` for a daily bar. */
export function newYorkCloseMs(date: string): number {
  const noonUtc = Date.parse(`${date}T12:00:00Z`);
  const offset = newYorkOffsetMinutes(new Date(noonUtc));
  return Date.parse(`${date}T16:00:00Z`) - offset * 60_000;
}
