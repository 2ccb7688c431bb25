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

/** Every file under `dir` (relative paths), or [] when it does not exist: "nothing written" checks. */
export async function listFiles(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
      .sort();
  } catch {
    return [];
  }
}

/** Splits a text table printed by the CLI into rows of cells. */
export function tableRows(text: string, header: string): string[][] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(header));
  if (at < 0) throw new Error(`no table with header ${header} in:\n${text}`);
  return lines
    .slice(at + 1)
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/\s{2,}/));
}
