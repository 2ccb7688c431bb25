// The image's file layout without an engine: a folder holding only what the
// Dockerfile copies (main.js, its map, package.json) plus the production
// dependencies the bundle's package.json lists. The bundle must run from it,
// so nothing it needs can come from the workspace.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runNode, type ProcessResult } from '@fibbars/testing';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { openLake } from '@fibbars/ohlcv-core';
import { syntheticMarket } from '@fibbars/testing/market';
import { lastSessions, writeRawSessions } from './support/market.js';
import { PACKAGE_ROOT } from './support/run-bundle.js';

function runApp(main: string, args: string[], cwd: string, env: Record<string, string>): Promise<ProcessResult> {
  return runNode(main, args, { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, { cwd });
}

describe('bundle in the image layout', () => {
  let work: string;
  let app: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'batch-runner-app-'));
    app = join(work, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    const dockerfile = readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8');
    const copied = /^COPY (dist\/bundle\/\S+(?: dist\/bundle\/\S+)*) \.\/$/m.exec(dockerfile)?.[1]?.split(' ') ?? [];
    expect(copied).toContain('dist/bundle/main.js');
    for (const file of copied) cpSync(join(PACKAGE_ROOT, file), join(app, file.replace('dist/bundle/', '')));
    // What `npm install --omit=dev` puts into the image: the listed dependencies only.
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    // Each one as installed here: the package's own dependency, or (the native module)
    // the optional dependency the package manager installed beside nodejs-polars.
    const polars = realpathSync(join(PACKAGE_ROOT, 'node_modules', 'nodejs-polars'));
    for (const name of Object.keys(pkg.dependencies)) {
      const own = join(PACKAGE_ROOT, 'node_modules', name);
      const installed = existsSync(own) ? own : dirname(createRequire(join(polars, 'package.json')).resolve(`${name}/package.json`));
      symlinkSync(realpathSync(installed), join(app, 'node_modules', name), 'dir');
    }
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('consolidates a lake from a folder that holds only the image files', async () => {
    const lake = join(work, 'lake');
    const sessions = lastSessions('2024-05-31', 3);
    await writeRawSessions(lake, syntheticMarket(sessions, 10));

    const result = await runApp(join(app, 'main.js'), ['consolidate'], app, { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'image-layout', FIBBARS_HEARTBEAT_MS: '0' });

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({ msg: 'done', report: { status: 'committed' } });
    expect((await openLake(lake).read('ohlcv_1d')).height).toBe(30);
  });

  it('runs the nodejs-polars JavaScript it carries (with the repository patch), not the copy the image installs from the registry', async () => {
    // The patch (patches/, ohlcv-core README "Decisions") moves the wrappers' computed keys last.
    const bundle = readFileSync(join(app, 'main.js'), 'utf8');
    expect(bundle).toContain("computed keys last: V8 builds the members above from the literal's boilerplate");
    // Without nodejs-polars' own files beside it (only the native module), the bundle still runs.
    const bare = join(work, 'bare');
    mkdirSync(join(bare, 'node_modules'), { recursive: true });
    for (const file of ['main.js', 'package.json']) cpSync(join(app, file), join(bare, file));
    symlinkSync(realpathSync(join(app, 'node_modules', 'nodejs-polars-linux-x64-gnu')), join(bare, 'node_modules', 'nodejs-polars-linux-x64-gnu'), 'dir');
    const lake = join(work, 'lake-bare');
    await writeRawSessions(lake, syntheticMarket(lastSessions('2024-05-31', 2), 10));

    const result = await runApp(join(bare, 'main.js'), ['consolidate'], bare, { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'bare-layout', FIBBARS_HEARTBEAT_MS: '0' });

    expect({ code: result.code, stderr: result.stderr.slice(-300) }).toEqual({ code: 0, stderr: expect.any(String) });
    expect((await openLake(lake).read('ohlcv_1d')).height).toBe(20);
  });
});
