#!/usr/bin/env node
// Runs an Nx target on the deployables changed since the last release
// (`base.mjs`): `pnpm package:affected`, `pnpm publish:affected`.
//
//   node tools/release/src/affected.mjs -t package [--base REF] [other nx flags]
//
// With no release tag yet, every deployable that has the target runs.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { releaseBase } from './base.mjs';
import { WORKSPACE_ROOT } from './manifest.mjs';

function parse(argv) {
  const rest = [];
  let target;
  let base;
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[(i += 1)];
    if (flag === '-t' || flag === '--target') target = value();
    else if (flag === '--base') base = value();
    else rest.push(argv[i]);
  }
  if (target === undefined || target === '') throw new Error('usage: affected.mjs -t <target> [--base REF] [nx flags]');
  return { target, base, rest };
}

try {
  const { target, base, rest } = parse(process.argv.slice(2));
  const chosen = releaseBase({ base });
  console.error(`affected: ${chosen.reason}`);
  const nxArgs =
    chosen.base === null
      ? ['run-many', '-t', target, '--projects=tag:deployable', ...rest]
      : ['affected', '-t', target, `--base=${chosen.base}`, ...rest];
  const env = { NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', ...process.env };
  const nx = path.join(WORKSPACE_ROOT, 'node_modules', '.bin', 'nx');
  const result = spawnSync(nx, [...nxArgs, '--output-style=stream'], { cwd: WORKSPACE_ROOT, env, stdio: 'inherit' });
  process.exitCode = result.status ?? 1;
} catch (error) {
  console.error(`affected: ${error.message}`);
  process.exitCode = 2;
}
