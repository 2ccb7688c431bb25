/**
 * Bundles a TypeScript entry (and the sources it imports) into one ESM file
 * that plain Node can run in a child process. The bundle lives under this
 * package's node_modules/.cache so its bare imports (nodejs-polars, the AWS
 * SDK) resolve from the package.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function buildChild(entry: string, name: string): Promise<string> {
  const outfile = path.join(packageRoot, 'node_modules/.cache/fibbars-tests', `${name}-${process.pid}.mjs`);
  await build({
    entryPoints: [path.resolve(packageRoot, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    conditions: ['@fibbars/source'],
    logLevel: 'silent',
  });
  return outfile;
}
