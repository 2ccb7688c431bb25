// The image script's build-context check (`--check-context`: it fails when a
// file the Dockerfile copies is missing or excluded), and its refusal to
// succeed without building: no engine and no umoci is exit 1 with one line.
// The daemonless build itself: tools/release/tests/oci.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runNode, type ProcessResult } from '@fibbars/testing';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './support/run-bundle.js';

const IMAGE_SCRIPT = join(PACKAGE_ROOT, 'scripts', 'image.mjs');

function runImage(args: string[], env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }): Promise<ProcessResult> {
  return runNode(IMAGE_SCRIPT, ['--check-context', ...args], env, { cwd: PACKAGE_ROOT });
}

/** A copy of the build context in a temp folder, to break on purpose. */
function copyContext(into: string): string {
  const context = mkdtempSync(join(into, 'context-'));
  for (const file of ['Dockerfile', '.dockerignore']) cpSync(join(PACKAGE_ROOT, file), join(context, file));
  mkdirSync(join(context, 'dist'));
  cpSync(join(PACKAGE_ROOT, 'dist', 'bundle'), join(context, 'dist', 'bundle'), { recursive: true });
  return context;
}

describe('image script: the build context', () => {
  let work: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'batch-runner-image-'));
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('says on one line that it checked the context and built no image, exit 0, when the context is complete', async () => {
    const result = await runImage([]);

    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^image: build context checked, no image built: .*dist\/bundle\/main\.js/)]);
  });

  it('exits 1 naming the bundle when it is missing', async () => {
    const context = copyContext(work);
    rmSync(join(context, 'dist', 'bundle', 'main.js'));

    const result = await runImage(['--context', context]);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^image: build context incomplete: dist\/bundle\/main\.js is missing/);
  });

  it('exits 1 when .dockerignore excludes a file the Dockerfile copies', async () => {
    const context = copyContext(work);
    writeFileSync(join(context, '.dockerignore'), `${readFileSync(join(context, '.dockerignore'), 'utf8')}dist/bundle/*.map\n`);

    const result = await runImage(['--context', context]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('dist/bundle/main.js.map is excluded by .dockerignore');
  });

  it('exits 1 when the bundle package.json does not list the native Polars module', async () => {
    const context = copyContext(work);
    const path = join(context, 'dist', 'bundle', 'package.json');
    const pkg = JSON.parse(readFileSync(path, 'utf8')) as { dependencies: Record<string, string> };
    delete pkg.dependencies['nodejs-polars-linux-x64-gnu'];
    writeFileSync(path, JSON.stringify(pkg));

    const result = await runImage(['--context', context]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('does not list nodejs-polars-linux-x64-gnu');
  });
});

describe('image script: never a success without an image', () => {
  it('fails with one line when no engine runs and umoci is not installed', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'batch-runner-nopath-'));
    const result = await runNode(IMAGE_SCRIPT, [], { PATH: empty }, { cwd: PACKAGE_ROOT });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'image: no container engine is running and umoci is not installed: start Docker or Podman, or install umoci (apt-get install umoci)',
    );
    expect(result.stdout).toBe('');
  });

  it('refuses an unknown engine or argument with exit 2', async () => {
    const engine = await runNode(IMAGE_SCRIPT, [], { PATH: process.env['PATH'] ?? '/usr/bin:/bin', FIBBARS_IMAGE_ENGINE: 'none' }, { cwd: PACKAGE_ROOT });
    expect(engine.code).toBe(2);
    expect(engine.stderr.trim()).toBe('image: FIBBARS_IMAGE_ENGINE must be docker, podman or umoci (got "none")');
    const arg = await runNode(IMAGE_SCRIPT, ['--fast'], { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, { cwd: PACKAGE_ROOT });
    expect(arg.code).toBe(2);
    expect(arg.stderr.trim()).toBe('image: unknown argument --fast; usage: image.mjs [--check-context] [--context DIR]');
  });
});
