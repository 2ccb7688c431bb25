// Measures the peak memory of the two jobs on a generated lake, through the
// built bundle exactly as the container runs it:
//
//   node scripts/memory.mjs --tickers 2000 --years 5 [--lake DIR]
//
// 1. for each year (the last `years` up to 2025), fills the raw zone with
//    synthetic grouped-daily fetches and runs `consolidate` (a backfill in
//    yearly steps, as `fibbars backfill` would do over a long range);
// 2. `resample --days 3,5,8,13,21,34` over the whole history: the full
//    rebuild of all six intervals;
// each job under /usr/bin/time -v, printing its peak RSS and wall time.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { tickers: { type: 'string', default: '2000' }, years: { type: 'string', default: '5' }, lake: { type: 'string' } } });
const bundle = join(root, 'dist', 'bundle', 'main.js');
if (!existsSync(bundle)) {
  console.error('memory: dist/bundle/main.js is missing: run the bundle target first');
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'batch-runner-memory-'));
const lake = values.lake ?? join(work, 'lake');

const generator = join(work, 'memory-lake.mjs');
await build({
  entryPoints: [join(root, 'scripts', 'memory-lake.ts')],
  outfile: generator,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  conditions: ['@fibbars/source'],
  external: ['nodejs-polars', 'nodejs-polars-linux-x64-gnu'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});

function measure(args) {
  const result = spawnSync('/usr/bin/time', ['-v', process.execPath, bundle, ...args], {
    cwd: work,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'memory', FIBBARS_HEARTBEAT_MS: '0' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const peakKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)/.exec(result.stderr)?.[1];
  const done = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.status !== 0) {
    console.error(`memory: ${args.join(' ')} failed (exit ${result.status})\n${result.stderr.slice(-2000)}`);
    process.exit(1);
  }
  console.log(JSON.stringify({ command: args.join(' '), peakRssMiB: Math.round(peakKiB / 1024), wall, report: JSON.parse(done).report?.consolidate?.rows ?? undefined }));
}

for (let year = 2025 - Number(values.years) + 1; year <= 2025; year += 1) {
  const generated = spawnSync(process.execPath, [generator, lake, values.tickers, String(year)], { stdio: 'inherit' });
  if (generated.status !== 0) process.exit(generated.status ?? 1);
  measure(['consolidate']);
}
measure(['resample', '--days', '3,5,8,13,21,34']);
if (values.lake === undefined) rmSync(work, { recursive: true, force: true });
