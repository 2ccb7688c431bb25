// The human half of the output: one table of figures and a line per check.
import type { BenchResult } from './cli.js';

const PAIRS: Record<string, string> = { rebuildOurs: 'rebuild', lakeOurs: 'lake', partitionsOurs: 'partitions', incrementOurs: 'increment' };

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function formatTable(result: BenchResult): string {
  const rows: string[][] = [['measurement', 'rows in', 'rows out', 'seconds', 'CPU s', 'wall s', 'rows/s', 'peak RSS', 'ours/DuckDB']];
  for (const [key, m] of Object.entries(result.measurements)) {
    const pair = PAIRS[key];
    const ratio = pair !== undefined ? result.ratios[pair] : undefined;
    rows.push([
      m.name,
      m.rowsIn.toLocaleString('en-US'),
      m.rowsOut.toLocaleString('en-US'),
      m.seconds.toFixed(2),
      m.cpuSeconds.toFixed(1),
      m.wallSeconds.toFixed(2),
      Math.round(m.rowsPerSecond).toLocaleString('en-US'),
      mib(m.peakRssBytes),
      ratio === undefined ? '' : ratio.toFixed(2),
    ]);
  }
  const lines = [
    `fibbars bench: ${result.scale.tickers} tickers x ${result.scale.years} years (seed ${result.scale.seed}), ${result.rows.toLocaleString('en-US')} daily rows; ${result.machine.cpus} CPUs, Node ${result.machine.node}`,
    pad(rows),
  ];
  const part = result.measurements.partitionsOurs?.detail as
    | { partitions: number; workerSeconds: number[]; workerPeakRssMiB: number[]; fanInSeconds: number; sideBySideSeconds: number }
    | undefined;
  if (part) {
    lines.push(
      `partitions: ${part.partitions} workers ${part.workerSeconds.map((s, i) => `${s.toFixed(2)} s / ${part.workerPeakRssMiB[i]!.toFixed(0)} MiB`).join(', ')}; ` +
        `fan-in ${part.fanInSeconds.toFixed(2)} s; side by side ${part.sideBySideSeconds.toFixed(2)} s (slowest partition + fan-in)`,
    );
  }
  for (const [stage, comparisons] of Object.entries(result.checks)) {
    for (const c of comparisons) {
      lines.push(
        `check ${stage} ${c.interval}: ${c.equal ? 'equal' : 'DIFFERENT'} (ours ${c.oursRows}, DuckDB ${c.duckRows}, only ours ${c.onlyOurs}, only DuckDB ${c.onlyDuck}, differing ${c.differ})`,
      );
    }
  }
  return lines.join('\n');
}
