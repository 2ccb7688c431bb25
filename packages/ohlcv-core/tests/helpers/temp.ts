import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A fresh temp folder; remove it with the returned `cleanup`. */
export async function tempDir(label = 'fibbars'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `${label}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The repository root, resolved from this file (tests/helpers -> package -> packages -> root). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** `../shared/data/<name>` relative to the repository root. */
export function sharedDataFile(name: string): string {
  return path.resolve(repoRoot, '../shared/data', name);
}
