/**
 * fibbars plot on a lake backfilled by a real local run over a range that
 * holds a split of the synthetic market (FXOF 10-for-1 on 2025-09-15): the
 * PNG decoded with pngjs, the HTML chart (lightweight-charts inlined) driven
 * in a real headless Chromium with every request that is not file: refused.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PNG } from 'pngjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { openLake } from '@fibbars/ohlcv-core';
import { cli, tempDir } from '../support/cli.js';
import { headlessChromium } from '../support/browser.js';

const TICKER = 'FXOF';
const SPLIT = { date: '2025-09-15', from: 1, to: 10 };
const UP = 0x26a69a;
const DOWN = 0xef5350;
const SPLIT_COLOUR = 0x7e57c2;

let dir: { dir: string; cleanup: () => Promise<void> };
let lake: string;

beforeAll(async () => {
  dir = await tempDir('fibbars-charts-');
  lake = path.join(dir.dir, 'lake');
  const res = await cli(['backfill', '--from', '2025-08-18', '--to', '2025-10-10', '--lake', lake, '--synthetic-tickers', '40']);
  if (res.code !== 0) throw new Error(`backfill failed (exit ${res.code}):\n${res.stderr}`);
}, 300_000);

afterAll(async () => dir.cleanup());

/** Pixels of each exact colour (alpha ignored). */
function histogram(png: PNG, x0 = 0, x1 = png.width): Map<number, number> {
  const counts = new Map<number, number>();
  for (let y = 0; y < png.height; y++) {
    for (let x = x0; x < x1; x++) {
      const rgb = png.data.readUInt32BE((y * png.width + x) * 4) >>> 8;
      counts.set(rgb, (counts.get(rgb) ?? 0) + 1);
    }
  }
  return counts;
}

describe('the lake holds the split the charts mark', () => {
  it('has FXOF\'s split and daily rows around it', async () => {
    const l = openLake(lake);
    const splits = (await l.read('splits', { tickers: [TICKER] })).toRecords();
    expect(splits.map((s) => [(s.execution_date as unknown as Date).toISOString().slice(0, 10), s.split_from, s.split_to])).toEqual([[SPLIT.date, SPLIT.from, SPLIT.to]]);
  });
});

