/**
 * The chart renderers on bar rows made here: the SVG behind the PNG (split
 * markers, last-price label, volume headroom), the PNG itself through resvg,
 * and the HTML page's CSP hash over its one script.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { PNG } from 'pngjs';
import { formatPrice, renderHtml, renderPng, renderSvg, splitLabel, splitMarkers, type ChartSplit } from '../../src/chart.js';
import type { BarRow } from '../../src/commands/bars.js';

/** Five-session bars starting on consecutive Mondays, alternating up and down, volume peaking on bar 3. */
function bars(n = 8): BarRow[] {
  return Array.from({ length: n }, (_, i) => {
    const start = new Date(Date.UTC(2026, 8, 7 + 7 * i));
    const end = new Date(start.getTime() + 4 * 86_400_000);
    const open = 100 + i;
    const close = i % 2 === 0 ? open + 2 : open - 2;
    return {
      start_date: start.toISOString().slice(0, 10),
      end_date: end.toISOString().slice(0, 10),
      open,
      high: Math.max(open, close) + 1,
      low: Math.min(open, close) - 1,
      close,
      volume: i === 3 ? 5_000_000 : 1_000_000 + i * 10_000,
      vwap: null,
      n_days: 5,
      is_complete: i < n - 1,
    };
  });
}

const attr = (tag: string, name: string) => Number(new RegExp(`\\b${name}="([-\\d.]+)"`).exec(tag)?.[1]);

describe('splitMarkers', () => {
  const rows = bars();
  it('puts a split on the bar whose range holds it, or the next bar when it fell in a hole, and drops those outside the range', () => {
    const splits: ChartSplit[] = [
      { date: '2026-09-16', from: 1, to: 4 }, // Wednesday of bar 1 (09-14 .. 09-18)
      { date: '2026-09-20', from: 10, to: 1 }, // Sunday between bar 1 and bar 2
      { date: '2026-01-05', from: 1, to: 2 }, // before the first bar
      { date: '2026-12-01', from: 1, to: 2 }, // after the last
    ];
    expect(splitMarkers(rows, splits).map((m) => [m.index, m.split.date])).toEqual([
      [1, '2026-09-16'],
      [2, '2026-09-20'],
    ]);
    expect(splitMarkers([], splits)).toEqual([]);
  });

  it('labels the ratio as new shares to old ones', () => {
    expect(splitLabel({ date: '2026-01-02', from: 1, to: 4 })).toBe('4:1');
    expect(splitLabel({ date: '2026-01-02', from: 10, to: 1 })).toBe('1:10');
    expect(splitLabel({ date: '2026-01-02', from: 2, to: 3 })).toBe('3:2');
  });
});

describe('renderSvg', () => {
  const rows = bars();
  const svg = renderSvg(rows, { title: 'T', width: 900, height: 500, splits: [{ date: '2026-09-16', from: 1, to: 4 }] });

  it('marks each split in range with its ratio on the bar that holds it', () => {
    const marks = [...svg.matchAll(/<g class="split" data-date="([^"]+)" data-bar="([^"]+)" data-ratio="([^"]+)">/g)].map((m) => m.slice(1));
    expect(marks).toEqual([['2026-09-16', '2026-09-14', '4:1']]);
    expect(svg).toContain('>split 4:1</text>');
    // The marker's line stands at the x of that bar's wick.
    const wick = /<g class="candle[^"]*" data-start="2026-09-14"[^>]*><line ([^>]*)>/.exec(svg)![1]!;
    const line = /<g class="split"[^>]*><line ([^>]*)>/.exec(svg)![1]!;
    expect(attr(line, 'x1')).toBe(attr(wick, 'x1'));
    expect(renderSvg(rows, { title: 'T' })).not.toContain('class="split"');
  });

  it('labels the last close on the right axis, at the close\'s height, in the last candle\'s colour', () => {
    const last = rows[rows.length - 1]!;
    const g = /<g class="last-price" data-price="([^"]+)"><line ([^>]*)\/><rect ([^>]*)\/><text [^>]*>([^<]+)<\/text>/.exec(svg);
    expect(g).not.toBeNull();
    const [price, line, rect, text] = g!.slice(1) as [string, string, string, string];
    expect(Number(price)).toBe(last.close);
    expect(text).toBe(formatPrice(last.close!));
    expect(rect).toContain(`fill="${last.close! >= last.open! ? '#26a69a' : '#ef5350'}"`);
    // The label sits right of the plot area (which ends at x2 of the line), centred on the line.
    expect(attr(rect, 'x')).toBeGreaterThan(attr(line, 'x2'));
    expect(attr(rect, 'y') + attr(rect, 'height') / 2).toBeCloseTo(attr(line, 'y1'), 1);
  });

  it('leaves headroom above the tallest volume bar', () => {
    const pane = /<rect class="volume-pane" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"/.exec(svg)!;
    const [volTop, volH] = [Number(pane[1]), Number(pane[2])];
    const tops = [...svg.matchAll(/<rect class="volume" [^>]* y="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(tops).toHaveLength(rows.length);
    const tallest = Math.min(...tops);
    expect(tallest - volTop).toBeGreaterThanOrEqual(volH * 0.1);
    // And the tallest still fills most of the pane.
    expect(tallest - volTop).toBeLessThan(volH * 0.3);
  });

  it('formats prices as the axis does', () => {
    expect(formatPrice(123.456)).toBe('123.46');
    expect(formatPrice(0.012345)).toBe('0.01235');
  });
});

