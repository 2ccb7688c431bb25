#!/usr/bin/env node
// Requests per session and time of a backfill's fetch (a benchmark, not a test):
// `fetchSessions` with the Polygon source against the tests' local vendor
// server (tests/helpers), which serves the seeded synthetic market (300
// tickers) as the vendor's JSON, into a temp folder lake. For comparison, the
// loop backfill used before (one splits request per session) on the same server.
// Usage: node scripts/bench-backfill.mjs [years=5] [latencyMs=20]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = await mkdtemp(path.join(tmpdir(), 'fibbars-bench-backfill-'));
try {
  const outfile = path.join(dir, 'bench.mjs');
  await build({
    stdin: {
      contents: [
        "export { fetchSessions } from './src/fetch.ts';",
        "export { PolygonSource } from './src/polygon.ts';",
        "export { SyntheticSource } from './src/synthetic.ts';",
        "export { startVendor } from './tests/helpers/vendor.ts';",
        "export { syntheticVendor } from './tests/helpers/synthetic-vendor.ts';",
        "export { nyse } from '@fibbars/ohlcv-core/calendar';",
        "export { RawZone, openStore } from '@fibbars/ohlcv-core/storage';",
      ].join('\n'),
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@fibbars/source'],
    // The S3 client in the storage module is CommonJS: give it a require.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    outfile,
    logLevel: 'warning',
  });
  const m = await import(pathToFileURL(outfile).href);
  const years = Number(process.argv[2] ?? 5);
  const latencyMs = Number(process.argv[3] ?? 20);
  const to = '2026-11-25';
  const from = `${Number(to.slice(0, 4)) - years}-11-26`;
  const sessions = m.nyse.sessionsBetween(from, to);
  const now = () => new Date('2026-11-26T02:00:00Z');

  const measure = async (label, latency, fetch) => {
    const vendor = await m.startVendor(m.syntheticVendor({ market: new m.SyntheticSource({ seed: 7, tickers: 300 }), latencyMs: latency }));
    const lake = await mkdtemp(path.join(dir, 'lake-'));
    const raw = new m.RawZone(m.openStore(lake));
    try {
      const t = performance.now();
      await fetch(vendor, raw);
      const s = (performance.now() - t) / 1000;
      const n = vendor.requests.length;
      console.log(`${label}, vendor latency ${latency} ms: ${sessions.length} sessions, ${n} requests, ${(n / sessions.length).toFixed(4)} per session, ${s.toFixed(1)} s (${((s * 1000) / sessions.length).toFixed(1)} ms per session)`);
    } finally {
      await vendor.close();
      await rm(lake, { recursive: true, force: true });
    }
  };
  const polygon = (vendor, concurrency) =>
    new m.PolygonSource({ apiKey: 'bench-key', baseUrl: vendor.baseUrl, rpm: 100_000, maxRetries: 1, concurrency });

  console.log(`backfill ${from} .. ${to}, synthetic market of 300 tickers behind the local vendor server`);
  for (const [concurrency, latency] of [[8, 0], [1, latencyMs], [4, latencyMs], [8, latencyMs]]) {
    await measure(`fetchSessions, concurrency ${concurrency}`, latency, (vendor, raw) =>
      m.fetchSessions({ source: polygon(vendor, concurrency), raw, now }, { sessions, concurrency }),
    );
  }
  // The loop backfill had before: daily bars and splits of each session, one snapshot.
  await measure('previous loop (splits per session), concurrency 4', latencyMs, async (vendor, raw) => {
    const source = polygon(vendor, 4);
    const tickers = await source.tickers();
    await raw.write('tickers', to, tickers.pages, { requests: tickers.requests, rows: tickers.rows, source: source.name });
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < sessions.length) {
          const session = sessions[next++];
          const daily = await source.groupedDaily(session);
          const splits = await source.splits(session);
          await raw.write('splits', session, splits.pages, { requests: splits.requests, rows: splits.rows, source: source.name });
          await raw.write('ohlcv', session, daily.pages, { requests: daily.requests, rows: daily.rows, source: source.name });
        }
      }),
    );
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}
