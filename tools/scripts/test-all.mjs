#!/usr/bin/env node
// `pnpm test`: lint, typecheck and test every project through Nx (cached),
// then print one closing line with the workspace's test counts.
// Extra arguments go to Nx (e.g. `pnpm test --projects=ohlcv-core`).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
process.env.NX_DAEMON ??= 'false';
process.env.NX_NO_CLOUD ??= 'true';
process.env.NX_TUI ??= 'false';

const projects = JSON.parse(
  spawnSync('pnpm', ['exec', 'nx', 'show', 'projects', '--json'], { cwd: root, encoding: 'utf8' }).stdout,
);
const roots = projects.map((name) => {
  const out = spawnSync('pnpm', ['exec', 'nx', 'show', 'project', name, '--json'], { cwd: root, encoding: 'utf8' });
  return { name, root: JSON.parse(out.stdout).root };
});
for (const p of roots) fs.rmSync(path.join(root, p.root, '.test-results'), { recursive: true, force: true });

const targets = process.env.FIBBARS_TEST_TARGETS ?? 'lint,typecheck,test';
const nx = spawnSync(
  'pnpm',
  ['exec', 'nx', 'run-many', '-t', ...targets.split(','), '--output-style=stream', ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);

let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];
const failures = [];
for (const p of roots) {
  const file = path.join(root, p.root, '.test-results', 'summary.json');
  if (!fs.existsSync(file)) continue;
  const s = JSON.parse(fs.readFileSync(file, 'utf8'));
  passed += s.passed;
  failed += s.failed + s.suitesFailed;
  skipped += s.skipped;
  for (const f of s.failures ?? []) failures.push(`  ${p.name}: ${f}`);
  rows.push(`  ${p.name.padEnd(16)} ${String(s.passed).padStart(5)} passed ${String(s.failed).padStart(3)} failed  (${s.suites} suites)`);
}
console.log('\nTest summary by project:');
console.log(rows.join('\n'));
if (failures.length > 0) console.log(`Failed tests:\n${failures.join('\n')}`);
const ok = nx.status === 0 && failed === 0;
if (nx.status !== 0) console.log(`Nx exited with ${nx.status}: a lint, typecheck or test target failed (see above).`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(ok ? 0 : 1);
