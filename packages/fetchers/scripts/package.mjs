#!/usr/bin/env node
// Bundles each Lambda handler with esbuild into one ESM file and zips it as
// dist/lambda/<name>.zip with fixed timestamps, so equal sources give equal
// zip bytes. Usage: node scripts/package.mjs [outDir]
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { zipSync } from 'fflate';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const HANDLERS = ['ohlcv', 'meta'];
// 1980-01-01 local time is the earliest a zip entry can carry: fixed for reproducible bytes.
const ZIP_MTIME = new Date(1980, 0, 1, 0, 0, 0);

export async function packageLambdas(outDir = path.join(root, 'dist', 'lambda')) {
  await mkdir(outDir, { recursive: true });
  const out = {};
  for (const name of HANDLERS) {
    const result = await build({
      entryPoints: [path.join(root, 'src', 'lambda', `${name}.ts`)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      minify: true,
      legalComments: 'none',
      // Siblings from source: packaging never waits for another package's build.
      conditions: ['@fibbars/source', 'module', 'import'],
      mainFields: ['module', 'main'],
      // CommonJS dependencies inside an ESM bundle still call require() for built-ins.
      banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
      write: false,
      metafile: true,
      logLevel: 'warning',
    });
    const code = result.outputFiles[0].contents;
    const inputs = Object.keys(result.metafile.inputs);
    const zip = zipSync({ 'index.mjs': [code, { mtime: ZIP_MTIME, level: 9 }] });
    const zipPath = path.join(outDir, `${name}.zip`);
    await writeFile(zipPath, zip);
    await writeFile(path.join(outDir, `${name}.inputs.json`), `${JSON.stringify(inputs.sort(), null, 2)}\n`);
    out[name] = { zip: zipPath, bytes: zip.length, bundleBytes: code.length, inputs };
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = await packageLambdas(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  for (const [name, r] of Object.entries(result)) {
    console.log(`${name}: ${path.relative(process.cwd(), r.zip)} ${(r.bytes / 1024).toFixed(0)} KiB (bundle ${(r.bundleBytes / 1024).toFixed(0)} KiB)`);
  }
}
