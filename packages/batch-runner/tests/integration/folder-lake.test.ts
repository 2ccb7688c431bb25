// The built bundle on a folder lake, run as the container runs it: consolidate
// then resample, a re-run that must change nothing, an incremental day, and
// the data quality gate (exit 3).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { openLake, resample } from '@fibbars/ohlcv-core';
import { commitKeys, lakeFiles } from './support/lake-files.js';
import { syntheticMarket, type VendorBar } from '@fibbars/testing/market';
import { lastSessions, writeRawSessions } from './support/market.js';
import { doneReport, runBundle } from './support/run-bundle.js';

const TICKERS = 40;
const SESSIONS = lastSessions('2024-03-28', 30);
const INTERVALS = [3, 5];

// Sums of floats run in parallel differ in the last bit between two runs.
function comparable(records: Record<string, unknown>[]): Record<string, unknown>[] {
  return records.map((record) =>
    Object.fromEntries(Object.entries(record).map(([key, value]) => [key, typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(12)) : value])),
  );
}

/** The committed bars of `days` against resample() of the committed daily history. */
async function expectBarsMatchReference(lakeDir: string, days: number): Promise<void> {
  const lake = openLake(lakeDir);
  const daily = await lake.read('ohlcv_1d');
  const latest = (await lake.head('ohlcv_1d'))?.meta['latestSession'] as string;
  const reference = resample(daily, { days, asOf: latest }).sort(['ticker', 'start_date']);
  const committed = await lake.read(`ohlcv_${days}d`);
  expect(committed.height).toBe(reference.height);
  expect(comparable(committed.select(...reference.columns).toRecords())).toEqual(comparable(reference.toRecords()));
}

describe('batch-runner bundle on a folder lake', () => {
  let work: string;
  let lake: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'batch-runner-folder-'));
    lake = join(work, 'lake');
    await writeRawSessions(lake, syntheticMarket(SESSIONS, TICKERS));
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('consolidates every raw session into ohlcv_1d and ends stdout with the report', async () => {
    // The environment the state machine gives the job: lake, run id, the fetched sessions.
    const env = { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'day-1', FIBBARS_SESSIONS: JSON.stringify(SESSIONS.slice(-1)) };
    const result = await runBundle(['consolidate'], { cwd: work, env });
    const report = doneReport(result);

    expect(result.errors).toEqual([]);
    expect(report).toMatchObject({ command: 'consolidate', runId: 'day-1', sessions: SESSIONS.slice(-1), status: 'committed', consolidate: { sessions: SESSIONS, rows: { accepted: SESSIONS.length * TICKERS, quarantined: 0 } } });
    expect(result.lines.filter((l) => l['msg'] === 'progress').map((l) => [l['stage'], l['status']])).toEqual([
      ['consolidate', 'started'],
      ['consolidate', 'finished'],
    ]);
    const head = await openLake(lake).head('ohlcv_1d');
    expect(head).toMatchObject({ version: 1, runId: 'day-1' });
    expect((await openLake(lake).read('ohlcv_1d')).height).toBe(SESSIONS.length * TICKERS);
  });

  it('resamples each interval of --days into bars equal to resample() of the daily history', async () => {
    const result = await runBundle(['resample', '--days', INTERVALS.join(',')], { cwd: work, env: { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'day-1' } });
    const report = doneReport(result);

    expect(report['resample']).toEqual(INTERVALS.map((days) => expect.objectContaining({ days, committed: true, mode: 'full' })));
    expect(result.lines.filter((l) => l['msg'] === 'progress' && l['status'] === 'finished').map((l) => l['stage'])).toEqual(
      [...INTERVALS.map((days) => `resample_${days}d`), 'gc'],
    );
    for (const days of INTERVALS) await expectBarsMatchReference(lake, days);
  });

  it('writes nothing new when the same day runs again', async () => {
    const before = lakeFiles(lake);

    const consolidate = await runBundle(['consolidate'], { cwd: work, env: { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'day-1-again' } });
    const again = await runBundle(['resample'], { cwd: work, env: { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'day-1-again', RESAMPLE_DAYS: INTERVALS.join(',') } });

    expect(doneReport(consolidate)).toMatchObject({ status: 'no-change' });
    expect(doneReport(again)).toMatchObject({ status: 'no-change' });
    expect(lakeFiles(lake)).toEqual(before);
  });

  it('brings the bars up to date incrementally when the next session arrives', async () => {
    const next = nyse.nextSession(SESSIONS.at(-1) as string);
    const market = syntheticMarket([...SESSIONS, next], TICKERS);
    await writeRawSessions(lake, new Map([[next, market.get(next) ?? []]]));

    const consolidate = await runBundle(['consolidate'], { cwd: work, env: { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'day-2' } });
    const result = await runBundle(['resample', '--days', INTERVALS.join(',')], { cwd: work, env: { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'day-2' } });

    expect(doneReport(consolidate)).toMatchObject({ status: 'committed', consolidate: { sessions: [next] } });
    expect(doneReport(result)['resample']).toEqual(INTERVALS.map((days) => expect.objectContaining({ days, committed: true, mode: 'incremental' })));
    for (const days of INTERVALS) await expectBarsMatchReference(lake, days);
  });

  describe('with a session whose rows are largely invalid', () => {
    let session: string;

    beforeAll(async () => {
      const sessions = lastSessions(nyse.nextSession(nyse.nextSession(SESSIONS.at(-1) as string)), SESSIONS.length + 2);
      session = sessions.at(-1) as string;
      // 30% of the rows have a high below their low: far above the 1% gate,
      // while the accepted rows stay above half the trailing median.
      const bars = (syntheticMarket(sessions, TICKERS).get(session) ?? []).map(
        (bar, i): VendorBar => (i % 10 < 3 ? { ...bar, h: bar.l === null ? null : bar.l * 0.9 } : bar),
      );
      await writeRawSessions(lake, new Map([[session, bars]]));
    });

    it('exits 3 with a DataQualityError and commits nothing', async () => {
      const before = lakeFiles(lake);
      const commitsBefore = commitKeys(lake, 'ohlcv_1d');

      const result = await runBundle(['consolidate'], { cwd: work, env: { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'day-3' } });

      expect(result.code).toBe(3);
      expect(result.errors).toEqual([{ level: 'error', error: 'DataQualityError', message: expect.stringContaining(session) }]);
      expect(result.lines.map((l) => l['msg'])).not.toContain('done');
      expect(commitKeys(lake, 'ohlcv_1d')).toEqual(commitsBefore);
      expect(lakeFiles(lake, { exclude: /^(silver|quarantine)\// })).toEqual(new Map([...before].filter(([key]) => !/^(silver|quarantine)\//.test(key))));
    });

    it('accepts the session and quarantines its bad rows under a higher MAX_REJECTED_SHARE', async () => {
      const result = await runBundle(['consolidate'], { cwd: work, env: { FIBBARS_LAKE: lake, FIBBARS_RUN_ID: 'day-3b', MAX_REJECTED_SHARE: '0.5' } });

      expect(doneReport(result)).toMatchObject({ status: 'committed', consolidate: { sessions: [session], rows: { quarantined: TICKERS * 0.3, accepted: TICKERS * 0.7 } } });
      const quarantined = await openLake(lake).readQuarantine({ from: session, to: session });
      expect(quarantined.height).toBe(TICKERS * 0.3);
    });
  });
});
