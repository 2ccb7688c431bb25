// Sums the ledger the scenarios wrote into the suite's summary line and
// .test-results/reliability.json. Fails the run if any row was lost or doubled.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export default function globalTeardown(config) {
  const dir = path.join(config.rootDir, '.test-results');
  const ledger = path.join(dir, 'ledger.ndjson');
  const entries = existsSync(ledger)
    ? readFileSync(ledger, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
    : [];
  const sum = (list, key) => list.reduce((total, e) => total + e[key], 0);
  const groups = {};
  for (const e of entries) (groups[e.group] ??= []).push(e);
  const summary = {
    scenarios: entries.length,
    faultsInjected: sum(entries, 'faults'),
    runs: sum(entries, 'runs'),
    rowsChecked: sum(entries, 'expectedRows'),
    rowsLost: sum(entries, 'rowsLost'),
    rowsDuplicated: sum(entries, 'rowsDuplicated'),
    groups: Object.entries(groups).map(([group, list]) => ({
      group,
      scenarios: list.length,
      faultsInjected: sum(list, 'faults'),
      runs: sum(list, 'runs'),
      rowsChecked: sum(list, 'expectedRows'),
      rowsLost: sum(list, 'rowsLost'),
      rowsDuplicated: sum(list, 'rowsDuplicated'),
      outcomes: [...new Set(list.map((e) => e.outcome))].sort(),
    })),
    entries,
  };
  writeFileSync(path.join(dir, 'reliability.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(
    `\nreliability: ${summary.scenarios} scenarios, ${summary.faultsInjected} faults injected, ${summary.runs} runs, ` +
      `${summary.rowsLost} rows lost, ${summary.rowsDuplicated} rows duplicated (${summary.rowsChecked} rows checked)\n`,
  );
  if (summary.rowsLost !== 0 || summary.rowsDuplicated !== 0) {
    throw new Error(`reliability: ${summary.rowsLost} rows lost and ${summary.rowsDuplicated} rows duplicated; both must be 0`);
  }
}
