#!/usr/bin/env node
// Speed of the synthetic market (a benchmark, not a test): one session of a
// large universe, and a year of the default universe, bars plus splits.
// Usage: node scripts/bench-synthetic.mjs [tickers=10000]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = await mkdtemp(path.join(tmpdir(), 'fibbars-bench-'));
try {
  const outfile = path.join(dir, 'synthetic.mjs');
  await build({
    stdin: {
      contents: "export { SyntheticSource } from './src/synthetic.ts'; export { nyse } from '@fibbars/ohlcv-core/calendar';",
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@fibbars/source'],
    outfile,
    logLevel: 'warning',
  });
  const { SyntheticSource, nyse } = await import(pathToFileURL(outfile).href);
  const big = Number(process.argv[2] ?? 10_000);
  const time = async (label, fn) => {
    const t = performance.now();
    const out = await fn();
    console.log(`${label}: ${(performance.now() - t).toFixed(0)} ms${out === undefined ? '' : ` (${out})`}`);
  };
  const large = new SyntheticSource({ tickers: big });
  await time(`one session, ${big} tickers, cold`, async () => `${(await large.groupedDaily('2024-03-15')).rows} bars`);
  await time(`next session, ${big} tickers, warm`, async () => `${(await large.groupedDaily('2024-03-18')).rows} bars`);
  await time(`ticker snapshot, ${big} tickers`, async () => `${(await large.tickers('2024-03-18')).rows} rows`);
  const small = new SyntheticSource({ tickers: 300 });
  const sessions = nyse.sessionsBetween('2023-01-01', '2023-12-31');
  await time('a year (2023) of 300 tickers, bars and splits', async () => {
    let rows = 0;
    for (const s of sessions) rows += (await small.groupedDaily(s)).rows + (await small.splits(s)).rows;
    return `${sessions.length} sessions, ${rows} rows`;
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}
