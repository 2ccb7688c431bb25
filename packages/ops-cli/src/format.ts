/** Plain-text tables and number formats shared by the commands. */

/** Prices are shown, and emitted in JSON, rounded to this many decimals. */
export const PRICE_DECIMALS = 4;

export function round(value: unknown, decimals: number): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return null;
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** Shortest text that parses back to the same number (so JSON and text agree). */
export function num(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : String(value);
}

export function table(header: string[], rows: string[][], align: ('l' | 'r')[] = []): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => ((align[i] ?? 'l') === 'r' ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)];
}

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}