describe('renderPng', () => {
  it('draws the split marker and the last-price label in their colours', async () => {
    const png = PNG.sync.read(await renderPng(bars(), { title: 'T', width: 900, height: 500, splits: [{ date: '2026-09-16', from: 1, to: 4 }] }));
    const at = (x: number, y: number) => png.data.readUInt32BE((y * png.width + x) * 4) >>> 8;
    const count = (rgb: number, x0 = 0, x1 = png.width) => {
      let n = 0;
      for (let y = 0; y < png.height; y++) for (let x = x0; x < x1; x++) if (at(x, y) === rgb) n++;
      return n;
    };
    expect(count(0x7e57c2)).toBeGreaterThan(100);
    // The last bar is down: its label fills part of the right margin (past the plot's right edge at 900 - 76) in red.
    expect(count(0xef5350, 900 - 74, 900)).toBeGreaterThan(200);
    const plain = PNG.sync.read(await renderPng(bars(), { title: 'T', width: 900, height: 500 }));
    let purple = 0;
    for (let i = 0; i < plain.data.length; i += 4) if (plain.data.readUInt32BE(i) >>> 8 === 0x7e57c2) purple++;
    expect(purple).toBe(0);
  });
});

describe('renderHtml', () => {
  it('inlines lightweight-charts and the page code in one script whose sha256 the CSP names, and nothing loads from elsewhere', async () => {
    const html = await renderHtml(bars(), { title: 'A <b> · 5-session bars', splits: [{ date: '2026-09-16', from: 1, to: 4 }] });
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!;
    expect(csp).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]+=*'; /);
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    const scripts = [...html.matchAll(/<script( [^>]*)?>([\s\S]*?)<\/script>/g)];
    const executable = scripts.filter((m) => !/type="application\/json"/.test(m[1] ?? ''));
    expect(executable).toHaveLength(1);
    const body = executable[0]![2]!;
    expect(body).toContain('Lightweight Charts™ v5.2.1');
    expect(csp).toContain(`'sha256-${createHash('sha256').update(body, 'utf8').digest('base64')}'`);
    expect(html).not.toMatch(/<script[^>]* src=/);
    expect(html).not.toMatch(/(src|href)=["']https?:/);
    expect(html).toContain('<title>A &lt;b&gt; · 5-session bars</title>');
    const data = JSON.parse(scripts.find((m) => /id="fibbars-data"/.test(m[1] ?? ''))![2]!) as { bars: unknown[]; splits: { time: string; ratio: string }[] };
    expect(data.bars).toHaveLength(8);
    expect(data.splits).toEqual([{ time: '2026-09-14', date: '2026-09-16', ratio: '4:1' }]);
  });
});
