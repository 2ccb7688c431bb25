import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';
import { startLocalRegistry } from '../../src/local-registry.mjs';

// A release rehearsal on a clone of HEAD: changesets publishes the public
// packages to a verdaccio on loopback, a changeset bumps one package, a second
// publish ships only what is new, and plain npm installs the CLI and the core
// library from that registry into an empty folder.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);
const releaseBin = (name: string) => path.join(root, 'tools', 'release', 'node_modules', '.bin', name);
const nxEnv = { NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: unknown;
  dependencies?: Record<string, string>;
}

const timings: Record<string, number> = {};
function timed<T>(label: string, fn: () => T): T {
  const started = Date.now();
  try {
    return fn();
  } finally {
    timings[label] = (Date.now() - started) / 1000;
  }
}

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env: { ...process.env, ...nxEnv, ...env }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}
function ok(result: SpawnSyncReturns<string>, what: string): string {
  if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Every workspace package: directory -> manifest. */
function manifests(tree: string): Map<string, Manifest> {
  const out = new Map<string, Manifest>();
  for (const group of ['packages', 'apps', 'tools']) {
    for (const entry of fs.readdirSync(path.join(tree, group))) {
      const file = path.join(tree, group, entry, 'package.json');
      if (fs.existsSync(file)) out.set(`${group}/${entry}`, JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest);
    }
  }
  return out;
}

/** Names of the workspace packages that depend, directly or not, on `name`. */
function dependentsOf(name: string, all: Manifest[]): Set<string> {
  const found = new Set<string>();
  let frontier = [name];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const m of all) {
      const deps = Object.keys(m.dependencies ?? {});
      if (!found.has(m.name) && frontier.some((f) => deps.includes(f))) {
        found.add(m.name);
        next.push(m.name);
      }
    }
    frontier = next;
  }
  return found;
}

type Packument = { versions: Record<string, Manifest & { dist: { tarball: string } }> };

/** One GET on a fresh connection (verdaccio drops idle keep-alive sockets between the slow steps). */
function get(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Every path string an exports map (any condition, any depth) points to. */
function exportTargets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(exportTargets);
  return [];
}

