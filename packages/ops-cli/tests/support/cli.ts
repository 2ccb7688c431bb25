import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli.js';
import { MemoryStream } from '../../src/output.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A fixed clock after the close of 2026-11-25, so "the latest session" is stable. */
export const NOW = new Date('2026-11-26T02:00:00Z');
export const RUN_DATE = '2026-11-20';

export async function cli(
  argv: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; tty?: boolean; now?: Date } = {},
): Promise<CliResult> {
  const stdout = new MemoryStream(options.tty ?? false);
  const stderr = new MemoryStream(options.tty ?? false);
  const code = await main(argv, {
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    now: () => options.now ?? NOW,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

export async function tempDir(prefix = 'fibbars-cli-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Builds a lake with a real local run: the synthetic market (40 tickers),
 * 59 backfilled sessions plus the run's own session.
 */
export async function buildLake(dir: string): Promise<{ lake: string; result: CliResult }> {
  const lake = path.join(dir, 'lake');
  const result = await cli([
    'run',
    '--lake',
    lake,
    '--date',
    RUN_DATE,
    '--backfill-sessions',
    '59',
    '--synthetic-tickers',
    '40',
  ]);
  if (result.code !== 0) {
    throw new Error(`building the test lake failed (exit ${result.code}):\n${result.stderr}\n${result.stdout}`);
  }
  return { lake, result };
}
