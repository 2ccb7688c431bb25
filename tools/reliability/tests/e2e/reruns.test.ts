// Re-runs and corrections through the real pipeline and the real Polygon
// source against the fake vendor: the same day three times leaves one copy of
// each row; a refetch after the vendor corrected a session replaces that
// session, and only that one. The expected rows are the vendor's JSON mapped
// field by field (T -> ticker, o/h/l/c/v/vw/n), not the pipeline's own output.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { openLake, resample } from '@fibbars/ohlcv-core';
import { exportLake, rowsDifference, rowsOf, tally, type Row } from '../support/frames.js';
import { fetchSessions } from '../support/jobs.js';
import { requireBundle, runPipeline, tempDir } from '../support/pipeline.js';
import { heads, ledger } from '../support/scenario.js';
import { FakeVendor } from '../support/vendor.js';

const GROUP = 're-runs and corrections';
const KEY = 'rel-rerun-key-77aa';
const SESSIONS = ['2024-03-06', '2024-03-07', '2024-03-08'] as const;
const [D1, D2, D3] = SESSIONS;
let vendor: FakeVendor;
let work: { dir: string; cleanup: () => Promise<void> };
let lake: string;

beforeAll(async () => {
  requireBundle();
  vendor = await new FakeVendor().start();
  work = await tempDir('rerun');
  lake = path.join(work.dir, 'lake');
  await fetchSessions(lake, vendor.source(KEY), [D1, D2]);
});
afterAll(async () => {
  await vendor?.close();
  await work?.cleanup();
});

/** What the lake must hold for these sessions: the vendor's bars, field by field. */
async function vendorRows(sessions: readonly string[]): Promise<Row[]> {
  const rows: Row[] = [];
  for (const date of sessions) {
    for (const b of await vendor.bars(date)) {
      rows.push({ ticker: b.T, date, open: b.o, high: b.h, low: b.l, close: b.c, volume: b.v, vwap: b.vw ?? null, transactions: b.n ?? null });
    }
  }
  return rows.sort((a, b) => (a['ticker'] === b['ticker'] ? String(a['date']).localeCompare(String(b['date'])) : String(a['ticker']) < String(b['ticker']) ? -1 : 1));
}

async function expectBarsMatchDaily(): Promise<void> {
  const l = openLake(lake);
  const daily = await l.read('ohlcv_1d');
  const reference = rowsOf(resample(daily, { days: 3 }).sort(['ticker', 'start_date']));
  expect(rowsDifference(rowsOf((await l.read('ohlcv_3d')).sort(['ticker', 'start_date'])), reference)).toBeNull();
}

describe('re-running a day', () => {
  it('three times gives one copy of each row', async () => {
    const expected = await vendorRows(SESSIONS);
    let afterFirst: Record<string, number | null> = {};
    for (let i = 1; i <= 3; i++) {
      const run = await runPipeline({ lake, date: D3, source: vendor.source(KEY), intervals: [3] });
      expect(run.record.error).toBeUndefined();
      expect(run.record.status).toBe('SUCCEEDED');
      const daily = (await exportLake(openLake(lake), ['ohlcv_1d']))['ohlcv_1d'] ?? [];
      expect(rowsDifference(daily, expected)).toBeNull();
      const t = tally(daily, expected);
      expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
      if (i === 1) afterFirst = await heads(lake);
      ledger(GROUP, `the same day, run ${i} of 3`, t, 0, 1, 'data');
    }
    await expectBarsMatchDaily();
    // Each run fetched the day again (three raw fetches, none overwritten).
    expect((await openLake(lake).raw.list('ohlcv')).filter((f) => f.session === D3)).toHaveLength(3);
    expect(Object.keys(await heads(lake)).sort()).toEqual(Object.keys(afterFirst).sort());
  });

  it('after the vendor corrected one session, a refetch replaces that session only', async () => {
    const l = openLake(lake);
    const before = (await exportLake(l, ['ohlcv_1d']))['ohlcv_1d'] ?? [];
    const corrected = new Set((await vendor.bars(D2)).slice(0, 30).map((b) => b.T));
    vendor.rewrite = (session, bars) =>
      session !== D2 ? bars : bars.map((b) => (corrected.has(b.T) ? { ...b, c: Number(b.c) * 1.02, h: Math.max(Number(b.h), Number(b.c) * 1.02), v: Number(b.v) + 100 } : b));
    const run = await runPipeline({ lake, date: D2, source: vendor.source(KEY), intervals: [3] });
    expect(run.record.error).toBeUndefined();
    expect(run.record.status).toBe('SUCCEEDED');
    const after = (await exportLake(l, ['ohlcv_1d']))['ohlcv_1d'] ?? [];
    const expected = await vendorRows(SESSIONS);
    expect(rowsDifference(after, expected)).toBeNull();
    // The other sessions are untouched, value for value.
    const others = (rows: Row[]) => rows.filter((r) => r['date'] !== D2);
    expect(rowsDifference(others(after), others(before))).toBeNull();
    const changed = after.filter((r, i) => r['date'] === D2 && rowsDifference([r], [before[i] as Row]) !== null);
    expect(changed).toHaveLength(corrected.size);
    await expectBarsMatchDaily();
    const t = tally(after, expected);
    expect(t).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    ledger(GROUP, `a refetch of ${D2} with ${corrected.size} corrected rows`, t, corrected.size, 1, 'data');
  });
});
