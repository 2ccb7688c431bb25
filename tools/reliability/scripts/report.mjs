// Renders the figures of the last suite run (.test-results/reliability.json)
// into the results section of RELIABILITY.md at the repository root.
//   pnpm nx run reliability:test && pnpm --filter @fibbars/reliability report
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const results = JSON.parse(readFileSync(path.join(here, '..', '.test-results', 'reliability.json'), 'utf8'));
const target = path.join(here, '..', '..', '..', 'RELIABILITY.md');
const START = '<!-- results:start -->';
const END = '<!-- results:end -->';

const cell = (text) => String(text).replaceAll('|', '\\|');
const lines = [
  START,
  '',
  `Last run: **${results.scenarios} scenarios, ${results.faultsInjected} faults injected, ${results.runs} runs, ` +
    `${results.rowsLost} rows lost, ${results.rowsDuplicated} rows duplicated** (${results.rowsChecked} rows checked against a reference).`,
  '',
  '| group | scenarios | faults injected | runs | rows checked | rows lost | rows duplicated | outcomes |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...results.groups.map(
    (g) => `| ${cell(g.group)} | ${g.scenarios} | ${g.faultsInjected} | ${g.runs} | ${g.rowsChecked} | ${g.rowsLost} | ${g.rowsDuplicated} | ${cell(g.outcomes.join(', '))} |`,
  ),
  '',
  '<details><summary>Every scenario of that run</summary>',
  '',
  '| group | scenario | faults | runs | rows checked | lost | duplicated | ended in |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ...results.entries.map(
    (e) => `| ${cell(e.group)} | ${cell(e.scenario)} | ${e.faults} | ${e.runs} | ${e.expectedRows} | ${e.rowsLost} | ${e.rowsDuplicated} | ${cell(e.outcome)} |`,
  ),
  '',
  '</details>',
  '',
  END,
];
const doc = readFileSync(target, 'utf8');
const from = doc.indexOf(START);
const to = doc.indexOf(END);
if (from < 0 || to < from) throw new Error(`${target} has no ${START} ... ${END} section`);
writeFileSync(target, doc.slice(0, from) + lines.join('\n') + doc.slice(to + END.length));
process.stdout.write(`updated ${path.relative(process.cwd(), target)}\n`);
