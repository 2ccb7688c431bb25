/**
 * The suite's ledger: every scenario appends what it did (faults injected,
 * pipeline or job runs executed) and what it found (rows expected, lost,
 * duplicated, computed against a reference) as one JSON line. The global
 * teardown sums the lines into the summary line and `reliability.json`.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../.test-results');
export const LEDGER = path.join(RESULTS_DIR, 'ledger.ndjson');

export interface LedgerEntry {
  /** Scenario group, e.g. `vendor faults` (a row of the RELIABILITY.md table). */
  group: string;
  /** The scenario itself, e.g. `429 burst with Retry-After`. */
  scenario: string;
  faults: number;
  runs: number;
  /** Rows the reference says the lake must hold. */
  expectedRows: number;
  rowsLost: number;
  rowsDuplicated: number;
  /** `data` (ended with correct data) or the error name the run ended with. */
  outcome: string;
}

export function record(entry: LedgerEntry): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  appendFileSync(LEDGER, `${JSON.stringify(entry)}\n`);
}
