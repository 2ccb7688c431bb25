// The lake jobs on real data: three months of the S&P 500 sample written to the
// raw zone as vendor responses, consolidated and resampled through the lake.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataQualityError } from '../../src/errors.js';
import { consolidateLake } from '../../src/jobs.js';
import { resampleLake } from '../../src/resample-lake.js';
import { openLake, type Lake } from '../../src/lake.js';
import { resample } from '../../src/resample.js';
import { frameDifference } from '../helpers/lake-checks.js';
import { isoColumn } from '../helpers/frames.js';
import { writeOhlcv, type RawBar } from '../helpers/raw.js';
import { sharedDataFile, tempDir } from '../helpers/temp.js';

const FILE = sharedDataFile('sp500-daily-2013-2017.csv.gz');
const FROM = '2014-05-01';
const TO = '2014-07-31';
const LAST_INITIAL = '2014-07-24'; // sessions after it arrive one by one

/** The sample's rows in [FROM, TO] as vendor bars, by session (empty CSV fields become absent prices). */
function loadSessions(): Map<string, RawBar[]> {
  const lines = gunzipSync(readFileSync(FILE)).toString('utf8').split('\n');
  const header = lines[0]!.trim().split(',');
  const at = (n: string) => header.indexOf(n);
  const num = (v: string | undefined) => (v === undefined || v.trim() === '' ? null : Number(v));
  const out = new Map<string, RawBar[]>();
  for (const line of lines.slice(1)) {
    const f = line.trim().split(',');
    const date = f[at('date')];
    if (!date || date < FROM || date > TO) continue;
    const bars = out.get(date) ?? [];
    bars.push({ T: f[at('ticker')]!, o: num(f[at('open')]), h: num(f[at('high')]), l: num(f[at('low')]), c: num(f[at('close')]), v: num(f[at('volume')]) });
    out.set(date, bars);
  }
  return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

if (existsSync(FILE)) {
  describe('lake jobs on the real S&P 500 sample (May-July 2014)', () => {
    let work: { dir: string; cleanup: () => Promise<void> };
    let lake: Lake;
    let sessions: Map<string, RawBar[]>;
    beforeAll(async () => {
      work = await tempDir('fibbars-sp500');
      lake = openLake(work.dir);
      sessions = loadSessions();
      for (const [session, bars] of sessions) if (session <= LAST_INITIAL) await writeOhlcv(lake.raw, session, bars);
    }, 120_000);
    afterAll(async () => {
      await work?.cleanup();
    });

    it('stops at the quality gate on 2014-05-19 (two bad prints in about 100 rows) and writes nothing', async () => {
      const error = await consolidateLake(lake, { runId: 'strict' }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DataQualityError);
      expect((error as Error).message).toMatch(/session 2014-05-19: rejected share/);
      expect(await lake.head('ohlcv_1d')).toBeNull();
      expect(await lake.store.list('silver/')).toEqual([]);
    });

    it('quarantines the known bad rows with their reasons under a laxer gate', async () => {
      const report = await consolidateLake(lake, { runId: 'lax', maxRejectedShare: 0.05 });
      expect(report.sessions[0]).toBe('2014-05-01');
      expect(report.rows.quarantined).toBe(3);
      const q = await lake.readQuarantine();
      const found = q.getColumn('ticker').toArray().map((t, i) => `${String(t)} ${isoColumn(q, 'date')[i]} ${String(q.getColumn('reason').get(i))}`);
      expect(found.sort()).toEqual(['AOS 2014-05-19 ohlc-inconsistent', 'CHD 2014-05-19 ohlc-inconsistent', 'CHK 2014-06-30 ohlc-inconsistent']);
      const daily = await lake.read('ohlcv_1d');
      expect(daily.height).toBe(report.rows.accepted);
      expect((await lake.read('ohlcv_1d', { tickers: ['CHD'], from: '2014-05-19', to: '2014-05-19' })).height).toBe(0);
    });

    it('keeps incremental bars equal to a full rebuild as the remaining sessions arrive day by day', async () => {
      await resampleLake(lake, { days: [3, 5, 8, 13, 21], runId: 'initial' });
      for (const [session, bars] of sessions) {
        if (session <= LAST_INITIAL) continue;
        await writeOhlcv(lake.raw, session, bars);
        await consolidateLake(lake, { runId: `c-${session}`, maxRejectedShare: 0.05 });
        const r = await resampleLake(lake, { days: [3, 5, 8, 13, 21], runId: `r-${session}` });
        expect(r.intervals.every((i) => i.mode === 'incremental')).toBe(true);
      }
      const daily = await lake.read('ohlcv_1d');
      const latest = (await lake.head('ohlcv_1d'))!.meta.latestSession as string;
      expect(latest).toBe('2014-07-31');
      for (const days of [3, 5, 8, 13, 21]) {
        const full = resample(daily, { days, asOf: latest }).sort(['ticker', 'start_date']);
        expect({ days, difference: frameDifference(await lake.read(`ohlcv_${days}d`), full) }).toEqual({ days, difference: null });
      }
    }, 180_000);
  });
} else {
  describe('lake jobs on the real S&P 500 sample (data absent)', () => {
    it('is skipped because the shared data file is absent', () => {
      console.warn(`skipped: ${FILE} not found (../shared/data relative to the repository root)`);
      expect(existsSync(FILE)).toBe(false);
    });
  });
}
