// Every code block of the documentation runs, or says why it does not
// (tools/scripts/README.md, "Documentation examples"). Script blocks run on
// Node against the built packages, shell and console blocks run their fibbars
// commands with the built CLI; each gets its own copy of one small real lake
// built once by `fibbars run` (a backfill, then the daily run: two committed
// versions of every dataset, the superseded files still on disk).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { transformSync } from 'esbuild';
import { startS3Server, type TestS3Server } from '../../testing/src/s3-server.js';
import { classify, docBlocks, extractBlocks, FIXTURES, programs, resolveRelativeImports, ROOT } from '../doc-blocks.mjs';

type Block = ReturnType<typeof docBlocks>[number];

const CLI = path.join(ROOT, 'packages/ops-cli/dist/bin.js');
/** What the examples import, built: the packages' `default` exports point at dist/. */
const BUILT = [
  'packages/ohlcv-core/dist/index.js',
  'packages/fetchers/dist/index.js',
  'packages/batch-runner/dist/index.js',
  'packages/batch-runner/dist/bundle/main.js',
  'packages/asl-definition/dist/index.js',
  'packages/ops-cli/dist/bin.js',
  'apps/infra-cdk/dist/index.js',
  'packages/fetchers/dist/lambda/ohlcv.zip',
];
const BUILD_HINT =
  'build them first: `pnpm exec nx run workspace-checks:test` builds them (the target depends on every package build, ' +
  'batch-runner:bundle and fetchers:package), or `pnpm exec nx run-many -t build,bundle,package`';
/** The folder the example files are written to: its node_modules links the workspace packages, as `pnpm add` would. */
const EXAMPLES = path.join(ROOT, 'tools/scripts/tmp/doc-examples');
const LINKS: Record<string, string> = {
  '@fibbars/ohlcv-core': 'packages/ohlcv-core',
  '@fibbars/fetchers': 'packages/fetchers',
  '@fibbars/batch-runner': 'packages/batch-runner',
  '@fibbars/asl-definition': 'packages/asl-definition',
  '@fibbars/ops-cli': 'packages/ops-cli',
  '@fibbars/infra-cdk': 'apps/infra-cdk',
  'nodejs-polars': 'packages/ohlcv-core/node_modules/nodejs-polars',
  '@aws-sdk/client-s3': 'packages/ohlcv-core/node_modules/@aws-sdk/client-s3',
};
/** Buckets of the local S3 emulator that examples with `with=s3` name. */
const S3_BUCKETS = ['my-bucket', 'other-bucket'];
/** This run's example files (a folder per process, so two runs never share one). */
const RUN_DIR = path.join(EXAMPLES, `run-${process.pid}`);
const TIMEOUT_MS = 240_000;
/**
 * The example lake's daily session: a recent one (so a transcript's `fibbars run` has little to catch
 * up), and not the first session of its month (so the daily run rewrites a month file of the backfill).
 */
function runDate(): string {
  const calendar = pathToFileURL(path.join(ROOT, 'packages/ohlcv-core/dist/calendar.js')).href;
  const code = `import { nyse } from '${calendar}';
const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
let d = nyse.latestSessionOnOrBefore(yesterday);
if (nyse.previousSession(d).slice(0, 7) !== d.slice(0, 7)) d = nyse.previousSession(d);
console.log(d);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw failure('picking the example lake\'s session with ohlcv-core\'s calendar', r);
  return r.stdout.trim();
}

const blocks = docBlocks();
const scripts = programs(blocks);
const shells = blocks.filter((b) => b.action === 'run-shell' || b.action === 'run-console');

let base = '';
let binDir = '';
let buildProblem = '';
let s3: TestS3Server | undefined;

/**
 * A clean environment for examples: no API key (synthetic market), no lake override, no Jest flags, no
 * AWS settings; with `withS3`, the SDK settings of the local S3 emulator.
 */
function exampleEnv(withS3 = false): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}` };
  for (const k of ['NODE_OPTIONS', 'FIBBARS_LAKE', 'POLYGON_API_KEY', 'POLYGON_API_KEY_SECRET_ARN', 'JEST_WORKER_ID']) delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith('AWS_')) delete env[k];
  if (withS3) {
    if (!s3) throw new Error('no local S3 emulator is running');
    Object.assign(env, s3.env);
  }
  return env;
}

/** A fresh folder holding a copy of the example lake as `./lake`. */
function workDir(): string {
  const dir = fs.mkdtempSync(path.join(base, 'run-'));
  fs.cpSync(path.join(base, 'lake'), path.join(dir, 'lake'), { recursive: true });
  return dir;
}

function where(b: Pick<Block, 'file' | 'line'>): string {
  return `${b.file}:${b.line}`;
}

/** What a finished child process left: spawnSync's result, or runAsync's. */
interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string | Buffer | null;
  stderr: string | Buffer | null;
  error?: Error;
}

/**
 * Runs a child without blocking this process, so the local S3 emulator that
 * runs here keeps answering it; killed after TIMEOUT_MS.
 */
