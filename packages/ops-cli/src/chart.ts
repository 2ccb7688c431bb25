/**
 * Candlestick charts, two renderers over the same bar rows.
 *
 * - PNG: an SVG drawn by our own code (split markers, a last-price label,
 *   headroom above the tallest volume bar), rasterised by resvg: no browser.
 * - HTML: TradingView's lightweight-charts (Apache-2.0), its standalone build
 *   inlined into the page with the bars as a JSON data block, so the file
 *   works offline and loads nothing; the CSP allows exactly that one script
 *   by its sha256 hash. Zoom (wheel, pinch), pan (drag), crosshair with a
 *   read-out, a volume pane, split markers and the last-price label.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { BarRow } from './commands/bars.js';

/** A split executed on `date`: `to` new shares for every `from` old ones (4-for-1: from 1, to 4). */
export interface ChartSplit {
  date: string;
  from: number;
  to: number;
}

export interface ChartOptions {
  title: string;
  subtitle?: string;
  width?: number;
  height?: number;
  /** Splits of the ticker; those inside the plotted range are marked on the bar that holds them. */
  splits?: readonly ChartSplit[];
}

const UP = '#26a69a';
const DOWN = '#ef5350';
const SPLIT = '#7e57c2';
/** The tallest volume bar reaches this share of the volume pane, so it never touches the pane's top. */
const VOLUME_HEADROOM = 0.85;

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** About `count` round tick values covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmtVolume(v: number): string {
  if (v >= 1e9) return `${(v / 1e9).toFixed(1)}B`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(0)}K`;
  return String(Math.round(v));
}

const f = (n: number) => Number(n.toFixed(2));

/** A price as the axis shows it: 2 decimals from 1 up, 4 significant digits below. */
export function formatPrice(p: number): string {
  return Math.abs(p) >= 1 ? p.toFixed(2) : Number(p.toPrecision(4)).toString();
}

/** "4:1", "3:2", "1:10": new shares to old ones. */
export function splitLabel(s: ChartSplit): string {
  const n = (v: number) => String(Number(v.toPrecision(6)));
  return `${n(s.to)}:${n(s.from)}`;
}

/**
 * Each split inside the plotted range, with the index of the bar that holds
 * its execution date (or the first bar after it, when the date fell in a hole
 * of the ticker's history). Splits before the first bar or after the last are
 * left out.
 */
export function splitMarkers(bars: readonly BarRow[], splits: readonly ChartSplit[] = []): { index: number; split: ChartSplit }[] {
  const out: { index: number; split: ChartSplit }[] = [];
  if (bars.length === 0) return out;
  for (const split of [...splits].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0))) {
    if (split.date < bars[0]!.start_date || split.date > bars[bars.length - 1]!.end_date) continue;
    const index = bars.findIndex((b) => b.end_date >= split.date);
    if (index >= 0) out.push({ index, split });
  }
  return out;
}

/** Where things go on the SVG: its size, the margins, the two panes and the scales that map bars into them. */
interface SvgLayout {
  W: number;
  H: number;
  m: { left: number; right: number; top: number; bottom: number };
  plotW: number;
  priceH: number;
  volTop: number;
  volH: number;
  /** The price scale's range, padded. */
  lo: number;
  hi: number;
  vmax: number;
  /** Bars (at least 1) and the width of a candle's body. */
  n: number;
  bodyW: number;
  x: (i: number) => number;
  y: (p: number) => number;
  yv: (v: number) => number;
}

export function renderSvg(bars: readonly BarRow[], options: ChartOptions): string {
  const valid = bars.filter((b) => b.open !== null && b.high !== null && b.low !== null && b.close !== null);
  const layout = svgLayout(bars, valid, options);
  return [
    ...svgHeader(layout, options),
    ...svgAxes(bars, layout),
    ...svgCandles(bars, layout),
    ...svgSplits(bars, options.splits, layout),
    ...svgLastPrice(valid, layout),
    `</svg>`,
  ].join('\n');
}

function svgLayout(bars: readonly BarRow[], valid: readonly BarRow[], options: ChartOptions): SvgLayout {
  const W = options.width ?? 1200;
  const H = options.height ?? 700;
  // The right margin holds the last-price label.
  const m = { left: 72, right: 76, top: 64, bottom: 44 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const gap = 18;
  const priceH = Math.round((plotH - gap) * 0.72);
  const volH = plotH - gap - priceH;
  const volTop = m.top + priceH + gap;

  const { lo, hi } = priceRange(valid);
  const vmax = Math.max(1, ...bars.map((b) => b.volume ?? 0));

  const n = Math.max(1, bars.length);
  const band = plotW / n;
  const bodyW = Math.max(1, Math.min(18, band * 0.7));
  const x = (i: number) => m.left + band * (i + 0.5);
  const y = (p: number) => m.top + ((hi - p) / (hi - lo)) * priceH;
  const yv = (v: number) => volTop + volH - (v / vmax) * volH * VOLUME_HEADROOM;
  return { W, H, m, plotW, priceH, volTop, volH, lo, hi, vmax, n, bodyW, x, y, yv };
}

/** The lowest low and highest high, padded by 5 % of their spread on either side (0..1 when no bar has a price). */
function priceRange(valid: readonly BarRow[]): { lo: number; hi: number } {
  const lows = valid.map((b) => b.low as number);
  const highs = valid.map((b) => b.high as number);
  let lo = Math.min(...lows);
  let hi = Math.max(...highs);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
  lo -= pad;
  hi += pad;
  return { lo, hi };
}

function svgHeader({ W, H, m }: SvgLayout, options: ChartOptions): string[] {
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" role="img" aria-label="${esc(options.title)}">`,
  );
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${m.left}" y="28" font-size="20" font-weight="bold" fill="#222">${esc(options.title)}</text>`);
  if (options.subtitle) parts.push(`<text x="${m.left}" y="48" font-size="12" fill="#666">${esc(options.subtitle)}</text>`);
  return parts;
}

