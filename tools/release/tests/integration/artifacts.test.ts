import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const script = path.join(root, 'tools/release/src/artifacts.mjs');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };

const CORE_CHANGE = 'packages/ohlcv-core/src/index.ts';
const CLI_CHANGE = 'packages/ops-cli/src/index.ts';

// Nx colours its output when run under Nx (FORCE_COLOR): compare plain text.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const plain = (text: string) => text.replace(ANSI, '');
function run(command: string, args: string[], extraEnv: Record<string, string> = {}) {
  const r = spawnSync(command, args, { cwd: root, env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { ...r, stdout: plain(r.stdout), stderr: plain(r.stderr) };
}
const nx = (...args: string[]) => run(path.join(root, 'node_modules/.bin/nx'), args);
const artifacts = (...args: string[]) => run(process.execPath, [script, ...args]);
const version = (dir: string): string => (JSON.parse(fs.readFileSync(path.join(root, dir, 'package.json'), 'utf8')) as { version: string }).version;
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

interface Deployable {
  project: string;
  version: string;
  kind: string;
  artifacts: string[];
  image?: string;
}

describe('which artifacts a release deploys (artifacts.mjs list)', () => {
  it('lists every deployable, each named with its package version, when ohlcv-core changes', () => {
    const result = artifacts('list', `--files=${CORE_CHANGE}`, '--json');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const fetchers = version('packages/fetchers');
    const runner = version('packages/batch-runner');
    expect(JSON.parse(result.stdout) as Deployable[]).toEqual([
      {
        project: 'batch-runner',
        version: runner,
        kind: 'image-context',
        artifacts: [`packages/batch-runner/dist/artifacts/batch-runner-image-${runner}.tar`],
        image: `fibbars/batch-runner:${runner}`,
      },
      {
        project: 'fetchers',
        version: fetchers,
        kind: 'lambda-zip',
        artifacts: [`packages/fetchers/dist/artifacts/ohlcv-${fetchers}.zip`, `packages/fetchers/dist/artifacts/meta-${fetchers}.zip`],
      },
      { project: 'infra', version: version('apps/infra-cdk'), kind: 'stack', artifacts: [] },
    ]);
  });

  it('lists nothing and says so when only ops-cli changes', () => {
    const json = artifacts('list', `--files=${CLI_CHANGE}`, '--json');
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
    const human = artifacts('list', `--files=${CLI_CHANGE}`);
    expect(human.stdout.trim()).toBe('no deployable is affected: this release deploys nothing');
  });

  it('agrees with Nx on which projects have an affected package target', () => {
    const withPackage = (file: string) => {
      const r = nx('show', 'projects', '--affected', `--files=${file}`, '--withTarget=package', '--json');
      expect(r.status).toBe(0);
      return (JSON.parse(r.stdout) as string[]).sort();
    };
    expect(withPackage(CORE_CHANGE)).toEqual(['batch-runner', 'fetchers']);
    expect(withPackage(CLI_CHANGE)).toEqual([]);
    expect(withPackage('packages/fetchers/src/index.ts')).toEqual(['fetchers']);
  });

  it('lists the Lambda zips and the stack, not the image, when only fetchers change', () => {
    const result = artifacts('list', '--files=packages/fetchers/src/index.ts', '--json');
    expect(result.status).toBe(0);
    expect((JSON.parse(result.stdout) as Deployable[]).map((d) => [d.project, d.artifacts.length])).toEqual([
      ['fetchers', 2],
      ['infra', 0],
    ]);
  });

  it('refuses bad usage with one line and exit code 2', () => {
    for (const args of [['list', '--bogus'], ['stage', 'ops-cli'], ['list', '--files=a', '--base=main'], ['deploy']]) {
      const r = artifacts(...args);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^artifacts: /);
    }
  });
});

describe('nx affected -t package', () => {
  it('runs no package task when only ops-cli changes', () => {
    const r = nx('affected', '-t', 'package', '--exclude-task-dependencies', `--files=${CLI_CHANGE}`, '--output-style=static');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/fetchers:package|batch-runner:package/);
  });

  it('builds the Lambda zips and the image context, named with their versions, when ohlcv-core changes', () => {
    const r = nx('affected', '-t', 'package', '--exclude-task-dependencies', `--files=${CORE_CHANGE}`, '--output-style=static');
    expect(r.stderr + r.stdout).toMatch(/Successfully ran target package/);
    expect(r.status).toBe(0);
    const listed = JSON.parse(artifacts('list', `--files=${CORE_CHANGE}`, '--json').stdout) as Deployable[];
    const files = listed.flatMap((d) => d.artifacts);
    expect(files).toHaveLength(3);
    for (const d of listed.filter((x) => x.kind !== 'stack')) {
      const dir = path.join(root, path.dirname(d.artifacts[0] ?? ''));
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
        version: string;
        files: { path: string; bytes: number; sha256: string }[];
      };
      expect(manifest.version).toBe(d.version);
      // Exactly the versioned files, each matching its recorded digest.
      expect(fs.readdirSync(dir).sort()).toEqual([...d.artifacts.map((f) => path.basename(f)), 'manifest.json'].sort());
      for (const f of manifest.files) expect(sha256(path.join(root, 'packages', d.project, f.path))).toBe(f.sha256);
    }
    // The versioned zips are byte copies of the zips infra-cdk deploys.
    const v = version('packages/fetchers');
    for (const handler of ['ohlcv', 'meta']) {
      expect(sha256(path.join(root, `packages/fetchers/dist/artifacts/${handler}-${v}.zip`))).toBe(
        sha256(path.join(root, `packages/fetchers/dist/lambda/${handler}.zip`)),
      );
    }
  });

  it('packs an image context that the image script accepts, identical when staged twice', async () => {
    const v = version('packages/batch-runner');
    const tarball = path.join(root, `packages/batch-runner/dist/artifacts/batch-runner-image-${v}.tar`);
    const before = sha256(tarball);
    const again = artifacts('stage', 'batch-runner');
    expect(again.status).toBe(0);
    expect(sha256(tarball)).toBe(before);

    const context = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-image-context-'));
    try {
      await tar.extract({ file: tarball, cwd: context });
      const check = run(process.execPath, [path.join(root, 'packages/batch-runner/scripts/image.mjs'), '--check-context', '--context', context]);
      expect(check.stderr).toBe('');
      expect(check.status).toBe(0);
      expect(check.stdout).toMatch(/build context checked/);
      const bundled = JSON.parse(fs.readFileSync(path.join(context, 'dist/bundle/package.json'), 'utf8')) as { version: string };
      expect(bundled.version).toBe(v);
    } finally {
      fs.rmSync(context, { recursive: true, force: true });
    }
  });
});
