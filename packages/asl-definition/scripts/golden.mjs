// Regenerates state_machine_definition.json from src/definition.ts.
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
const text = `${JSON.stringify(buildDefinition(), null, 2)}\n`;
const target = `${root}state_machine_definition.json`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing counts as out of date
  }
  if (current !== text) {
    console.error('state_machine_definition.json is out of date: run `pnpm --filter @fibbars/asl-definition golden` and review the diff');
    process.exit(1);
  }
  console.log('state_machine_definition.json is up to date');
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