/** Grid and axes: price and volume ticks, about 10 dates along the bottom, the two panes' frames. */
function svgAxes(bars: readonly BarRow[], { W, H, m, plotW, priceH, volTop, volH, lo, hi, vmax, n, x, y, yv }: SvgLayout): string[] {
  const parts: string[] = [];
  parts.push(`<g class="axis" font-size="11" fill="#555">`);
  for (const t of niceTicks(lo, hi, 6)) {
    const yy = f(y(t));
    parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${yy}" y2="${yy}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.left - 6}" y="${f(yy + 4)}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(0, vmax, 3)) {
    const yy = f(yv(t));
    parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${yy}" y2="${yy}" stroke="#eeeeee"/>`);
    parts.push(`<text x="${m.left - 6}" y="${f(yy + 4)}" text-anchor="end">${fmtVolume(t)}</text>`);
  }
  const every = Math.max(1, Math.ceil(n / 10));
  bars.forEach((b, i) => {
    if (i % every === 0) parts.push(`<text x="${f(x(i))}" y="${H - m.bottom + 18}" text-anchor="middle">${b.start_date}</text>`);
  });
  parts.push(`<text x="${m.left}" y="${volTop - 4}" font-size="11" fill="#555">volume</text>`);
  parts.push(`</g>`);
  parts.push(`<rect class="price-pane" x="${m.left}" y="${m.top}" width="${plotW}" height="${priceH}" fill="none" stroke="#bbb"/>`);
  parts.push(`<rect class="volume-pane" x="${m.left}" y="${volTop}" width="${plotW}" height="${volH}" fill="none" stroke="#bbb"/>`);
  return parts;
}

