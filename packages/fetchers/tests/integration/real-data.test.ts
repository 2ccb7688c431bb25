/**
 * Real end-of-day bars (../shared/data, see its README) served in the
 * vendor's grouped-daily shape: the fetcher must carry messy real rows
 * through untouched, and the synthetic market should look like the real one.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { readSp500Rows, sharedDataPath, SP500_FILE, type Sp500Row } from '@fibbars/testing';
import { PolygonSource } from '../../src/polygon.js';
import { SyntheticSource } from '../../src/synthetic.js';
import { newYorkCloseMs } from '../../src/time.js';
import { groupedDaily, json, startVendor } from '../helpers/vendor.js';
import type { VendorServer } from '../helpers/vendor.js';

const DATA = sharedDataPath(SP500_FILE);
const present = existsSync(DATA);

type Row = Sp500Row;
const load = (): Row[] => readSp500Rows(DATA);

if (!present) {
  describe('real daily bars (../shared/data)', () => {
    it('is skipped: the data file is absent', () => {
      console.log(`skipped: ${DATA} is absent (it ships with developer checkouts and CI only)`);
      expect(present).toBe(false);
    });
  });
} else {
  describe('real daily bars (../shared/data) through the vendor source', () => {
    let rows: Row[];
    let vendor: VendorServer;
    const byDate = new Map<string, Row[]>();
    const sent: string[] = [];

    beforeAll(async () => {
      rows = load();
      for (const r of rows) byDate.set(r.date, [...(byDate.get(r.date) ?? []), r]);
      vendor = await startVendor((req, res) => {
        const date = req.path.split('/').at(-1)!;
        const day = byDate.get(date) ?? [];
        const t = newYorkCloseMs(date);
        const body = JSON.stringify(groupedDaily(day.map((r) => ({ T: r.ticker, v: r.volume, o: r.open, c: r.close, h: r.high, l: r.low, t }))));
        sent.push(body);
        json(res, body);
      });
    });
    afterAll(() => vendor.close());

    it.each([
      ['2014-05-19', 'CHD open far below its low, AOS out of range'],
      ['2017-07-26', 'BHF with empty open, high and low'],
    ])('carries the messy real session %s (%s) through byte for byte', async (session) => {
      const source = new PolygonSource({ apiKey: 'test-key-000', baseUrl: vendor.baseUrl, rpm: 10_000, sleep: async () => {} });

      const result = await source.groupedDaily(session);

      expect(result.pages).toEqual([sent.at(-1)]);
      expect(result.rows).toBe(byDate.get(session)!.length);
      const page = JSON.parse(result.pages[0]!) as { results: { T: string; o: number | null }[] };
      expect(page.results.map((r) => r.T)).toEqual(byDate.get(session)!.map((r) => r.ticker));
    });

    it('covers exactly the NYSE sessions of its range, as the calendar the fetchers rely on says', () => {
      const dates = [...byDate.keys()].sort();
      expect(dates).toEqual(nyse.sessionsBetween(dates[0]!, dates.at(-1)!));
    });

    it('has a synthetic market whose typical daily volatility is of the real order of magnitude', () => {
      const medianVol = (series: Map<string, number[]>) => {
        const vols: number[] = [];
        for (const closes of series.values()) {
          const r: number[] = [];
          for (let i = 1; i < closes.length; i++) r.push(Math.log(closes[i]! / closes[i - 1]!));
          if (r.length < 100) continue;
          const m = r.reduce((a, x) => a + x, 0) / r.length;
          vols.push(Math.sqrt(r.reduce((a, x) => a + (x - m) ** 2, 0) / r.length));
        }
        vols.sort((a, b) => a - b);
        return vols[Math.floor(vols.length / 2)]!;
      };
      const real = new Map<string, number[]>();
      for (const r of rows) if (r.close !== null && r.date >= '2015-01-01' && r.date <= '2015-12-31') real.set(r.ticker, [...(real.get(r.ticker) ?? []), r.close]);
      const synthetic = new Map<string, number[]>();
      const market = new SyntheticSource({ seed: 42, tickers: 100 });
      for (const session of nyse.sessionsBetween('2015-01-01', '2015-12-31')) {
        const splitting = new Set(market.splitsOn(session).map((s) => s.ticker));
        for (const b of market.bars(session)) {
          if (splitting.has(b.ticker)) synthetic.delete(b.ticker); // keep split-free series only
          else synthetic.set(b.ticker, [...(synthetic.get(b.ticker) ?? []), b.close]);
        }
      }

      const ratio = medianVol(synthetic) / medianVol(real);

      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2.5);
    });
  });
}