function runAsync(file: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let error: Error | undefined;
    const timer = setTimeout(() => {
      error = new Error(`timed out after ${TIMEOUT_MS / 1000} s`);
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.on('error', (e) => (error = e));
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ...(error ? { error } : {}) });
    });
  });
}

function failure(label: string, r: Ran): Error {
  const why = r.error ? `${r.error.message}` : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
  return new Error(`${label} failed (${why})\n--- stderr\n${String(r.stderr ?? '').trim()}\n--- stdout\n${String(r.stdout ?? '').trim().slice(-4000)}`);
}

/** Writes a program (fixtures, then its blocks) as an ES module among the examples and runs it in `cwd`. */
function runScript(name: string, source: string, cwd: string, withS3 = false): Promise<Ran> {
  const js = transformSync(resolveRelativeImports(source), { loader: 'ts', format: 'esm', target: 'node20', sourcefile: name }).code;
  const file = path.join(RUN_DIR, `${name.replace(/[^A-Za-z0-9]+/g, '_')}.mjs`);
  fs.mkdirSync(RUN_DIR, { recursive: true });
  fs.writeFileSync(file, js);
  return runAsync(process.execPath, [file], { cwd, env: exampleEnv(withS3) });
}

function programSource(p: (typeof scripts)[number]): string {
  const fixtures = [...new Set(p.blocks.flatMap((b) => b.with))].map((f) => `// fixture ${f}\n${FIXTURES[f as keyof typeof FIXTURES]}`);
  return [...fixtures, ...p.blocks.map((b) => `// ${where(b)}\n${b.code}`)].join('\n');
}

