import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const pkg = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(pkg, 'dist', 'cli.js');

function bench(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
}

describe('pnpm bench at a tiny scale', () => {
  let dataDir: string;
  let run: ReturnType<typeof bench>;

  beforeAll(() => {
    execFileSync(process.execPath, [join(pkg, 'build.mjs')], { stdio: 'inherit' });
    dataDir = mkdtempSync(join(tmpdir(), 'fibbars-bench-'));
    run = bench(['--tickers', '40', '--years', '2', '--runs', '1', '--warmup', '0', '--raw-sessions', '10', '--data-dir', dataDir]);
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('ends with one JSON line whose results DuckDB found equal to ours', () => {
    expect(run.stderr).not.toMatch(/results differ/);
    expect(run.status).toBe(0);
    const last = run.stdout.trim().split('\n').at(-1)!;
    const result = JSON.parse(last);
    expect(result.ok).toBe(true);
    expect(result.scale).toEqual({ tickers: 40, years: 2, seed: 1 });
    expect(Object.keys(result.checks).sort()).toEqual(['increment', 'incrementDaily', 'lake', 'partitions', 'rebuild']);
    for (const comparisons of Object.values(result.checks) as { equal: boolean; oursRows: number }[][]) {
      for (const c of comparisons) {
        expect(c.equal).toBe(true);
        expect(c.oursRows).toBeGreaterThan(0);
      }
    }
    expect(result.checks.rebuild.map((c: { interval: string }) => c.interval)).toEqual(['3d', '5d', '8d', '13d', '21d', '34d']);
  });

  it('reports every measurement with its time, throughput and peak RSS', () => {
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(Object.keys(result.measurements).sort()).toEqual(['consolidateOurs', 'incrementDuckdb', 'incrementOurs', 'lakeOurs', 'partitionsOurs', 'rebuildDuckdb', 'rebuildOurs']);
    for (const m of Object.values(result.measurements) as { seconds: number; rowsIn: number; rowsPerSecond: number; peakRssBytes: number }[]) {
      expect(m.seconds).toBeGreaterThan(0);
      expect(m.rowsIn).toBeGreaterThan(0);
      expect(m.rowsPerSecond).toBeGreaterThan(0);
      expect(m.peakRssBytes).toBeGreaterThan(10 * 2 ** 20);
    }
    expect(result.measurements.rebuildOurs.rowsIn).toBe(result.rows);
    // The corrected earlier session and the new one, 40 tickers each, through the production jobs as processes.
    expect(result.measurements.incrementOurs.rowsIn).toBe(80);
    const inc = result.measurements.incrementOurs.detail;
    expect(inc.splits).toBeGreaterThanOrEqual(3);
    expect(inc.bytesWritten).toBeGreaterThan(0);
    expect(inc.bytesShare).toBeCloseTo(inc.bytesWritten / inc.barBytes, 12);
    expect(inc.intervals.map((i: { mode: string }) => i.mode)).toEqual(Array(6).fill('incremental'));
    expect(result.measurements.lakeOurs.cpuSeconds).toBeGreaterThan(0);
    expect(result.measurements.lakeOurs.wallSeconds).toBeGreaterThanOrEqual(result.measurements.lakeOurs.seconds);
    expect(result.ratios.rebuild).toBeCloseTo(result.measurements.rebuildOurs.seconds / result.measurements.rebuildDuckdb.seconds, 10);
    expect(run.stdout).toMatch(/measurement\s+rows in\s+rows out\s+seconds/);
    // Four partition jobs and the fan-in, each with its own time and peak memory.
    const part = result.measurements.partitionsOurs.detail;
    expect(part.partitions).toBe(4);
    expect(part.jobs).toHaveLength(5);
    expect(part.workerSeconds).toHaveLength(4);
    expect(part.sideBySideSeconds).toBeCloseTo(Math.max(...part.workerSeconds) + part.fanInSeconds, 10);
    expect(part.intervals.filter((i: { mode: string }) => i.mode === 'full')).toHaveLength(6 * 4 + 6);
    expect(result.ratios.partitionsVsOne).toBeCloseTo(result.measurements.partitionsOurs.seconds / result.measurements.lakeOurs.seconds, 10);
  });

  it('refuses a bad flag with a one-line error, exit code 2 and nothing written', () => {
    const dir = join(tmpdir(), `fibbars-bench-bad-${process.pid}`);
    const bad = bench(['--tickers', '0', '--data-dir', dir]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^bench: --tickers must be an integer/)]);
    expect(bad.stdout).toBe('');
    expect(existsSync(dir)).toBe(false);
  });
});