/** Candles and volume. */
function svgCandles(bars: readonly BarRow[], { volTop, volH, bodyW, x, y, yv }: SvgLayout): string[] {
  const parts: string[] = [];
  parts.push(`<g class="candles">`);
  bars.forEach((b, i) => {
    if (b.open === null || b.high === null || b.low === null || b.close === null) return;
    const up = b.close >= b.open;
    const color = up ? UP : DOWN;
    const top = f(y(Math.max(b.open, b.close)));
    const h = Math.max(1, f(y(Math.min(b.open, b.close)) - top));
    const cx = f(x(i));
    const data = `data-start="${b.start_date}" data-end="${b.end_date}" data-open="${b.open}" data-high="${b.high}" data-low="${b.low}" data-close="${b.close}" data-volume="${b.volume ?? ''}"`;
    // A bar whose bucket is still open is drawn lighter: it will change.
    const open = b.is_complete ? '' : ' fill-opacity="0.45" stroke-dasharray="3 2"';
    parts.push(
      `<g class="candle ${up ? 'up' : 'down'}${b.is_complete ? '' : ' partial'}" ${data}${open}>` +
        `<line x1="${cx}" x2="${cx}" y1="${f(y(b.high))}" y2="${f(y(b.low))}" stroke="${color}" stroke-width="1"/>` +
        `<rect x="${f(cx - bodyW / 2)}" y="${top}" width="${f(bodyW)}" height="${h}" fill="${color}" stroke="${color}"/>` +
        `</g>`,
    );
    if (b.volume !== null && b.volume > 0) {
      const vy = f(yv(b.volume));
      parts.push(
        `<rect class="volume" x="${f(cx - bodyW / 2)}" y="${vy}" width="${f(bodyW)}" height="${Math.max(1, f(volTop + volH - vy))}" fill="${color}" fill-opacity="0.6"/>`,
      );
    }
  });
  parts.push(`</g>`);
  return parts;
}

/** Splits: a dashed line through the price pane at the bar that holds the split, labelled with the ratio. */
function svgSplits(bars: readonly BarRow[], splits: readonly ChartSplit[] | undefined, { W, m, priceH, x }: SvgLayout): string[] {
  const markers = splitMarkers(bars, splits);
  if (markers.length === 0) return [];
  const parts: string[] = [];
  parts.push(`<g class="splits" font-size="11" font-weight="bold">`);
  for (const { index, split } of markers) {
    const cx = f(x(index));
    const label = `split ${splitLabel(split)}`;
    const w = label.length * 6.6 + 8;
    const lx = f(Math.min(Math.max(cx - w / 2, m.left + 1), W - m.right - w - 1));
    parts.push(
      `<g class="split" data-date="${split.date}" data-bar="${bars[index]!.start_date}" data-ratio="${splitLabel(split)}">` +
        `<line x1="${cx}" x2="${cx}" y1="${m.top + 20}" y2="${m.top + priceH}" stroke="${SPLIT}" stroke-width="1.5" stroke-dasharray="4 3"/>` +
        `<rect x="${lx}" y="${m.top + 3}" width="${f(w)}" height="16" rx="3" fill="${SPLIT}"/>` +
        `<text x="${f(lx + w / 2)}" y="${m.top + 15}" text-anchor="middle" fill="#ffffff">${esc(label)}</text>` +
        `</g>`,
    );
  }
  parts.push(`</g>`);
  return parts;
}

/** The last close: a dashed line across the price pane and its value on the right axis, in the last candle's colour. */
function svgLastPrice(valid: readonly BarRow[], { W, m, priceH, y }: SvgLayout): string[] {
  const lastBar = [...valid].pop();
  if (!lastBar) return [];
  const close = lastBar.close as number;
  const color = close >= (lastBar.open as number) ? UP : DOWN;
  const yy = f(Math.min(Math.max(y(close), m.top), m.top + priceH));
  return [
    `<g class="last-price" data-price="${close}">` +
      `<line x1="${m.left}" x2="${W - m.right}" y1="${yy}" y2="${yy}" stroke="${color}" stroke-width="1" stroke-dasharray="2 2"/>` +
      `<rect x="${W - m.right + 2}" y="${f(yy - 9)}" width="${m.right - 6}" height="18" rx="2" fill="${color}"/>` +
      `<text x="${W - m.right + 6}" y="${f(yy + 4)}" font-size="11" font-weight="bold" fill="#ffffff">${esc(formatPrice(close))}</text>` +
      `</g>`,
  ];
}

