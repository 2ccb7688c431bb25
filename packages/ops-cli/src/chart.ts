/**
 * Candlestick charts as plain SVG: one renderer for both outputs. The HTML
 * file inlines the SVG plus a few lines of JS for a hover read-out (no CDN,
 * works offline); the PNG is the same SVG rasterised by resvg (no browser).
 */
import type { BarRow } from './commands/bars.js';

export interface ChartOptions {
  title: string;
  subtitle?: string;
  width?: number;
  height?: number;
}

const UP = '#26a69a';
const DOWN = '#ef5350';

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

export function renderSvg(bars: readonly BarRow[], options: ChartOptions): string {
  const W = options.width ?? 1200;
  const H = options.height ?? 700;
  const m = { left: 72, right: 24, top: 64, bottom: 44 };
  const plotW = W - m.left - m.right;
  const plotH = H - m.top - m.bottom;
  const gap = 18;
  const priceH = Math.round((plotH - gap) * 0.72);
  const volH = plotH - gap - priceH;
  const volTop = m.top + priceH + gap;

  const valid = bars.filter((b) => b.open !== null && b.high !== null && b.low !== null && b.close !== null);
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
  const vmax = Math.max(1, ...bars.map((b) => b.volume ?? 0));

  const n = Math.max(1, bars.length);
  const band = plotW / n;
  const bodyW = Math.max(1, Math.min(18, band * 0.7));
  const x = (i: number) => m.left + band * (i + 0.5);
  const y = (p: number) => m.top + ((hi - p) / (hi - lo)) * priceH;
  const yv = (v: number) => volTop + volH - (v / vmax) * volH;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" role="img" aria-label="${esc(options.title)}">`,
  );
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${m.left}" y="28" font-size="20" font-weight="bold" fill="#222">${esc(options.title)}</text>`);
  if (options.subtitle) parts.push(`<text x="${m.left}" y="48" font-size="12" fill="#666">${esc(options.subtitle)}</text>`);

  // Grid and axes.
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
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${priceH}" fill="none" stroke="#bbb"/>`);
  parts.push(`<rect x="${m.left}" y="${volTop}" width="${plotW}" height="${volH}" fill="none" stroke="#bbb"/>`);

  // Candles and volume.
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
  parts.push(`</svg>`);
  return parts.join('\n');
}

/** A single self-contained HTML page: the SVG inline, a hover read-out in inline JS, no external request. */
export function renderHtml(bars: readonly BarRow[], options: ChartOptions): string {
  const svg = renderSvg(bars, options);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(options.title)}</title>
<style>
  body { margin: 16px; font-family: system-ui, sans-serif; background: #fafafa; color: #222; }
  #chart svg { max-width: 100%; height: auto; background: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
  #readout { font: 13px ui-monospace, monospace; min-height: 1.4em; margin: 8px 0; }
  .candle:hover { opacity: .7; }
</style>
</head>
<body>
<div id="readout">hover a candle for its values</div>
<div id="chart">
${svg}
</div>
<script>
(function () {
  var out = document.getElementById('readout');
  var candles = document.querySelectorAll('#chart .candle');
  document.body.setAttribute('data-candles', String(candles.length));
  candles.forEach(function (g) {
    g.addEventListener('mouseenter', function () {
      var d = g.dataset;
      out.textContent = d.start + (d.end !== d.start ? '..' + d.end : '') + '  O ' + d.open + '  H ' + d.high + '  L ' + d.low + '  C ' + d.close + '  V ' + d.volume;
    });
  });
})();
</script>
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
