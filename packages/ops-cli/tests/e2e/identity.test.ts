/**
 * One security under two symbols (OLD until it renames, NEW from then on):
 * vendor-shaped raw fetches written to a folder lake, consolidated and
 * resampled by the CLI's own commands, then read back by symbol and by
 * security.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import { openLake, resample, type Lake } from '@fibbars/ohlcv-core';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { RawZone, openStore } from '@fibbars/ohlcv-core/storage';
import { cli, tableRows, tempDir } from '../support/cli.js';

const FIGI = 'BBG000RENAME';
const SESSIONS = nyse.sessionsBetween('2026-06-01', '2026-09-30');
/** The rename: a session inside (not first in) its 5-session calendar bucket. */
const RENAME = SESSIONS.slice(40).find((s) => nyse.sessionIndex(s) % 5 !== 0)!;
const LAST = SESSIONS.at(-1)!;
const iso = (v: unknown) => (Object.prototype.toString.call(v) === '[object Date]' ? (v as Date).toISOString().slice(0, 10) : String(v));
const r4 = (v: unknown) => (typeof v === 'number' ? Math.round(v * 1e4) / 1e4 : null);

let dir: { dir: string; cleanup: () => Promise<void> };
let lakeDir: string;
let lake: Lake;
let clock = Date.parse('2026-10-01T00:00:00Z');
const meta = (rows: number) => ({ requests: [], rows, source: 'test', fetchedAt: new Date((clock += 1000)) });

async function writeRaw(raw: RawZone): Promise<void> {
  for (const [k, s] of SESSIONS.entries()) {
    const t = Date.parse(`${s}T21:00:00Z`);
    const p = 40 + Math.sin(k / 3) * 4;
    const bar = (T: string, c: number) => ({ T, o: c, h: c * 1.02, l: c * 0.98, c: c * 1.01, v: 1000 + k, vw: c * 1.005, n: 10, t });
    const results = [bar(s < RENAME ? 'OLD' : 'NEW', p), bar('KEEP', 20 + k / 10)];
    await raw.write('ohlcv', s, [JSON.stringify({ status: 'OK', adjusted: false, resultsCount: 2, results })], meta(2));
  }
  const tickers = [
    { ticker: 'NEW', name: 'Renamed Corp', active: true, composite_figi: FIGI, market: 'stocks', locale: 'us', type: 'CS' },
    { ticker: 'KEEP', name: 'Keep Inc', active: true, composite_figi: 'BBG00000KEEP', market: 'stocks', locale: 'us', type: 'CS' },
  ];
  await raw.write('tickers', LAST, [JSON.stringify({ status: 'OK', results: tickers })], meta(2));
  await raw.write('splits', LAST, [JSON.stringify({ status: 'OK', results: [] })], meta(0));
  const events = [
    { type: 'ticker_change', date: '2015-03-02', ticker_change: { ticker: 'OLD' } },
    { type: 'ticker_change', date: RENAME, ticker_change: { ticker: 'NEW' } },
  ];
  await raw.write('ticker_events', LAST, [JSON.stringify({ status: 'OK', results: { name: 'Renamed Corp', composite_figi: FIGI, events } })], meta(2));
}

beforeAll(async () => {
  dir = await tempDir('fibbars-identity-');
  lakeDir = `${dir.dir}/lake`;
  await writeRaw(new RawZone(openStore(lakeDir)));
  for (const argv of [['consolidate'], ['resample', '--days', '5']]) {
    const res = await cli([...argv, '--lake', lakeDir]);
    if (res.code !== 0) throw new Error(`${argv.join(' ')} failed (exit ${res.code}): ${res.stderr}`);
  }
  lake = openLake(lakeDir);
}, 120_000);

afterAll(async () => dir.cleanup());

interface JsonBar { start_date: string; end_date: string; close: number; n_days: number; ticker?: string }

