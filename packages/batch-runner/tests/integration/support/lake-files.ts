// What a job left in a folder lake: every file with its size and sha256.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export function lakeFiles(root: string, options: { exclude?: RegExp } = {}): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(root)) return out;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const key = relative(root, path).split(sep).join('/');
        if (options.exclude?.test(key)) continue;
        out.set(key, createHash('sha256').update(readFileSync(path)).digest('hex'));
      }
    }
  };
  walk(root);
  return out;
}

/** Keys of the commit log of one dataset, in version order. */
export function commitKeys(root: string, dataset: string): string[] {
  return [...lakeFiles(root).keys()].filter((key) => key.startsWith(`_commits/${dataset}/`)).sort();
}