describe('a release through changesets to a local registry', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-release-'));
  const tree = path.join(tmp, 'tree');
  let registry: Awaited<ReturnType<typeof startLocalRegistry>>;
  let publicDirs: string[] = [];

  const packument = async (name: string) => {
    const res = await get(`${registry.url}${name.replace('/', '%2f')}`);
    return { status: res.status, body: res.status === 200 ? (JSON.parse(res.body.toString('utf8')) as Packument) : null };
  };
  const publishedVersions = async (name: string) => Object.keys((await packument(name)).body?.versions ?? {}).sort();
  const changeset = (...args: string[]) => run(bin('changeset'), args, tree, registry.env);

  beforeAll(async () => {
    // The public packages as the release script builds them: built before this test by
    // its target's dependsOn. Not rebuilt here: a rebuild rewrites dist/ in place while
    // other suites (running beside this one) import from it.
    timed('builds present', () => {
      const unbuilt = [...manifests(root)].filter(([dir, m]) => dir.startsWith('packages/') && m.private !== true && !fs.existsSync(path.join(root, dir, 'dist', 'index.js')));
      if (unbuilt.length > 0) {
        throw new Error(`the public packages are not built (${unbuilt.map(([dir]) => dir).join(', ')}): run "nx run-many -t build --projects=tag:public" (nx run release:test does it first)`);
      }
    });
    // A clone, not a worktree: the tags changesets creates stay in it.
    ok(run('git', ['clone', '--quiet', '--shared', root, tree], tmp), 'git clone');
    // The rehearsal starts from a released state: changesets pending on main
    // (work not yet versioned) would bump their packages in the test below,
    // which checks that one changeset bumps only its package and dependents.
    const pending = fs.readdirSync(path.join(tree, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    if (pending.length > 0) {
      ok(run('git', ['rm', '--quiet', ...pending.map((f) => `.changeset/${f}`)], tree), 'git rm pending changesets');
      ok(run('git', ['-c', 'user.name=release-rehearsal', '-c', 'user.email=rehearsal@localhost', 'commit', '--quiet', '-m', 'rehearsal: start from a released state'], tree), 'git commit');
    }
    timed('install (offline)', () =>
      ok(run('pnpm', ['install', '--offline', '--frozen-lockfile', '--ignore-scripts', '--reporter=silent'], tree), 'pnpm install'),
    );
    const all = manifests(tree);
    publicDirs = [...all].filter(([dir, m]) => dir.startsWith('packages/') && m.private !== true).map(([dir]) => dir);
    for (const dir of publicDirs) fs.cpSync(path.join(root, dir, 'dist'), path.join(tree, dir, 'dist'), { recursive: true });
    const started = Date.now();
    registry = await startLocalRegistry({ dir: path.join(tmp, 'registry') });
    timings['registry start'] = (Date.now() - started) / 1000;
  });

  afterAll(async () => {
    await registry?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`release rehearsal timings (s): ${JSON.stringify(timings)}`);
  });

  it('publishes every public package and no private one on the first release', async () => {
    const out = timed('publish #1', () => ok(changeset('publish'), 'changeset publish'));
    const all = manifests(tree);
    for (const dir of publicDirs) {
      const m = all.get(dir) as Manifest;
      expect(await publishedVersions(m.name)).toEqual([m.version]);
    }
    expect(publicDirs.sort()).toEqual(['packages/asl-definition', 'packages/batch-runner', 'packages/fetchers', 'packages/ohlcv-core', 'packages/ops-cli']);
    for (const [dir, m] of all) {
      if (m.private === true) expect({ dir, status: (await packument(m.name)).status }).toEqual({ dir, status: 404 });
    }
    expect(out).not.toMatch(/failed to publish/);
  });

  it('ships complete tarballs: every file the exports map, main, types and bin name is inside, no workspace: range', async () => {
    const unpacked = path.join(tmp, 'unpacked');
    for (const dir of publicDirs) {
      const m = manifests(tree).get(dir) as Manifest;
      const doc = (await packument(m.name)).body;
      const dist = doc?.versions[m.version]?.dist;
      expect(dist).toBeDefined();
      const file = path.join(tmp, `${m.name.replace('/', '-')}-${m.version}.tgz`);
      fs.writeFileSync(file, (await get(dist?.tarball ?? '')).body);
      const target = path.join(unpacked, m.name);
      fs.mkdirSync(target, { recursive: true });
      await tar.extract({ file, cwd: target, strip: 1 });
      const published = JSON.parse(fs.readFileSync(path.join(target, 'package.json'), 'utf8')) as Manifest;
      const pointed = [...exportTargets(published.exports), published.main, published.types, ...Object.values(published.bin ?? {})].filter(
        (p): p is string => typeof p === 'string',
      );
      const missing = pointed.filter((p) => !fs.existsSync(path.join(target, p)));
      expect({ name: m.name, missing }).toEqual({ name: m.name, missing: [] });
      expect({ name: m.name, ranges: Object.values(published.dependencies ?? {}).filter((r) => r.startsWith('workspace:')) }).toEqual({
        name: m.name,
        ranges: [],
      });
      // Build outputs meant for deployment never ride along in the npm tarball.
      const shipped = fs.readdirSync(path.join(target, 'dist'));
      expect(shipped.filter((f) => ['bundle', 'lambda', 'artifacts'].includes(f))).toEqual([]);
    }
  });

  it('passes publint and attw (esm-only profile) on every published tarball', () => {
    const problems: string[] = [];
    timed('publint + attw', () => {
      for (const dir of publicDirs) {
        const m = manifests(tree).get(dir) as Manifest;
        const unpackedDir = path.join(tmp, 'unpacked', m.name);
        const lint = run(releaseBin('publint'), [unpackedDir, '--pack', 'false', '--strict'], tmp);
        if (lint.status !== 0 || !/All good/.test(lint.stdout)) problems.push(`publint ${m.name}: ${lint.stdout}${lint.stderr}`);
        const tgz = path.join(tmp, `${m.name.replace('/', '-')}-${m.version}.tgz`);
        const types = run(releaseBin('attw'), [tgz, '--profile', 'esm-only', '--format', 'ascii'], tmp);
        if (types.status !== 0) problems.push(`attw ${m.name}: ${types.stdout}${types.stderr}`);
      }
    });
    expect(problems).toEqual([]);
  });

  it('bumps only the package a changeset names, plus its dependents, on changeset version', () => {
    const before = manifests(tree);
    fs.writeFileSync(path.join(tree, '.changeset', 'engine-fix.md'), "---\n'@fibbars/asl-definition': patch\n---\n\nA fix in the local engine.\n");
    ok(run('git', ['add', '.changeset/engine-fix.md'], tree), 'git add');
    // changesets' own plan is the reference for the new versions.
    const planFile = path.join(tmp, 'plan.json');
    ok(changeset('status', `--output=${planFile}`), 'changeset status');
    const plan = JSON.parse(fs.readFileSync(planFile, 'utf8')) as { releases: { name: string; type: string; newVersion: string }[] };
    // Type "none": a dependent whose range is rewritten without a new version.
    const planned = plan.releases.filter((r) => r.type !== 'none');
    timed('changeset version', () => ok(changeset('version'), 'changeset version'));
    const after = manifests(tree);

    const bumped = [...after].filter(([dir, m]) => before.get(dir)?.version !== m.version).map(([, m]) => m.name).sort();
    expect(bumped).toEqual(planned.map((r) => r.name).sort());
    for (const r of planned) expect([...after.values()].find((m) => m.name === r.name)?.version).toBe(r.newVersion);
    expect(bumped).toContain('@fibbars/asl-definition');
    // The state machine is deployed by the stack: the private infra package
    // (asl-definition at `workspace:*`) gets a version, and so a release tag.
    expect(bumped).toContain('@fibbars/infra-cdk');
    const allowed = new Set(['@fibbars/asl-definition', ...dependentsOf('@fibbars/asl-definition', [...before.values()])]);
    expect(bumped.filter((name) => !allowed.has(name))).toEqual([]);

    // The packages below it in the graph are untouched, byte for byte.
    const changed = ok(run('git', ['status', '--porcelain'], tree), 'git status');
    for (const dir of ['packages/ohlcv-core', 'packages/fetchers', 'packages/batch-runner']) expect(changed).not.toContain(`${dir}/`);
    expect(changed).toContain('packages/asl-definition/CHANGELOG.md');
  });

  it('publishes only the versions the registry does not have yet on the next release', async () => {
    const before = new Map<string, string[]>();
    const all = manifests(tree);
    for (const dir of publicDirs) {
      const name = (all.get(dir) as Manifest).name;
      before.set(name, await publishedVersions(name));
    }
    timed('publish #2', () => ok(changeset('publish'), 'changeset publish'));
    for (const dir of publicDirs) {
      const m = all.get(dir) as Manifest;
      const was = before.get(m.name) ?? [];
      const expected = was.includes(m.version) ? was : [...was, m.version].sort();
      expect({ name: m.name, versions: await publishedVersions(m.name) }).toEqual({ name: m.name, versions: expected });
    }
    // The bumped package was new to the registry, and is there now.
    const asl = all.get('packages/asl-definition') as Manifest;
    expect(before.get(asl.name)).not.toContain(asl.version);
    expect(await publishedVersions(asl.name)).toContain(asl.version);
  });

  it('installs ops-cli and ohlcv-core with plain npm into an empty folder: fibbars --help and a resample run', () => {
    const consumer = path.join(tmp, 'consumer');
    fs.mkdirSync(consumer);
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // Our scope from the local registry, everything else from the npm registry (and npm's cache).
    fs.writeFileSync(path.join(consumer, '.npmrc'), `@fibbars:registry=${registry.url}\n`);
    const npmEnv = { npm_config_userconfig: path.join(consumer, '.npmrc'), npm_config_registry: 'https://registry.npmjs.org/' };
    // nodejs-polars selects its native module as an optional dependency whose manifest says
    // Node >= 22, and npm leaves out an optional package whose engines do not match: on Node
    // 20 the user names the platform's module, as ohlcv-core's README tells them to; on 22
    // and later the plain install selects it by itself.
    const node20 = Number(process.versions.node.split('.')[0]) < 22;
    const native = 'nodejs-polars-linux-x64-gnu';
    const wanted = ['@fibbars/ops-cli', '@fibbars/ohlcv-core', ...(node20 ? [`${native}@0.25.2`] : [])];
    timed('npm install', () => ok(run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...wanted], consumer, npmEnv), 'npm install'));
    // The CLI's caret range picks up the dependency released after it.
    const asl = manifests(tree).get('packages/asl-definition') as Manifest;
    const resolved = JSON.parse(fs.readFileSync(path.join(consumer, 'node_modules/@fibbars/asl-definition/package.json'), 'utf8')) as Manifest;
    expect(resolved.version).toBe(asl.version);
    const help = run('npx', ['fibbars', '--help'], consumer, npmEnv);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: fibbars/);
    for (const command of ['run', 'backfill', 'resample', 'bars', 'plot']) expect(help.stdout).toMatch(new RegExp(`\\n  ${command}\\b`));

    const snippet =
      "import('@fibbars/ohlcv-core').then(async ({ resample, nyse }) => {" +
      " const pl = (await import('nodejs-polars')).default;" +
      " const date = nyse.sessionsBetween('2024-01-02', '2024-02-29');" +
      " const close = date.map((_, i) => 100 + (i % 7));" +
      " const daily = pl.DataFrame({ ticker: date.map(() => 'ABC'), date, open: close, high: close.map((c) => c + 1), low: close.map((c) => c - 1), close, volume: date.map((_, i) => 1000 + i) })" +
      ".withColumns(pl.col('date').str.strptime(pl.Date, '%Y-%m-%d'));" +
      " const bars = resample(daily, { days: 5 });" +
      " console.log(JSON.stringify({ sessions: date.length, volume: daily.getColumn('volume').sum(), bars: bars.select('start_date', 'end_date', 'open', 'high', 'low', 'close', 'volume', 'n_days').toRecords() }));" +
      ' })';
    // Neither published package names a platform module; on Node 22+ nothing else did either,
    // so the module installed is the one nodejs-polars selected.
    for (const pkg of ['ops-cli', 'ohlcv-core']) {
      const manifest = JSON.parse(fs.readFileSync(path.join(consumer, 'node_modules/@fibbars', pkg, 'package.json'), 'utf8')) as Manifest & { dependencies?: Record<string, string> };
      expect(manifest.dependencies ?? {}).not.toHaveProperty(native);
    }
    if (!node20) expect(JSON.parse(fs.readFileSync(path.join(consumer, 'package.json'), 'utf8')).dependencies).not.toHaveProperty(native);
    expect(fs.existsSync(path.join(consumer, 'node_modules', native, 'package.json'))).toBe(true);
    const installed = run(process.execPath, ['-e', snippet], consumer);
    expect(installed.stderr).toBe('');
    expect(installed.status).toBe(0);
    // The reference: the same snippet on the workspace build of ohlcv-core.
    const reference = run(process.execPath, ['-e', snippet], path.join(root, 'packages/ohlcv-core'));
    expect(reference.status).toBe(0);
    expect(installed.stdout).toBe(reference.stdout);
    const result = JSON.parse(installed.stdout) as { sessions: number; volume: number; bars: { volume: number; n_days: number }[] };
    expect(result.bars.length).toBeGreaterThan(1);
    expect(result.bars.reduce((s, b) => s + b.n_days, 0)).toBe(result.sessions);
    expect(result.bars.reduce((s, b) => s + b.volume, 0)).toBe(result.volume);
  });
});
