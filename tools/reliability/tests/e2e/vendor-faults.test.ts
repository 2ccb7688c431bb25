// Vendor faults, end to end: the fake vendor on loopback behind the real
// Polygon source (configured from POLYGON_* variables), the golden state
// machine on the local engine, the batch-runner bundle as child processes.
// Every scenario ends in the reference data or in a named error with an alert
// and the lake at its last good version: never a silently wrong lake.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { openLake, REJECT_REASONS } from '@fibbars/ohlcv-core';
import { exportLake, rowsDifference, tally, type LakeExport, type Row } from '../support/frames.js';
import { requireBundle, runPipeline, tempDir } from '../support/pipeline.js';
import { copyLake, expectData, expectNamedFailure, heads, ledger } from '../support/scenario.js';
import { FakeVendor, type Bar, type Fault } from '../support/vendor.js';

const GROUP = 'vendor faults';
const BEFORE = '2024-03-07';
const SESSION = '2024-03-08';
const KEY = 'rel-vendor-key-5b1e0c';
const INTERVALS = [3];

let work: { dir: string; cleanup: () => Promise<void> };
let vendor: FakeVendor;
let base: string;
let lastGood: { export: LakeExport; heads: Record<string, number | null> };
let reference: LakeExport;
let n = 0;

beforeAll(async () => {
  requireBundle();
  work = await tempDir('vendor');
  vendor = await new FakeVendor().start();
  base = path.join(work.dir, 'base');
  const first = await runPipeline({ lake: base, date: BEFORE, source: vendor.source(KEY), intervals: INTERVALS });
  expect(first.record.error).toBeUndefined();
  expect(first.record.status).toBe('SUCCEEDED');
  lastGood = { export: await exportLake(openLake(base)), heads: await heads(base) };
  const ref = await copyLake(base, path.join(work.dir, 'reference'));
  const second = await runPipeline({ lake: ref, date: SESSION, source: vendor.source(KEY), intervals: INTERVALS });
  expect(second.record.error).toBeUndefined();
  expect(second.record.status).toBe('SUCCEEDED');
  reference = await exportLake(openLake(ref));
  expect(reference['ohlcv_1d']?.filter((r) => r['date'] === SESSION).length).toBeGreaterThan(250);
}, 120_000);

afterAll(async () => {
  await vendor?.close();
  await work?.cleanup();
});

/** A fresh copy of the base lake and a clean vendor, then the scenario's faults, then one run of SESSION. */
async function scenario(setup: (v: FakeVendor) => void) {
  vendor.reset();
  setup(vendor);
  const lake = await copyLake(base, path.join(work.dir, `s${++n}`));
  const run = await runPipeline({ lake, date: SESSION, source: vendor.source(KEY), intervals: INTERVALS });
  return { lake, run, cleanup: () => rm(lake, { recursive: true, force: true }) };
}

const times = (k: number, fault: Fault): Fault[] => Array.from({ length: k }, () => ({ ...fault }));

