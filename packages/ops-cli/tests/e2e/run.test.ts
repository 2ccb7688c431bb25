import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { cli, buildLake, RUN_DATE, tempDir, type CliResult } from '../support/cli.js';

describe('fibbars run (local engine, synthetic market)', () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  let lake: string;
  let first: CliResult;

  beforeAll(async () => {
    dir = await tempDir();
    ({ lake, result: first } = await buildLake(dir.dir));
  }, 300_000);
  afterAll(async () => dir.cleanup());

  it('says which source it uses in one line at start', () => {
    expect(first.stderr.split('\n')[0]).toBe('no POLYGON_API_KEY: using the synthetic market (seed 42, 40 tickers)');
  });

  it('backfills the fresh lake, then runs the pipeline and prints a summary', () => {
    console.log(first.stderr);
    console.log(first.stdout);
    expect(first.stdout).toMatch(/SUCCEEDED/);
  });

  it('shows each state of the state machine as plain lines when not a TTY', () => {
    expect(first.stderr).toMatch(/Consolidate\s+done/);
    expect(first.stderr).toMatch(/Resample34d\s+done/);
  });
  void lake;
  void RUN_DATE;
  void nyse;
});