beforeAll(async () => {
  const missing = BUILT.filter((f) => !fs.existsSync(path.join(ROOT, f)));
  if (missing.length > 0) {
    buildProblem = `the documentation examples need the built packages; missing: ${missing.join(', ')}; ${BUILD_HINT}`;
    return;
  }
  for (const [name, target] of Object.entries(LINKS)) {
    const link = path.join(EXAMPLES, 'node_modules', name);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.rmSync(link, { force: true });
    fs.symlinkSync(fs.realpathSync(path.join(ROOT, target)), link, 'dir');
  }

  base = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-doc-examples-'));
  binDir = path.join(base, 'bin');
  fs.mkdirSync(binDir);
  fs.writeFileSync(path.join(binDir, 'fibbars'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
  // A backfill of the 59 sessions before the run date, then the daily run for it: versions 1 and 2 of
  // every dataset. The date is not the first session of a month, so version 2 rewrites a month file of
  // ohlcv_1d and the superseded one stays on disk (gc's grace period): a glob of silver/ counts it twice.
  const r = spawnSync(process.execPath, [CLI, 'run', '--lake', path.join(base, 'lake'), '--date', runDate(), '--synthetic-tickers', '40', '--backfill-sessions', '59'], {
    cwd: base,
    env: exampleEnv(),
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
  });
  if (r.status !== 0) buildProblem = failure('building the example lake with `fibbars run`', r).message;
  if (scripts.some((p) => p.blocks.some((b) => b.with.includes('s3')))) {
    s3 = await startS3Server();
    for (const bucket of S3_BUCKETS) await s3.createBucket(bucket);
  }
}, TIMEOUT_MS);

afterAll(async () => {
  await s3?.stop();
  if (base) fs.rmSync(base, { recursive: true, force: true });
  fs.rmSync(RUN_DIR, { recursive: true, force: true });
});

function requireLake(): void {
  if (buildProblem) throw new Error(buildProblem);
}

describe('the documentation code blocks', () => {
  it('are found: the READMEs, LAKE.md and docs/ hold executed examples', () => {
    const files = new Set(blocks.map((b) => b.file));
    for (const f of ['README.md', 'packages/ohlcv-core/README.md', 'packages/ohlcv-core/LAKE.md', 'packages/ops-cli/README.md']) expect(files).toContain(f);
    expect(scripts.length).toBeGreaterThan(20);
    expect(shells.length).toBeGreaterThan(5);
  });

  it('each run, or carry `not-run: reason` in the info string (samples: text, console, json)', () => {
    const invalid = blocks.filter((b) => b.action === 'invalid').map((b) => `${where(b)}: ${b.problem}`);
    expect(invalid).toEqual([]);
  });
});

describe('the block convention', () => {
  const md = [
    '```ts', 'run();', '```',
    '```', 'bare', '```',
    '```sql', 'SELECT 1;', '```',
    '```sh not-run:', 'aws s3 ls', '```',
    '```sh', 'fibbars gaps', 'pnpm build', '```',
    '```sh not-run: needs an AWS account', 'aws s3 ls', '```',
    '```console', '$ fibbars bars X --days 5', 'output', '```',
    '```text', 'anything', '```',
    '```ts with=nope', 'x;', '```',
  ].join('\n');
  const got = extractBlocks(md).map((b) => classify(b));

  it('runs scripts, fibbars shell commands and transcripts; accepts samples and marked blocks; names every other block', () => {
    expect(got.map((b) => [b.line, b.action])).toEqual([
      [1, 'run-script'],
      [4, 'invalid'],
      [7, 'invalid'],
      [10, 'invalid'],
      [13, 'invalid'],
      [17, 'not-run'],
      [20, 'run-console'],
      [24, 'sample'],
      [27, 'invalid'],
    ]);
    expect(got[3]!.problem).toMatch(/needs a reason/);
    expect(got[4]!.problem).toMatch(/pnpm build/);
    expect(got[8]!.problem).toMatch(/unknown fixture/);
  });

  it('reports a failing block with its file:line and stderr', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-doc-fail-'));
    try {
      const r = await runScript('docs/EXAMPLE.md:7', "console.error('boom: the example broke'); process.exit(3);", dir);
      expect(failure('docs/EXAMPLE.md:7', r).message).toMatch(/^docs\/EXAMPLE\.md:7 failed \(exit 3\)\n--- stderr\nboom: the example broke/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('script examples (ts, js) run on Node against the built packages', () => {
  it.each(scripts.map((p) => [where(p) + (p.blocks.length > 1 ? ` (+ ${p.blocks.slice(1).map((b) => b.line).join(', ')})` : ''), p] as const))(
    '%s',
    async (label, p) => {
      requireLake();
      const r = await runScript(where(p), programSource(p), workDir(), p.blocks.some((b) => b.with.includes('s3')));
      if (r.status !== 0) throw failure(label, r);
    },
    TIMEOUT_MS,
  );
});

describe('shell and console examples run their fibbars commands on a copy of the lake', () => {
  /** Per file, the folder of its last `fresh` (or `continues`) shell or console block, for a block marked `continues`. */
  const folders = new Map<string, string>();
  it.each(shells.map((b) => [where(b), b] as const))(
    '%s',
    (label, b) => {
      requireLake();
      let cwd: string;
      if (b.continues) {
        const previous = folders.get(b.file);
        if (!previous) throw new Error(`${label}: \`continues\`, but no \`fresh\` shell or console block of ${b.file} ran before it`);
        cwd = previous;
      } else if (b.fresh) {
        cwd = fs.mkdtempSync(path.join(base, 'fresh-'));
        folders.set(b.file, cwd);
      } else {
        cwd = workDir();
      }
      if (b.action === 'run-shell') {
        const r = spawnSync('bash', ['-euo', 'pipefail', '-c', b.code], { cwd, env: exampleEnv(), encoding: 'utf8', timeout: TIMEOUT_MS });
        if (r.status !== 0) throw failure(label, r);
        return;
      }
      for (const c of b.commands ?? []) {
        // A transcript that shows the CLI's one-line error after a command documents a failing command.
        const expectFailure = c.output.some((l: string) => l.startsWith('fibbars: '));
        const r = spawnSync('bash', ['-o', 'pipefail', '-c', c.command], { cwd, env: exampleEnv(), encoding: 'utf8', timeout: TIMEOUT_MS });
        if (expectFailure ? r.status === 0 : r.status !== 0) {
          throw failure(`${label}: $ ${c.command} (expected ${expectFailure ? 'a failure' : 'success'})`, r);
        }
      }
    },
    TIMEOUT_MS,
  );
});

describe("ohlcv-core README's resampleLazy example on a lake with two committed versions", () => {
  const block = blocks.find((b) => b.file === 'packages/ohlcv-core/README.md' && b.action === 'run-script' && b.code.includes('resampleLazy('));

  it('reads the committed daily history only: 34-session bars have n_days <= 34 and count every daily row once', async () => {
    requireLake();
    expect(block).toBeDefined();
    const p = { file: block!.file, line: block!.line, blocks: [block!] };
    const check = `
import __pl from 'nodejs-polars';
import { openLake as __openLake } from '@fibbars/ohlcv-core';
const __lake = __openLake('./lake');
const __bars = await lazy.collect();
const __rows = (await __lake.read('ohlcv_1d')).height;
const __onDisk = (await __pl.scanParquet('lake/silver/ohlcv_1d/**/*.parquet').select(__pl.len().alias('n')).collect()).getColumn('n').get(0);
console.log(JSON.stringify({
  versions: (await __lake.history('ohlcv_1d')).length,
  maxDays: __bars.getColumn('n_days').max(),
  sumDays: __bars.getColumn('n_days').sum(),
  rows: __rows,
  onDisk: Number(__onDisk),
}));`;
    const r = await runScript(`${where(p)}-two-versions`, `${programSource(p)}\n${check}`, workDir());
    if (r.status !== 0) throw failure(`${where(p)} with the n_days check`, r);
    const out = JSON.parse(String(r.stdout).trim().split('\n').at(-1)!) as { versions: number; maxDays: number; sumDays: number; rows: number; onDisk: number };
    // The lake really is the trap: two versions, and the folder holds more rows than the head (a glob would double them).
    expect(out.versions).toBeGreaterThanOrEqual(2);
    expect(out.onDisk).toBeGreaterThan(out.rows);
    expect(out.maxDays).toBeLessThanOrEqual(34);
    expect(out.sumDays).toBe(out.rows);
  }, TIMEOUT_MS);
});
