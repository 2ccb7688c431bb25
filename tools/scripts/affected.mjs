#!/usr/bin/env node
// Runs Nx targets on the projects a change touches.
// Base: $NX_BASE, else origin/main when it exists, else HEAD~1.
//   node tools/scripts/affected.mjs -t test
//   node tools/scripts/affected.mjs --print          (just list the projects)
import { spawnSync } from 'node:child_process';

process.env.NX_DAEMON ??= 'false';
process.env.NX_NO_CLOUD ??= 'true';
process.env.NX_TUI ??= 'false';

const git = (...args) => spawnSync('git', args, { encoding: 'utf8' });
function resolveBase() {
  if (process.env.NX_BASE) return process.env.NX_BASE;
  if (git('rev-parse', '--verify', '--quiet', 'origin/main').status === 0) return 'origin/main';
  if (git('rev-parse', '--verify', '--quiet', 'HEAD~1').status === 0) return 'HEAD~1';
  console.error('affected: no base to compare with (set NX_BASE, or fetch origin/main)');
  process.exit(2);
}
const base = resolveBase();
const head = process.env.NX_HEAD ?? 'HEAD';
const args = process.argv.slice(2);
const print = args[0] === '--print';
const nxArgs = print
  ? ['show', 'projects', '--affected', `--base=${base}`, `--head=${head}`]
  : ['affected', `--base=${base}`, `--head=${head}`, '--output-style=stream', ...args];
console.error(`affected: base ${base}, head ${head}`);
const r = spawnSync('pnpm', ['exec', 'nx', ...nxArgs], { stdio: 'inherit' });
process.exit(r.status ?? 1);