describe('vendor faults that retries absorb end in the reference data', () => {
  // Each run mixes several faults to keep the suite short; each fault kind is
  // still served on the path where it matters.
  const cases: [string, (v: FakeVendor) => void, (run: Awaited<ReturnType<typeof scenario>>['run']) => void][] = [
    [
      'a burst of 429s with Retry-After within the client retries, 500 and 503 on every endpoint',
      (v) => {
        v.queue.grouped.push({ kind: '429', retryAfter: '1' }, { kind: '429', retryAfter: '0' }, { kind: '503' });
        v.queue.tickers.push({ kind: '503' });
        v.queue.splits.push({ kind: '500' });
      },
      (run) => expect(run.record.states.find((s) => s.name === 'FetchOhlcv')?.attempts).toBe(1),
    ],
    [
      'a burst of 429s longer than the client retries (state machine retry), connection resets',
      (v) => {
        v.queue.grouped.push(...times(5, { kind: '429', retryAfter: '0' }), { kind: 'reset' });
        v.queue.splits.push({ kind: 'reset' });
        v.queue.tickers.push({ kind: 'reset' });
      },
      (run) => {
        const fetch = run.record.states.find((s) => s.name === 'FetchOhlcv');
        expect(fetch?.attempts).toBe(2);
        expect(fetch?.retries.map((r) => r.error.name)).toEqual(['RateLimitedError']);
      },
    ],
    [
      'requests that time out, bodies cut off mid-stream, 503s beyond the client retries (state machine retry)',
      (v) => {
        v.queue.grouped.push({ kind: 'hang' }, { kind: 'cut' }, { kind: '503' }, { kind: '503' }, { kind: 'cut' });
        v.queue.tickers.push({ kind: 'hang' }, { kind: 'cut' });
      },
      (run) => expect(run.record.states.find((s) => s.name === 'FetchOhlcv')?.retries.map((r) => r.error.name)).toEqual(['UpstreamUnavailableError']),
    ],
  ];
  it.each(cases)('%s', async (name, setup, extra) => {
    const { lake, run, cleanup } = await scenario(setup);
    const faults = vendor.injected;
    expect(faults).toBeGreaterThan(0);
    const t = await expectData(run, lake, reference);
    extra(run);
    ledger(GROUP, name, t, faults, 1, 'data');
    await cleanup();
  });
});

describe('rows the vendor gets wrong are repaired or quarantined, never summed or kept', () => {
  it('collapses identical duplicates to one copy and keeps the larger-volume row of conflicting ones, quarantining the other', async () => {
    let injected: Bar[] = [];
    const { lake, run, cleanup } = await scenario((v) => {
      v.rewrite = (_s, bars) => {
        injected = bars.slice(10, 12).map((b) => ({ ...b, c: Number(b.c) * 1.5, h: Number(b.h) * 1.5, v: Number(b.v) / 2 }));
        return [...bars, ...bars.slice(0, 25).map((b) => ({ ...b })), ...injected];
      };
    });
    const t = await expectData(run, lake, reference, (actual) => {
      expect(rowsDifference(actual['ohlcv_1d'] ?? [], reference['ohlcv_1d'] ?? [])).toBeNull();
      expect(rowsDifference(actual['ohlcv_3d'] ?? [], reference['ohlcv_3d'] ?? [])).toBeNull();
      const added = newQuarantine(actual);
      expect(added.map((r) => [r['ticker'], r['date'], r['volume']])).toEqual(injected.map((b) => [b.T, SESSION, b.v]).sort());
    });
    const consolidate = run.record.states.find((s) => s.name === 'Consolidate')?.output as { report: { consolidate: { rows: { collapsed: number } } } };
    expect(consolidate.report.consolidate.rows.collapsed).toBe(25);
    ledger(GROUP, 'duplicate rows (25) and conflicting rows (2)', t, 25 + injected.length, 1, 'data');
    await cleanup();
  });

  it('quarantines absurd prices and an empty ticker with a reason, and stores odd symbols as values only, never as paths', async () => {
    const odd = ['../../../etc/passwd', 'X'.repeat(200), 'ÆØÅ', 'A B'];
    let victims: string[] = [];
    const { lake, run, cleanup } = await scenario((v) => {
      v.rewrite = (_s, bars) => {
        victims = [bars[5]?.T ?? '', bars[6]?.T ?? ''];
        const corrupted = bars.map((b) => (b.T === victims[0] ? { ...b, c: -Number(b.c) } : b.T === victims[1] ? { ...b, o: 0 } : b));
        return [...corrupted, { ...bars[0], T: '' } as Bar, ...odd.map((T, i) => ({ ...bars[i + 1], T }) as Bar)];
      };
    });
    expect(run.record.error).toBeUndefined();
    expect(run.record.status).toBe('SUCCEEDED');
    const actual = await exportLake(openLake(lake));
    const expected = (reference['ohlcv_1d'] ?? []).filter((r) => !(r['date'] === SESSION && victims.includes(String(r['ticker']))));
    const stored = (actual['ohlcv_1d'] ?? []).filter((r) => !odd.includes(String(r['ticker'])));
    expect(rowsDifference(stored, expected)).toBeNull();
    const added = newQuarantine(actual);
    expect(added.filter((r) => victims.includes(String(r['ticker']))).map((r) => r['reason'])).toEqual([REJECT_REASONS.nonPositivePrice, REJECT_REASONS.nonPositivePrice]);
    expect(added.filter((r) => r['ticker'] === '' || r['ticker'] === null).map((r) => r['reason'])).toEqual([REJECT_REASONS.missingTicker]);
    // An odd symbol is one row, either stored or quarantined; it never names a file.
    const oddRows = [...(actual['ohlcv_1d'] ?? []), ...added].filter((r) => odd.includes(String(r['ticker'])) && r['date'] === SESSION);
    expect(oddRows.map((r) => r['ticker']).sort()).toEqual([...odd].sort());
    for (const { key } of await openLake(lake).store.list('')) expect(key).not.toMatch(/passwd|ÆØÅ|XXXXXXXX/);
    const t = tally(stored, expected);
    expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    ledger(GROUP, 'absurd prices under the 1% gate (2), an empty ticker, odd symbols (4)', t, 2 + 1 + odd.length, 1, 'data');
    await cleanup();
  });
});

