import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { SILVER_DAILY_SCHEMA, hasSchema } from '@fibbars/ohlcv-core';
import { ensureDaily, generateChunk, historySessions, tickerName } from '../../src/generate.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'fibbars-gen-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('the synthetic history generator', () => {
  const scale = { tickers: 30, years: 2, seed: 7 };

  it('writes the silver-daily schema, sorted by ticker then date, one row per ticker and session', async () => {
    const { dir, manifest } = await ensureDaily(tmp(), scale);
    const df = pl.readParquet(join(dir, manifest.files[0]!));
    expect(df.columns).toEqual(Object.keys(SILVER_DAILY_SCHEMA));
    expect(hasSchema(df, SILVER_DAILY_SCHEMA)).toBe(true);
    expect(df.height).toBe(manifest.rows);
    const sorted = df.sort(['ticker', 'date']);
    expect(sorted.getColumn('ticker').toArray()).toEqual(df.getColumn('ticker').toArray());
    expect(sorted.getColumn('date').toArray()).toEqual(df.getColumn('date').toArray());
    expect(df.select('ticker', 'date').unique().height).toBe(df.height);
    expect(df.getColumn('ticker').nUnique()).toBe(30);
  });

  it('uses NYSE sessions only, up to the fixed end of the history, with the next session kept for the increment', async () => {
    const { dir, manifest } = await ensureDaily(tmp(), scale);
    const df = pl.readParquet(join(dir, manifest.files[0]!));
    const dates = (df.getColumn('date').unique().toArray() as unknown as Date[]).map((d) => d.toISOString().slice(0, 10)).sort();
    const { sessions, increment } = historySessions(2);
    expect(dates).toEqual(sessions);
    expect(dates.every((d) => nyse.isSession(d))).toBe(true);
    expect(manifest.incrementSession).toBe(nyse.nextSession(manifest.lastSession));
    expect(manifest.incrementSession).toBe(increment);
    const inc = pl.readParquet(join(dir, manifest.incrementFile));
    expect(inc.height).toBe(30);
  });

  it('keeps low <= open, close <= high with positive prices and volumes', () => {
    const { sessions } = historySessions(3);
    const df = generateChunk({ tickers: 200, years: 3, seed: 3 }, 0, 200, sessions).collectSync();
    const bad = df.filter(
      pl
        .col('low')
        .gt(pl.col('open'))
        .or(pl.col('low').gt(pl.col('close')))
        .or(pl.col('high').lt(pl.col('open')))
        .or(pl.col('high').lt(pl.col('close')))
        .or(pl.col('low').ltEq(0))
        .or(pl.col('volume').lt(0)),
    );
    expect(df.height).toBeGreaterThan(100_000);
    expect(bad.height).toBe(0);
  });

  it('is deterministic per seed and differs between seeds', () => {
    const { sessions } = historySessions(1);
    const a = generateChunk({ tickers: 10, years: 1, seed: 1 }, 0, 10, sessions).collectSync();
    const b = generateChunk({ tickers: 10, years: 1, seed: 1 }, 0, 10, sessions).collectSync();
    const c = generateChunk({ tickers: 10, years: 1, seed: 2 }, 0, 10, sessions).collectSync();
    expect(a.frameEqual(b, true)).toBe(true);
    expect(a.getColumn('close').toArray()).not.toEqual(c.getColumn('close').toArray());
  });

  it('gives a ticker the same rows whichever chunk generates it', () => {
    const { sessions } = historySessions(1);
    const s = { tickers: 20, years: 1, seed: 5 };
    const whole = generateChunk(s, 0, 20, sessions).collectSync().filter(pl.col('ticker').eq(pl.lit(tickerName(15))));
    const part = generateChunk(s, 10, 20, sessions).collectSync().filter(pl.col('ticker').eq(pl.lit(tickerName(15))));
    expect(whole.height).toBeGreaterThan(0);
    expect(whole.frameEqual(part, true)).toBe(true);
  });

  it('reuses the cached history instead of generating it again', async () => {
    const root = tmp();
    const first = await ensureDaily(root, scale);
    const again = await ensureDaily(root, scale);
    expect(again.manifest).toEqual(first.manifest);
    expect(readFileSync(join(first.dir, 'manifest.json'), 'utf8')).toContain('"seed": 7');
  });
});