const require = createRequire(import.meta.url);
let library: Promise<string> | undefined;

/** The standalone build of lightweight-charts (it defines `window.LightweightCharts`), read once. */
function chartLibrary(): Promise<string> {
  library ??= readFile(
    path.join(path.dirname(require.resolve('lightweight-charts/package.json')), 'dist', 'lightweight-charts.standalone.production.js'),
    'utf8',
  );
  return library;
}

/** JSON that is safe inside a <script> element: no "</script", no "<!--". */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The page's own code: builds the chart from the JSON data block. Plain ES2017, no imports. */
const INIT = `
(function () {
  'use strict';
  var LC = window.LightweightCharts;
  var data = JSON.parse(document.getElementById('fibbars-data').textContent);
  var el = document.getElementById('chart');
  var out = document.getElementById('readout');
  // The browser's language for dates, unless Intl refuses it (a POSIX locale such as "en-US@posix" throws).
  var locale = 'en-US';
  try {
    if (Intl.DateTimeFormat.supportedLocalesOf([navigator.language]).length > 0) locale = navigator.language;
  } catch (e) {
    locale = 'en-US';
  }
  var chart = LC.createChart(el, {
    autoSize: true,
    layout: {
      background: { type: 'solid', color: '#ffffff' },
      textColor: '#333333',
      fontFamily: 'system-ui, -apple-system, "DejaVu Sans", Arial, sans-serif',
      panes: { separatorColor: '#d0d0d0', separatorHoverColor: 'rgba(0, 0, 0, 0.08)', enableResize: true },
    },
    grid: { vertLines: { color: '#f0f0f0' }, horzLines: { color: '#ebebeb' } },
    crosshair: { mode: LC.CrosshairMode.Normal },
    rightPriceScale: { borderColor: '#cccccc' },
    timeScale: { borderColor: '#cccccc', rightOffset: 2, minBarSpacing: 0.5 },
    localization: { locale: locale },
  });
  var fade = function (hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + (n >> 16) + ', ' + ((n >> 8) & 255) + ', ' + (n & 255) + ', ' + alpha + ')';
  };
  var cheap = data.bars.some(function (b) { return b.low < 1; });
  var candles = chart.addSeries(LC.CandlestickSeries, {
    upColor: data.up, downColor: data.down, wickUpColor: data.up, wickDownColor: data.down, borderVisible: false,
    priceLineVisible: true, lastValueVisible: true,
    // Cents, or 4 decimals for a penny stock (prices are stored to 4 decimals).
    priceFormat: cheap ? { type: 'price', precision: 4, minMove: 0.0001 } : { type: 'price', precision: 2, minMove: 0.01 },
  });
  var volume = chart.addSeries(LC.HistogramSeries, {
    priceFormat: { type: 'volume' }, priceLineVisible: false, lastValueVisible: false,
  }, 1);
  // Headroom above the tallest volume bar.
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.15, bottom: 0 } });
  var byTime = {};
  candles.setData(data.bars.map(function (b) {
    byTime[b.time] = b;
    var c = b.close >= b.open ? data.up : data.down;
    // A bar whose bucket is still open is drawn lighter: it will change.
    return b.complete
      ? { time: b.time, open: b.open, high: b.high, low: b.low, close: b.close }
      : { time: b.time, open: b.open, high: b.high, low: b.low, close: b.close, color: fade(c, 0.45), wickColor: fade(c, 0.45) };
  }));
  volume.setData(data.bars.filter(function (b) { return b.volume !== null; }).map(function (b) {
    return { time: b.time, value: b.volume, color: fade(b.close >= b.open ? data.up : data.down, b.complete ? 0.6 : 0.3) };
  }));
  LC.createSeriesMarkers(candles, data.splits.map(function (s) {
    return { time: s.time, position: 'aboveBar', shape: 'arrowDown', color: data.split, text: 'split ' + s.ratio };
  }));
  var panes = chart.panes();
  panes[0].setStretchFactor(3);
  if (panes[1]) panes[1].setStretchFactor(1);
  chart.timeScale().fitContent();
  var show = function (b) {
    if (!b) return;
    out.textContent = b.time + (b.end !== b.time ? '..' + b.end : '') + '  O ' + b.open + '  H ' + b.high + '  L ' + b.low +
      '  C ' + b.close + '  V ' + (b.volume === null ? '-' : b.volume) + (b.complete ? '' : '  (bucket still open)');
  };
  var last = data.bars[data.bars.length - 1];
  show(last);
  chart.subscribeCrosshairMove(function (param) {
    show(param.time !== undefined && byTime[param.time] ? byTime[param.time] : last);
  });
  document.body.setAttribute('data-candles', String(data.bars.length));
  document.body.setAttribute('data-splits', String(data.splits.length));
  // For the curious, in the browser's console.
  window.fibbars = { chart: chart, candles: candles, volume: volume };
})();
`;