describe('one security under two symbols', () => {
  it('bars NEW shows one history through the rename, the bar spanning it whole, each bar with its symbol', async () => {
    const res = await cli(['bars', 'NEW', '--days', '5', '--last', '100', '--lake', lakeDir, '--json']);
    expect(res.code).toBe(0);
    const got = (JSON.parse(res.stdout) as { identity: string; bars: JsonBar[] });
    expect(got.identity).toBe('security');
    // The reference: the two symbols' daily rows joined under one key and resampled.
    const daily = (await lake.read('ohlcv_1d', { tickers: ['OLD', 'NEW'] })).withColumns(pl.lit(FIGI).alias('ticker')).sort('date');
    const want = resample(daily, { days: 5, asOf: LAST }).toRecords().slice(-100);
    expect(got.bars.map((b) => [b.start_date, b.close, b.n_days])).toEqual(want.map((r) => [iso(r.start_date), r4(r.close), r.n_days]));
    const spanning = got.bars.filter((b) => b.start_date < RENAME && b.end_date >= RENAME);
    expect(spanning).toHaveLength(1);
    expect(spanning[0]).toMatchObject({ n_days: 5, ticker: 'NEW' });
    expect(new Set(got.bars.map((b) => b.ticker))).toEqual(new Set(['OLD', 'NEW']));
    const text = await cli(['bars', 'NEW', '--days', '5', '--last', '100', '--lake', lakeDir]);
    expect(text.stdout.split('\n')[1]).toBe('traded as OLD, NEW over these bars (one security; the ticker column is the symbol on each bar\'s end date)');
    expect(tableRows(text.stdout, 'start').at(-1)?.at(-1)).toBe('NEW');
  });

  it('finds the same security by its old symbol as of a date it traded under it, and --identity ticker gives the stored bars', async () => {
    const byNew = JSON.parse((await cli(['bars', 'NEW', '--days', '5', '--last', '100', '--lake', lakeDir, '--json'])).stdout) as { bars: JsonBar[] };
    const old = await cli(['bars', 'OLD', '--days', '5', '--last', '100', '--as-of', SESSIONS[3]!, '--lake', lakeDir, '--json']);
    expect(old.code).toBe(0);
    expect((JSON.parse(old.stdout) as { bars: JsonBar[] }).bars).toEqual(byNew.bars);
    const stored = await cli(['bars', 'NEW', '--days', '5', '--last', '100', '--identity', 'ticker', '--lake', lakeDir, '--json']);
    const bars = (JSON.parse(stored.stdout) as { bars: JsonBar[] }).bars;
    expect(bars[0]!.start_date >= RENAME).toBe(true);
    expect(bars[0]!.n_days).toBeLessThan(5);
    const daily = await cli(['bars', 'NEW', '--days', '1', '--last', '1000', '--lake', lakeDir, '--json']);
    expect((JSON.parse(daily.stdout) as { bars: JsonBar[] }).bars).toHaveLength(SESSIONS.length);
  });

  it('tickers NEW prints the symbol history of its security', async () => {
    const res = await cli(['tickers', 'NEW', '--lake', lakeDir]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`NEW: security ${FIGI}, OLD 2015-03-02 .. ${nyse.previousSession(RENAME)}, NEW ${RENAME} .. now`);
    const json = JSON.parse((await cli(['tickers', 'NEW', '--lake', lakeDir, '--json'])).stdout) as { tickers: Array<{ security_id: string; history: unknown[] }> };
    expect(json.tickers[0]).toMatchObject({ security_id: FIGI, history: [{ ticker: 'OLD', from: '2015-03-02', to: nyse.previousSession(RENAME) }, { ticker: 'NEW', from: RENAME, to: null }] });
  });

  it('refuses --as-of with --identity ticker, and a symbol no security had, with one line and exit 2', async () => {
    const both = await cli(['bars', 'NEW', '--days', '5', '--identity', 'ticker', '--as-of', SESSIONS[3]!, '--lake', lakeDir]);
    expect(both.code).toBe(2);
    expect(both.stderr.trim().split('\n')).toHaveLength(1);
    expect(both.stderr).toContain('--as-of resolves the symbol');
    const none = await cli(['bars', 'NOPE', '--days', '5', '--lake', lakeDir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('unknown ticker NOPE');
  });

  it('export --identity security writes the one history (with security_id) that bars shows; the default stays the stored files', async () => {
    const out = `${dir.dir}/new-5d.csv`;
    const res = await cli(['export', '--days', '5', '--tickers', 'NEW', '--identity', 'security', '--out', out, '--lake', lakeDir, '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ dataset: 'ohlcv_5d', identity: 'security' });
    const written = pl.readCSV(out, { tryParseDates: false });
    expect(written.columns).toContain('security_id');
    expect(new Set(written.getColumn('security_id').toArray())).toEqual(new Set([FIGI]));
    const shown = (JSON.parse((await cli(['bars', 'NEW', '--days', '5', '--last', '1000', '--lake', lakeDir, '--json'])).stdout) as { bars: JsonBar[] }).bars;
    expect(written.toRecords().map((r) => [String(r.start_date), r4(r.close), r.n_days, r.ticker])).toEqual(shown.map((b) => [b.start_date, r4(b.close), b.n_days, b.ticker]));
    // The same security by its old symbol as of a date it traded under it.
    const old = `${dir.dir}/old-5d.csv`;
    expect((await cli(['export', '--days', '5', '--tickers', 'OLD', '--identity', 'security', '--as-of', SESSIONS[3]!, '--out', old, '--lake', lakeDir])).code).toBe(0);
    expect(pl.readCSV(old, { tryParseDates: false }).frameEqual(written)).toBe(true);
    // Without --identity: the stored bars of the symbol, no security_id.
    const stored = `${dir.dir}/stored-5d.csv`;
    expect((await cli(['export', '--days', '5', '--tickers', 'NEW', '--out', stored, '--lake', lakeDir])).code).toBe(0);
    const plain = pl.readCSV(stored, { tryParseDates: false });
    expect(plain.columns).not.toContain('security_id');
    expect(String(plain.getColumn('start_date').get(0)) >= RENAME).toBe(true);
    // --as-of needs --identity security.
    const bad = await cli(['export', '--days', '5', '--tickers', 'NEW', '--as-of', SESSIONS[3]!, '--out', `${dir.dir}/x.csv`, '--lake', lakeDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringContaining('--as-of resolves each symbol to the security it named on that date: use it with --identity security')]);
  });
});
