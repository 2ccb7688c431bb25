// Real daily bars (../shared/data, see its README) through the built bundle:
// the quality gate trips on a real bad-print day at the default threshold,
// the rows are quarantined under a looser one, and the bars match resample().
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openLake, resample } from '@fibbars/ohlcv-core';
import { requireSharedData, SP500_FILE } from '@fibbars/testing';
import type { VendorBar } from '@fibbars/testing/market';
import { writeRawSessions } from './support/market.js';
import { doneReport, runBundle } from './support/run-bundle.js';

// A missing file fails the suite naming it (the test is about real data; it must not pass on none).
const DATA = requireSharedData(SP500_FILE);
const FROM = '2014-05-12';
const TO = '2014-05-23';
// Documented in the data's README: bad prints on this session.
const BAD_SESSION = '2014-05-19';
const BAD_TICKERS = ['AOS', 'CHD'];

/** The CSV rows of [FROM, TO] as the vendor's grouped-daily results, by session. */
function vendorSessions(): Map<string, VendorBar[]> {
  const lines = gunzipSync(readFileSync(DATA)).toString('utf8').split('\n');
  const header = lines[0]?.split(',') ?? [];
  const at = (name: string) => header.indexOf(name);
  const price = (text: string | undefined) => (text === undefined || text === '' ? null : Number(text));
  const out = new Map<string, VendorBar[]>();
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    const date = cells[at('date')];
    if (date === undefined || date < FROM || date > TO) continue;
    const bars = out.get(date) ?? [];
    bars.push({
      T: cells[at('ticker')] ?? '',
      o: price(cells[at('open')]),
      h: price(cells[at('high')]),
      l: price(cells[at('low')]),
      c: price(cells[at('close')]),
      v: Number(cells[at('volume')]),
      t: Date.parse(`${date}T20:00:00Z`),
    });
    out.set(date, bars);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

describe('batch-runner bundle on real daily bars', () => {
  let work: string;
  let lake: string;
  let sessions: Map<string, VendorBar[]>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'batch-runner-real-'));
    lake = join(work, 'lake');
    sessions = vendorSessions();
    await writeRawSessions(lake, sessions);
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('fails the quality gate at the default 1% on the session with real bad prints', async () => {
    const result = await runBundle(['consolidate'], { cwd: work, env: { FIBBARS_LAKE: lake } });

    expect(result.code).toBe(3);
    expect(result.errors).toEqual([{ level: 'error', error: 'DataQualityError', message: expect.stringContaining(BAD_SESSION) }]);
    expect(await openLake(lake).head('ohlcv_1d')).toBeNull();
  });

  it('quarantines the bad prints and keeps the rest under MAX_REJECTED_SHARE=0.05', async () => {
    const result = await runBundle(['consolidate'], { cwd: work, env: { FIBBARS_LAKE: lake, MAX_REJECTED_SHARE: '0.05', FIBBARS_RUN_ID: 'real-1' } });
    const report = doneReport(result);

    const received = [...sessions.values()].reduce((n, bars) => n + bars.length, 0);
    const quarantine = await openLake(lake).readQuarantine({ from: BAD_SESSION, to: BAD_SESSION });
    expect(quarantine.getColumn('ticker').toArray()).toEqual(expect.arrayContaining(BAD_TICKERS));
    expect(report['consolidate']).toMatchObject({ sessions: [...sessions.keys()], rows: { received } });
    const rows = (report['consolidate'] as { rows: { accepted: number; quarantined: number } }).rows;
    expect(rows.accepted + rows.quarantined).toBe(received);
    expect((await openLake(lake).read('ohlcv_1d')).height).toBe(rows.accepted);
  });

  it('resamples the real history into bars equal to resample() of it', async () => {
    const result = await runBundle(['resample', '--days', '5'], { cwd: work, env: { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'real-1' } });
    doneReport(result);

    const daily = await openLake(lake).read('ohlcv_1d');
    const reference = resample(daily, { days: 5, asOf: TO }).sort(['ticker', 'start_date']);
    const committed = await openLake(lake).read('ohlcv_5d');
    expect(committed.select(...reference.columns).toRecords()).toEqual(reference.toRecords());
  });
});
