import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { quickStartCommands, verifyQuickStartLake } from '../quickstart.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };

const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);

function nx(...args: string[]): string {
  const r = spawnSync(bin('nx'), args, { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nx ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
const affectedBy = (file: string): string[] =>
  (JSON.parse(nx('show', 'projects', '--affected', `--files=${file}`, '--json')) as string[]).sort();

const SIX = ['asl-definition', 'batch-runner', 'fetchers', 'infra', 'ohlcv-core', 'ops-cli'];

describe('the Nx project graph', () => {
  it('lists the six projects of the design', () => {
    const projects = JSON.parse(nx('show', 'projects', '--json')) as string[];
    expect(projects).toEqual(expect.arrayContaining(SIX));
  });

  it('gives every project build, test, lint and typecheck targets', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-graph-')), 'graph.json');
    nx('graph', `--file=${file}`);
    const graph = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      graph: { nodes: Record<string, { data: { targets: Record<string, unknown> } }> };
    };
    for (const name of SIX) {
      expect(Object.keys(graph.graph.nodes[name]?.data.targets ?? {})).toEqual(
        expect.arrayContaining(['build', 'test', 'lint', 'typecheck']),
      );
    }
  });

  it('runs every dependent of ohlcv-core when ohlcv-core changes', () => {
    const affected = affectedBy('packages/ohlcv-core/src/index.ts');
    expect(affected).toEqual(expect.arrayContaining(['ohlcv-core', 'fetchers', 'batch-runner', 'ops-cli', 'asl-definition', 'infra']));
  });

  it('runs only ops-cli when only ops-cli changes', () => {
    // Workspace tools (tag "tool": reliability suite, release checks) test the
    // product end to end, so they rightly run too; no other product project does.
    const affected = affectedBy('packages/ops-cli/src/index.ts');
    expect(affected.filter((p) => SIX.includes(p))).toEqual(['ops-cli']);
    const tools = JSON.parse(nx('show', 'projects', '--projects=tag:tool', '--json')) as string[];
    expect(affected.filter((p) => p !== 'ops-cli').every((p) => tools.includes(p))).toBe(true);
  });

  it('runs the deployables but not ohlcv-core when fetchers change', () => {
    const affected = affectedBy('packages/fetchers/src/index.ts');
    expect(affected).toEqual(expect.arrayContaining(['fetchers', 'asl-definition', 'ops-cli', 'infra']));
    expect(affected).not.toContain('ohlcv-core');
    expect(affected).not.toContain('batch-runner');
  });
});

describe('independent versioning with changesets', () => {
  const config = JSON.parse(fs.readFileSync(path.join(root, '.changeset/config.json'), 'utf8'));
  const manifests = [...SIX.filter((p) => p !== 'infra').map((p) => `packages/${p}`), 'apps/infra-cdk'].map(
    (dir) => JSON.parse(fs.readFileSync(path.join(root, dir, 'package.json'), 'utf8')) as Record<string, unknown>,
  );

  it('versions each package on its own', () => {
    expect(config.fixed).toEqual([]);
    expect(config.linked).toEqual([]);
    for (const m of manifests) expect(typeof m.version).toBe('string');
  });

  it('versions and tags the private deployable without publishing it', () => {
    const infra = manifests.find((m) => m.name === '@fibbars/infra-cdk');
    expect(infra?.private).toBe(true);
    expect(config.privatePackages).toEqual({ version: true, tag: true });
  });

  it('plans a release offline that bumps only the package a changeset names', () => {
    // A clean checkout of HEAD, so uncommitted work in this tree does not count.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-changeset-'));
    const tree = path.join(tmp, 'tree');
    const git = (...args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
    expect(git('worktree', 'add', '--detach', tree, 'HEAD').status).toBe(0);
    try {
      const status = (out: string) =>
        spawnSync(bin('changeset'), ['status', '--since=HEAD', `--output=${out}`], { cwd: tree, env, encoding: 'utf8' });
      const clean = status(path.join(tmp, 'clean.json'));
      expect(clean.status).toBe(0);
      expect(JSON.parse(fs.readFileSync(path.join(tmp, 'clean.json'), 'utf8')).releases).toEqual([]);

      fs.writeFileSync(path.join(tree, '.changeset', 'cli-only.md'), "---\n'@fibbars/ops-cli': minor\n---\n\nA new flag.\n");
      expect(spawnSync('git', ['add', '.changeset/cli-only.md'], { cwd: tree }).status).toBe(0);
      expect(status(path.join(tmp, 'cli.json')).status).toBe(0);
      const releases = JSON.parse(fs.readFileSync(path.join(tmp, 'cli.json'), 'utf8')).releases as { name: string; type: string }[];
      // Ignored tool projects show up with type "none": they are not released.
      const bumped = releases.filter((r) => r.type !== 'none');
      expect(bumped.map((r) => [r.name, r.type])).toEqual([['@fibbars/ops-cli', 'minor']]);
    } finally {
      git('worktree', 'remove', '--force', tree);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('the README quick start', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const commands = quickStartCommands(readme);

  it('holds exactly two commands: install and run the pipeline, then run every test', () => {
    expect(commands).toHaveLength(2);
    expect(commands[0]).toMatch(/ install && .* start$/);
    expect(commands[1]).toMatch(/ test$/);
  });

  it('is what .ci/run executes, read from README.md by the same script, command 1 before command 2', () => {
    const ci = fs.readFileSync(path.join(root, '.ci', 'run'), 'utf8');
    const first = ci.indexOf('quickstart.mjs command 1');
    const second = ci.indexOf('quickstart.mjs command 2');
    expect(first).toBeGreaterThan(-1);
    expect(second).toBeGreaterThan(first);
    // The lake check that command 1 must pass sits between the two.
    const verify = ci.indexOf('quickstart.mjs verify lake');
    expect(verify).toBeGreaterThan(first);
    expect(verify).toBeLessThan(second);
    for (const n of [1, 2]) {
      const r = spawnSync(process.execPath, [path.join(root, 'tools/scripts/quickstart.mjs'), 'command', String(n)], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(commands[n - 1]);
    }
  });

  it('reports a lake without a committed 34-session version or a successful run', () => {
    const lake = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-qs-'));
    try {
      expect(verifyQuickStartLake(lake)).toHaveLength(2);
      fs.mkdirSync(path.join(lake, '_commits', 'ohlcv_34d'), { recursive: true });
      fs.writeFileSync(path.join(lake, '_commits', 'ohlcv_34d', `${'1'.padStart(20, '0')}.json`), '{}');
      fs.mkdirSync(path.join(lake, '_runs'));
      fs.writeFileSync(path.join(lake, '_runs', 'r1.json'), JSON.stringify({ status: 'FAILED' }));
      expect(verifyQuickStartLake(lake)).toEqual([expect.stringContaining('no run record with status SUCCEEDED (found: FAILED)')]);
      fs.writeFileSync(path.join(lake, '_runs', 'r2.json'), JSON.stringify({ status: 'SUCCEEDED' }));
      expect(verifyQuickStartLake(lake)).toEqual([]);
    } finally {
      fs.rmSync(lake, { recursive: true, force: true });
    }
  });
});
