/**
 * Builds the Lambda zips with the package script, then runs each bundle the
 * way Lambda does: unzip, import index.mjs in a fresh Node process with the
 * function's environment, call the exported handler with an event and a
 * context.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { unzipSync } from 'fflate';
import { RawZone, openStore } from '@fibbars/ohlcv-core/storage';
import { startS3Server as startS3 } from '@fibbars/testing';
import { bar, groupedDaily, json, startVendor } from '../helpers/vendor.js';

const run = promisify(execFile);
const pkgRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HANDLERS = ['ohlcv', 'meta'] as const;

// Calls the bundle's handler like the Lambda runtime: import, then handler(event, context).
const INVOKE = `
const [, bundle, eventJson] = process.argv;
const context = { awsRequestId: 'lambda-req-1', functionName: 'fibbars-fetch', getRemainingTimeInMillis: () => 60000 };
try {
  const { handler } = await import(bundle);
  const result = await handler(JSON.parse(eventJson), context);
  process.stdout.write('\\nRESULT ' + JSON.stringify(result) + '\\n');
} catch (e) {
  process.stdout.write('\\nERROR ' + JSON.stringify({ name: e.name, message: e.message }) + '\\n');
  process.exitCode = 1;
}
`;

interface Invocation {
  result?: Record<string, unknown>;
  error?: { name: string; message: string };
  logs: Record<string, unknown>[];
  stdout: string;
}

async function invoke(bundle: string, event: unknown, env: Record<string, string>): Promise<Invocation> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(POLYGON_|FIBBARS_|SYNTHETIC_|NODE_OPTIONS)/.test(k)));
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', INVOKE, pathToFileURL(bundle).href, JSON.stringify(event)], {
    env: { ...clean, AWS_REGION: 'us-east-1', ...env },
  }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const out: Invocation = { logs: [], stdout };
  for (const line of lines) {
    if (line.startsWith('RESULT ')) out.result = JSON.parse(line.slice(7)) as Record<string, unknown>;
    else if (line.startsWith('ERROR ')) out.error = JSON.parse(line.slice(6)) as Invocation['error'];
    else out.logs.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

describe('Lambda zips (built by scripts/package.mjs)', () => {
  let work: string;
  const bundles: Record<string, string> = {};
  const zips: Record<string, Buffer> = {};

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'fibbars-zips-'));
    await run(process.execPath, [path.join(pkgRoot, 'scripts/package.mjs'), path.join(work, 'build')]);
    for (const name of HANDLERS) {
      zips[name] = await readFile(path.join(work, 'build', `${name}.zip`));
      const files = unzipSync(new Uint8Array(zips[name]));
      expect(Object.keys(files)).toEqual(['index.mjs']);
      bundles[name] = path.join(work, `${name}.index.mjs`);
      await writeFile(bundles[name], files['index.mjs']!);
    }
  }, 120_000);
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('bundles no native module and nothing of nodejs-polars', async () => {
    for (const name of HANDLERS) {
      const inputs = JSON.parse(await readFile(path.join(work, 'build', `${name}.inputs.json`), 'utf8')) as string[];
      expect(inputs.some((i) => i.includes('ohlcv-core/src/storage.ts'))).toBe(true);
      expect(inputs.filter((i) => /polars|\.node$/.test(i))).toEqual([]);
      const code = await readFile(bundles[name]!, 'utf8');
      expect(code).not.toMatch(/nodejs-polars|\.node['"]/);
    }
  });

  it('produces the same zip bytes from the same sources', async () => {
    await run(process.execPath, [path.join(pkgRoot, 'scripts/package.mjs'), path.join(work, 'again')]);
    for (const name of HANDLERS) expect((await readFile(path.join(work, 'again', `${name}.zip`))).equals(zips[name]!)).toBe(true);
  }, 60_000);

  it('ohlcv: fetches a synthetic session into a folder lake and logs JSON lines with the request id', async () => {
    const lake = path.join(work, 'lake-ohlcv');

    const out = await invoke(bundles.ohlcv!, { date: '2024-03-15' }, { FIBBARS_LAKE: lake, SYNTHETIC_SEED: '7', SYNTHETIC_TICKERS: '25' });

    expect(out.error).toBeUndefined();
    expect(out.result).toMatchObject({ status: 'ok', lake, sessions: ['2024-03-15'], rows: expect.any(Number) });
    const raw = new RawZone(openStore(lake));
    const [fetch] = await raw.list('ohlcv');
    expect((await raw.readMeta(fetch!)).source).toBe('synthetic');
    expect(out.logs.length).toBeGreaterThan(0);
    for (const line of out.logs) expect(line).toMatchObject({ correlation_id: 'lambda-req-1', service: 'fibbars-fetchers', function_name: 'fibbars-fetch', cold_start: expect.any(Boolean) });
  });

  it('ohlcv: writes to an S3 lake through the SDK settings of the environment', async () => {
    const s3 = await startS3();
    try {
      const lake = `s3://${s3.bucket}/lambda`;

      const out = await invoke(bundles.ohlcv!, { date: '2024-03-14' }, { FIBBARS_LAKE: lake, SYNTHETIC_TICKERS: '10', ...s3.env });

      expect(out.error).toBeUndefined();
      expect(out.result).toMatchObject({ status: 'ok', lake, sessions: ['2024-03-14'] });
      const raw = new RawZone(openStore(lake, { s3Client: s3.client }));
      expect(await raw.sessions('ohlcv')).toEqual(['2024-03-14']);
    } finally {
      await s3.stop();
    }
  });

  it('meta: writes the ticker snapshot, the splits and the dividends of the session, and on a new lake the ticker events', async () => {
    const lake = path.join(work, 'lake-meta');

    const out = await invoke(bundles.meta!, { date: '2024-03-15' }, { FIBBARS_LAKE: lake, SYNTHETIC_TICKERS: '25' });

    expect(out.result).toMatchObject({ status: 'ok', sessions: ['2024-03-15'] });
    const raw = new RawZone(openStore(lake));
    expect(await raw.sessions('tickers')).toEqual(['2024-03-15']);
    expect(await raw.sessions('splits')).toEqual(['2024-03-15']);
    expect(await raw.sessions('dividends')).toEqual(['2024-03-15']);
    expect(await raw.sessions('ticker_events')).toEqual(['2024-03-15']);
    expect((out.result as { rawKeys: string[] }).rawKeys).toHaveLength(4);
  });

  it('throws a bad event as ConfigError (the name Step Functions matches), writing nothing', async () => {
    const lake = path.join(work, 'lake-bad');

    const out = await invoke(bundles.ohlcv!, { date: 'yesterday' }, { FIBBARS_LAKE: lake });

    expect(out.result).toBeUndefined();
    expect(out.error).toMatchObject({ name: 'ConfigError', message: expect.stringContaining('event.date') });
    expect(await openStore(lake).list('')).toEqual([]);
  });

  it('fails at cold start on a bad variable, naming it', async () => {
    const out = await invoke(bundles.ohlcv!, {}, { FIBBARS_LAKE: path.join(work, 'lake-x'), SYNTHETIC_TICKERS: 'many' });

    expect(out.error).toMatchObject({ name: 'ConfigError', message: expect.stringContaining('SYNTHETIC_TICKERS') });
  });

  it('refuses to start when polygon is selected without a key, sending no request', async () => {
    const vendor = await startVendor((_req, res) => json(res, groupedDaily([bar('AAPL', 1)])));
    try {
      const out = await invoke(bundles.ohlcv!, { date: '2024-03-15' }, { FIBBARS_LAKE: path.join(work, 'lake-nokey'), FIBBARS_SOURCE: 'polygon', POLYGON_BASE_URL: vendor.baseUrl });

      expect(out.error).toMatchObject({ name: 'ConfigError', message: expect.stringContaining('POLYGON_API_KEY') });
      expect(vendor.requests).toHaveLength(0);
    } finally {
      await vendor.close();
    }
  });

  it('fetches from the vendor when POLYGON_API_KEY is set, and the key shows up in no log line and no raw file', async () => {
    const key = 'pk_live_DO_NOT_LOG_91c0ffee';
    const vendor = await startVendor((req, res) =>
      req.authorization === `Bearer ${key}` ? json(res, groupedDaily([bar('AAPL', 172.5), bar('MSFT', 416.4)])) : json(res, { status: 'ERROR' }, 401),
    );
    const lake = path.join(work, 'lake-vendor');
    try {
      const out = await invoke(bundles.ohlcv!, { date: '2024-03-15' }, { FIBBARS_LAKE: lake, POLYGON_API_KEY: key, POLYGON_BASE_URL: vendor.baseUrl });

      expect(out.result).toMatchObject({ status: 'ok', rows: 2 });
      expect(vendor.requests).toHaveLength(1);
      expect(out.stdout).not.toContain(key);
      const store = openStore(lake);
      for (const { key: k } of await store.list('')) {
        const body = await store.get(k);
        const text = k.endsWith('.gz') ? (await import('node:zlib')).gunzipSync(body).toString('utf8') : body.toString('utf8');
        expect(text).not.toContain(key);
      }
    } finally {
      await vendor.close();
    }
  });
});