/** Quarantined rows of SESSION that the reference run did not quarantine. */
function newQuarantine(actual: LakeExport): Row[] {
  const known = new Set((reference['quarantine'] ?? []).map((r) => JSON.stringify(r)));
  return (actual['quarantine'] ?? []).filter((r) => !known.has(JSON.stringify(r)));
}

describe('vendor faults no retry can absorb end in a named error, an alert and the last good lake', () => {
  // Objects, not rows: jest's it.each passes a `done` callback to a test function that takes
  // more parameters than a row has, so a row without the optional detail would hang until timeout.
  type Case = { name: string; setup: (v: FakeVendor) => void; errorName: string; state: string; detail?: string };
  const cases: Case[] = [
    { name: '429 on every request', setup: (v) => (v.always.grouped = { kind: '429', retryAfter: '0' }), errorName: 'RateLimitedError', state: 'FetchAll' },
    { name: '503 on every request', setup: (v) => (v.always.grouped = { kind: '503' }), errorName: 'UpstreamUnavailableError', state: 'FetchAll' },
    { name: 'truncated JSON with a clean 200', setup: (v) => v.queue.grouped.push({ kind: 'truncated-json' }), errorName: 'InvalidResponseError', state: 'FetchAll' },
    { name: 'an open session returned empty', setup: (v) => v.queue.grouped.push({ kind: 'empty' }), errorName: 'InvalidResponseError', state: 'FetchAll' },
    {
      name: 'the key refused (401)',
      setup: (v) => (v.always.grouped = { kind: 'status', status: 401, body: '{"status":"ERROR"}' }),
      errorName: 'ConfigError',
      state: 'FetchAll',
      // The error document has no request id; the handler's message carries it to the alert.
      detail: '(function fibbars-ohlcv, request ',
    },
    {
      name: 'absurd prices above the 1% gate',
      setup: (v) => (v.rewrite = (_s, bars) => bars.map((b, i) => (i % 20 === 3 ? { ...b, l: Number(b.h) * 2 } : b))),
      // A Batch job's failure reaches the state machine as AWS reports it (States.TaskFailed,
      // the job description as Cause); the alert maps the exit code back to the job's error.
      errorName: 'States.TaskFailed',
      state: 'Consolidate',
      detail: 'exited with code 3 (DataQualityError)',
    },
  ];
  it.each(cases)('$name', async ({ name, setup, errorName, state, detail }) => {
    const { lake, run, cleanup } = await scenario(setup);
    const rewritten = vendor.rewrite ? (await vendor.bars(SESSION)).filter((b) => Number(b.l) > Number(b.h)).length : 0;
    const faults = vendor.injected + rewritten;
    expect(faults).toBeGreaterThan(0);
    const t = await expectNamedFailure(run, lake, lastGood, errorName, state);
    if (detail !== undefined) expect(run.alerts[0]?.message).toContain(detail);
    ledger(GROUP, name, t, faults, 1, detail ?? errorName);
    await cleanup();
  });
});
