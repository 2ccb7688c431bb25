/**
 * --adjust on the read commands, against a lake built by a real local run
 * (synthetic market: some tickers pay quarterly dividends), checked against
 * ohlcv-core's lake.read with the same adjust.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openLake, type Lake } from '@fibbars/ohlcv-core';
import { buildLake, cli, listFiles, tempDir } from '../support/cli.js';

let dir: { dir: string; cleanup: () => Promise<void> };
let lakeDir: string;
let lake: Lake;
let payer: string;
let exDate: string;

const iso = (v: unknown) => (Object.prototype.toString.call(v) === '[object Date]' ? (v as Date).toISOString().slice(0, 10) : String(v));
const r4 = (v: unknown) => (typeof v === 'number' ? Math.round(v * 1e4) / 1e4 : null);

beforeAll(async () => {
  dir = await tempDir('fibbars-adjust-');
  ({ lake: lakeDir } = await buildLake(dir.dir));
  lake = openLake(lakeDir);
  // A ticker with an ex-date well inside the lake's history, so rows before it are scaled.
  const dates = (await lake.read('ohlcv_1d')).toRecords().map((r) => iso(r.date)).sort();
  const first = dates[0]!;
  const dividends = (await lake.read('dividends')).toRecords().filter((r) => iso(r.ex_dividend_date) > first);
  const pick = dividends.sort((a, b) => (iso(a.ex_dividend_date) < iso(b.ex_dividend_date) ? 1 : -1))[0];
  if (!pick) throw new Error('the synthetic market paid no dividend inside the test lake: nothing to adjust');
  payer = String(pick.ticker);
  exDate = iso(pick.ex_dividend_date);
}, 300_000);

afterAll(async () => dir.cleanup());

describe('--adjust total-return', () => {
  it('bars prints the total-return bars lake.read returns, lower than split-adjusted before the ex-date', async () => {
    const res = await cli(['bars', payer, '--days', '5', '--last', '100', '--adjust', 'total-return', '--lake', lakeDir, '--json']);
    expect(res.code).toBe(0);
    const got = (JSON.parse(res.stdout) as { adjust: string; bars: { start_date: string; end_date: string; close: number; volume: number }[] });
    expect(got.adjust).toBe('total-return');
    const want = (await lake.read('ohlcv_5d', { tickers: [payer], adjust: 'total-return' })).toRecords();
    expect(got.bars.map((b) => [b.start_date, b.close])).toEqual(want.map((r) => [iso(r.start_date), r4(r.close)]));
    const split = (await lake.read('ohlcv_5d', { tickers: [payer] })).toRecords();
    const before = got.bars.findIndex((b) => b.end_date < exDate);
    expect(before).toBeGreaterThanOrEqual(0);
    expect(got.bars[before]!.close).toBeLessThan(r4(split[before]!.close)!);
    expect(got.bars.map((b) => b.volume)).toEqual(split.map((r) => Math.round((r.volume as number) * 100) / 100));
    const text = await cli(['bars', payer, '--days', '5', '--last', '3', '--adjust', 'total-return', '--lake', lakeDir]);
    expect(text.stdout.split('\n')[0]).toBe(`${payer} 5-session bars (anchor calendar, total-return), last 3`);
  });

  it('bars --days 1 and --anchor ticker compute total-return rows at read time like lake.read and resample', async () => {
    const res = await cli(['bars', payer, '--days', '1', '--last', '500', '--adjust', 'total-return', '--lake', lakeDir, '--json']);
    expect(res.code).toBe(0);
    const got = (JSON.parse(res.stdout) as { bars: { start_date: string; close: number }[] }).bars;
    const want = (await lake.read('ohlcv_1d', { tickers: [payer], adjust: 'total-return' })).toRecords();
    expect(got.map((b) => [b.start_date, b.close])).toEqual(want.map((r) => [iso(r.date), r4(r.close)]));
    const ticker = await cli(['bars', payer, '--days', '8', '--anchor', 'ticker', '--last', '100', '--adjust', 'total-return', '--lake', lakeDir, '--json']);
    expect(ticker.code).toBe(0);
    const bars = (JSON.parse(ticker.stdout) as { bars: { start_date: string; open: number; close: number }[] }).bars;
    // The first bar opens on the first total-return daily row and the last closes on the last.
    expect(bars[0]!.open).toBe(r4(want[0]!.open));
    expect(bars.at(-1)!.close).toBe(r4(want.at(-1)!.close));
  });

  it('export writes the total-return daily rows, and says so', async () => {
    const out = path.join(dir.dir, 'tr.csv');
    const res = await cli(['export', '--days', '1', '--adjust', 'total-return', '--tickers', payer, '--out', out, '--lake', lakeDir]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/as csv \(total-return\)$/m);
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    const header = lines[0]!.split(',');
    const close = header.indexOf('close');
    const want = (await lake.read('ohlcv_1d', { tickers: [payer], adjust: 'total-return' })).getColumn('close').toArray() as number[];
    expect(lines.slice(1).map((l) => Number(l.split(',')[close]))).toEqual(want.map((c) => expect.closeTo(c, 9)));
  });

  it('sql reads every price table with the mode', async () => {
    const query = `SELECT date, close FROM ohlcv_1d WHERE ticker = '${payer}' ORDER BY date`;
    const res = await cli(['sql', query, '--adjust', 'total-return', '--json', '--lake', lakeDir]);
    expect(res.code).toBe(0);
    const got = (JSON.parse(res.stdout) as { close: number }[]).map((r) => r.close);
    const want = (await lake.read('ohlcv_1d', { tickers: [payer], adjust: 'total-return' })).getColumn('close').toArray() as number[];
    expect(got).toEqual(want.map((c) => expect.closeTo(c, 9)));
    const plain = await cli(['sql', query, '--json', '--lake', lakeDir]);
    const raw = (await lake.read('ohlcv_1d', { tickers: [payer] })).getColumn('close').toArray() as number[];
    expect((JSON.parse(plain.stdout) as { close: number }[]).map((r) => r.close)).toEqual(raw.map((c) => expect.closeTo(c, 9)));
  });

  it('plot draws total-return bars and names the mode', async () => {
    const out = path.join(dir.dir, 'tr.html');
    const res = await cli(['plot', payer, '--days', '5', '--adjust', 'total-return', '--out', out, '--lake', lakeDir, '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ adjust: 'total-return', days: 5 });
    expect(await readFile(out, 'utf8')).toContain('total-return, anchor calendar');
  });

  it('refuses an unknown mode with one line naming the modes, writing nothing', async () => {
    const out = path.join(dir.dir, 'never');
    const res = await cli(['export', '--days', '1', '--adjust', 'dividends', '--out', path.join(out, 'x.csv'), '--lake', lakeDir]);
    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain('splits, total-return, none');
    expect(await listFiles(out)).toEqual([]);
  });
});
