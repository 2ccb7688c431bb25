// Regenerates state_machine_definition.json (P = 1) and state_machine_definition.p4.json (P = 4) from src/definition.ts.
// `node scripts/golden.mjs --check` exits 1 when the file is out of date.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = await build({
  entryPoints: [`${root}src/definition.ts`],
  bundle: true,
  platform: 'node',
  format: 'esm',
  conditions: ['@fibbars/source'],
  write: false,
  logLevel: 'error',
});
const code = bundle.outputFiles[0].text;
const { buildDefinition } = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
// The default topology (P = 1) and the partitioned one (P = 4), both reviewed.
const goldens = [
  ['state_machine_definition.json', {}],
  ['state_machine_definition.p4.json', { partitions: 4 }],
];
let stale = false;
for (const [name, options] of goldens) {
  const text = `${JSON.stringify(buildDefinition(options), null, 2)}\n`;
  const target = `${root}${name}`;
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      // missing counts as out of date
    }
    if (current !== text) {
      console.error(`${name} is out of date: run \`pnpm --filter @fibbars/asl-definition golden\` and review the diff`);
      stale = true;
    } else console.log(`${name} is up to date`);
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
}
if (stale) process.exit(1);
