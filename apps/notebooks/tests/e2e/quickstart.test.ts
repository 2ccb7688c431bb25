import { afterAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openLake, resample } from '@fibbars/ohlcv-core';
import { runNotebooks } from '../../scripts/run-notebooks.mjs';

// Executes the quickstart with Jupyter and the tslab kernel, as CI does, and
// checks what it computed against ohlcv-core run here on the lake it built.

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
}
interface Cell {
  cell_type: string;
  execution_count?: number | null;
  outputs?: Output[];
}
const joined = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join('') : (v ?? ''));

describe('the quickstart notebook, executed headless', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-notebook-test-'));
  const lakeDir = path.join(tmp, 'lake');
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  let cells: Cell[] = [];

  it('runs every cell without an error (Jupyter nbconvert --execute, tslab kernel)', () => {
    const started = Date.now();
    const [executed] = runNotebooks(['quickstart.ipynb'], { outDir: path.join(tmp, 'out'), env: { FIBBARS_NOTEBOOK_LAKE: lakeDir } });
    console.log(`quickstart.ipynb executed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    cells = (JSON.parse(fs.readFileSync(executed ?? '', 'utf8')) as { cells: Cell[] }).cells;
    const code = cells.filter((c) => c.cell_type === 'code');
    expect(code.length).toBeGreaterThan(3);
    // Every cell after the imports prints or displays something.
    expect(code.slice(1).filter((c) => (c.outputs ?? []).length === 0)).toEqual([]);
    for (const c of code) {
      expect((c.outputs ?? []).filter((o) => o.output_type === 'error' || o.name === 'stderr')).toEqual([]);
    }
  });

  it('resamples the ticker to 5 and 21 sessions exactly as ohlcv-core does on the lake it built', async () => {
    const line = cells
      .flatMap((c) => c.outputs ?? [])
      .map((o) => joined(o.text))
      .join('')
      .split('\n')
      .find((l) => l.startsWith('quickstart-summary '));
    expect(line).toBeDefined();
    const summary = JSON.parse((line ?? '').slice('quickstart-summary '.length)) as { lake: string; ticker: string; close5: number[]; close21: number[] };
    expect(summary.lake).toBe(lakeDir);

    const lake = openLake(lakeDir);
    const history = await lake.read('ohlcv_1d', { tickers: [summary.ticker] });
    const splits = await lake.read('splits');
    const closes = (frame: { getColumn(name: string): { toArray(): unknown[] } }) => frame.getColumn('close').toArray();
    expect(history.height).toBeGreaterThan(100);
    expect(summary.close5).toEqual(closes(resample(history, { days: 5, splits })));
    expect(summary.close21).toEqual(closes(resample(history, { days: 21, splits })));
    // And as the lake's own committed bars.
    expect(summary.close5).toEqual(closes(await lake.read('ohlcv_5d', { tickers: [summary.ticker] })));
    expect(summary.close21).toEqual(closes(await lake.read('ohlcv_21d', { tickers: [summary.ticker] })));
  });

  it('shows a chart: an SVG with one candle per 5-session bar and the 21-session close line', () => {
    const svgs = cells.flatMap((c) => c.outputs ?? []).flatMap((o) => (o.data?.['image/svg+xml'] !== undefined ? [joined(o.data['image/svg+xml'])] : []));
    expect(svgs).toHaveLength(1);
    const svg = svgs[0] ?? '';
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const summaryText = cells.flatMap((c) => c.outputs ?? []).map((o) => joined(o.text)).join('');
    const close5 = (JSON.parse(/quickstart-summary (.*)/.exec(summaryText)?.[1] ?? '{}') as { close5: number[] }).close5;
    expect(svg.match(/class="candle"/g)).toHaveLength(close5.length);
    expect(svg).toMatch(/<polyline class="close-21" points="[-\d., ]+"/);
  });
});
