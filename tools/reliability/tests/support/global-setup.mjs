// A fresh ledger for every run of the suite.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';

export default function globalSetup(config) {
  const dir = path.join(config.rootDir, '.test-results');
  mkdirSync(dir, { recursive: true });
  rmSync(path.join(dir, 'ledger.ndjson'), { force: true });
  rmSync(path.join(dir, 'reliability.json'), { force: true });
}