describe('fibbars plot --out chart.png', () => {
  it('marks the split, labels the last price in the right margin, and says so in --json', async () => {
    const out = path.join(dir.dir, 'fxof.png');
    const res = await cli(['plot', TICKER, '--days', '1', '--out', out, '--lake', lake, '--width', '1000', '--height', '600', '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ ticker: TICKER, days: 1, splits: 1, format: 'png' });
    const png = PNG.sync.read(await readFile(out));
    expect([png.width, png.height]).toEqual([1000, 600]);
    const all = histogram(png);
    expect(all.get(UP)).toBeGreaterThan(500);
    expect(all.get(DOWN)).toBeGreaterThan(500);
    expect(all.get(SPLIT_COLOUR)).toBeGreaterThan(100);
    // The right margin (76 px) holds nothing but the last-price label, in the last candle's colour.
    const daily = (await openLake(lake).read('ohlcv_1d', { tickers: [TICKER] })).toRecords();
    const last = daily[daily.length - 1]!;
    const colour = Number(last.close) >= Number(last.open) ? UP : DOWN;
    expect(histogram(png, 1000 - 74, 1000).get(colour)).toBeGreaterThan(300);
  });

  it('marks no split on a ticker without one', async () => {
    const out = path.join(dir.dir, 'other.png');
    const other = (await openLake(lake).read('ohlcv_1d')).toRecords().find((r) => r.ticker !== TICKER)!.ticker as string;
    const res = await cli(['plot', other, '--days', '5', '--out', out, '--lake', lake, '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ splits: 0 });
    expect(histogram(PNG.sync.read(await readFile(out))).get(SPLIT_COLOUR)).toBeUndefined();
  });
});

describe('fibbars plot --out chart.html in headless Chromium', () => {
  let browser: Browser;
  let page: Page;
  const external: string[] = [];
  const errors: string[] = [];
  let bars: number;

  beforeAll(async () => {
    const out = path.join(dir.dir, 'fxof.html');
    const res = await cli(['plot', TICKER, '--days', '1', '--out', out, '--lake', lake, '--width', '1000', '--height', '600', '--json']);
    expect(res.code).toBe(0);
    bars = (JSON.parse(res.stdout) as { bars: number }).bars;
    // The system Chromium, else the one @sparticuz/chromium ships; throws if neither.
    const { executablePath, args } = await headlessChromium();
    browser = await chromium.launch({ executablePath, args });
    page = await browser.newPage({ viewport: { width: 1100, height: 800 }, deviceScaleFactor: 1 });
    // Every request is seen here (the page itself is the one file: request).
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) external.push(r.url());
    });
    await page.route('**/*', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()));
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    // CSP violations (a blocked inline script, style or load) are console errors in Chromium.
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    await page.goto(pathToFileURL(out).href);
    await page.waitForSelector('body[data-candles]', { timeout: 20_000 });
    // Two animation frames: lightweight-charts paints on the next frame.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  }, 60_000);

  afterAll(async () => browser?.close());

  // Page code goes in as strings: this package's TypeScript has no DOM types. `window.fibbars` is the page's handle on its chart.
  const range = () => page.evaluate('window.fibbars.chart.timeScale().getVisibleLogicalRange()') as Promise<{ from: number; to: number }>;

  it('ran its one inline script under the strict CSP: every bar and the split handed to the chart, title and subtitle in the page', async () => {
    expect(await page.getAttribute('body', 'data-candles')).toBe(String(bars));
    expect(await page.getAttribute('body', 'data-splits')).toBe('1');
    expect(await page.title()).toBe(`${TICKER} · daily bars`);
    const subtitle = await page.textContent('#subtitle');
    // A daily chart has no buckets: no anchor in its subtitle.
    expect(subtitle).toMatch(new RegExp(`^split-adjusted, ${bars} bars 2025-08-18 \\.\\. 2025-10-10; 1 split marked$`));
    // Price and volume panes.
    expect(await page.evaluate('window.fibbars.chart.panes().length')).toBe(2);
  });

  it('draws candles in both colours, the split marker, and is not blank', async () => {
    const shot = PNG.sync.read(await page.screenshot());
    const colours = histogram(shot);
    expect(colours.size).toBeGreaterThan(20);
    expect(colours.get(UP)).toBeGreaterThan(300);
    expect(colours.get(DOWN)).toBeGreaterThan(300);
    expect(colours.get(SPLIT_COLOUR)).toBeGreaterThan(20);
    // The canvases themselves hold the candles (not a CSS background).
    const painted = (await page.evaluate(`(() => {
      let u = 0;
      let d = 0;
      for (const c of document.querySelectorAll('#chart canvas')) {
        const ctx = c.getContext('2d');
        if (!ctx || c.width === 0 || c.height === 0) continue;
        const px = ctx.getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < px.length; i += 4) {
          const rgb = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
          if (px[i + 3] === 255 && rgb === ${UP}) u++;
          if (px[i + 3] === 255 && rgb === ${DOWN}) d++;
        }
      }
      return { u, d };
    })()`)) as { u: number; d: number };
    expect(painted.u).toBeGreaterThan(300);
    expect(painted.d).toBeGreaterThan(300);
  });

  it('moves the crosshair read-out to the bar under the pointer', async () => {
    // The split-adjusted daily bars, as fibbars bars prints them.
    const printed = (JSON.parse((await cli(['bars', TICKER, '--days', '1', '--last', '1000', '--lake', lake, '--json'])).stdout) as { bars: { start_date: string; open: number; close: number }[] }).bars;
    expect(printed).toHaveLength(bars);
    expect(await page.textContent('#readout')).toContain(`${printed[printed.length - 1]!.start_date}  O `);
    // A bar before the split: its prices are a tenth of what was traded that day.
    const target = printed[5]!;
    const date = target.start_date;
    const at = (await page.evaluate(`window.fibbars.chart.timeScale().timeToCoordinate(${JSON.stringify(date)})`)) as number;
    const box = (await page.locator('#chart').boundingBox())!;
    await page.mouse.move(box.x + at, box.y + box.height * 0.4);
    await page.waitForFunction(`document.getElementById('readout').textContent.startsWith(${JSON.stringify(date)})`);
    expect(await page.textContent('#readout')).toContain(`${date}  O ${target.open}  H `);
  });

  it('zooms with the wheel and pans with a drag', async () => {
    const box = (await page.locator('#chart').boundingBox())!;
    const before = await range();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.4);
    for (let i = 0; i < 3; i++) await page.mouse.wheel(0, -600);
    await page.waitForFunction(
      `(() => { const r = window.fibbars.chart.timeScale().getVisibleLogicalRange(); return r.to - r.from < ${(before.to - before.from) * 0.8}; })()`,
    );
    const zoomed = await range();
    expect(zoomed.to - zoomed.from).toBeLessThan((before.to - before.from) * 0.8);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.4, { steps: 8 });
    await page.mouse.up();
    const panned = await range();
    // Dragging right shows earlier bars.
    expect(panned.from).toBeLessThan(zoomed.from - 1);
    expect(panned.to - panned.from).toBeCloseTo(zoomed.to - zoomed.from, 3);
  });

  it('logged no error and asked the network for nothing', () => {
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
  });
});
