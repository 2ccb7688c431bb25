/** New York wall-clock helpers (the vendor's and the exchange's time zone). */

const NY_PARTS = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});

/** The date (`YYYY-MM-DD`) and minutes after midnight in New York at `at`. */
export function newYorkClock(at: Date): { date: string; minutes: number } {
  const parts: Record<string, string> = {};
  for (const p of NY_PARTS.formatToParts(at)) parts[p.type] = p.value;
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

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

/** `date` shifted by `days` calendar days. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}