/**
 * One self-contained HTML page: lightweight-charts and the bars inline, a
 * CSP that allows that one script (by hash) and nothing from the network.
 */
export async function renderHtml(bars: readonly BarRow[], options: ChartOptions): Promise<string> {
  const W = options.width ?? 1200;
  const H = options.height ?? 700;
  const valid = bars.filter((b) => b.open !== null && b.high !== null && b.low !== null && b.close !== null);
  const data = {
    up: UP,
    down: DOWN,
    split: SPLIT,
    bars: valid.map((b) => ({
      time: b.start_date,
      end: b.end_date,
      open: b.open,
      high: b.high,
      low: b.low,
      close: b.close,
      volume: b.volume,
      complete: b.is_complete,
    })),
    splits: splitMarkers(valid, options.splits).map(({ index, split }) => ({ time: valid[index]!.start_date, date: split.date, ratio: splitLabel(split) })),
  };
  const script = `${await chartLibrary()}\n${INIT}`;
  const hash = createHash('sha256').update(script, 'utf8').digest('base64');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(options.title)}</title>
<style>
  body { margin: 16px; font-family: system-ui, sans-serif; background: #fafafa; color: #222; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #subtitle { font-size: 12px; color: #666; margin: 0 0 8px; }
  #readout { font: 13px ui-monospace, monospace; min-height: 1.4em; margin: 0 0 8px; }
  #chart { width: min(100%, ${W}px); height: ${H}px; background: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
  #help { font-size: 12px; color: #666; margin: 8px 0 0; }
</style>
</head>
<body>
<h1>${esc(options.title)}</h1>
${options.subtitle ? `<p id="subtitle">${esc(options.subtitle)}</p>\n` : ''}<div id="readout"></div>
<div id="chart"></div>
<p id="help">Scroll or pinch to zoom, drag to pan, double-click the price axis to reset it. Chart by TradingView Lightweight Charts&trade; (Apache-2.0).</p>
<script type="application/json" id="fibbars-data">${scriptJson(data)}</script>
<script>${script}</script>
</body>
</html>
`;
}

/** The SVG rasterised with resvg: no browser, system fonts for the text. */
export async function renderPng(bars: readonly BarRow[], options: ChartOptions): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  const svg = renderSvg(bars, options);
  const resvg = new Resvg(svg, {
    background: '#ffffff',
    fitTo: { mode: 'original' },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}
