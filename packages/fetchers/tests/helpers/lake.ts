import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

/** A fresh folder lake under the OS temp dir; `cleanup` removes it. */
export async function tempLake(): Promise<{ lake: string; cleanup: () => Promise<void> }> {
  const lake = await mkdtemp(path.join(tmpdir(), 'fibbars-fetchers-'));
  return { lake, cleanup: () => rm(lake, { recursive: true, force: true }) };
}

/** A logger that keeps every line, as the JSON a real logger would print. */
export function memoryLogger(): { lines: string[]; info: Log; warn: Log; error: Log } {
  const lines: string[] = [];
  const log = (level: string) => (message: string, extra?: Record<string, unknown>) => {
    lines.push(JSON.stringify({ level, message, ...extra }));
  };
  return { lines, info: log('info'), warn: log('warn'), error: log('error') };
}
type Log = (message: string, extra?: Record<string, unknown>) => void;
