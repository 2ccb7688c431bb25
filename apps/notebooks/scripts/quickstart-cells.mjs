// The quickstart notebook's cells, kept here as plain strings so the notebook
// JSON is generated (node scripts/quickstart-cells.mjs > quickstart.ipynb) and
// its code can be reviewed as code. README.md shows the same code.
export const cells = [
  ['markdown', `# fibbars quickstart

Build a small lake from the seeded synthetic market, open it with
\`@fibbars/ohlcv-core\`, resample one ticker to 5 and 21 sessions and chart it.
Runs on the \`tslab\` TypeScript kernel; CI executes it headless with
\`jupyter nbconvert --execute\`.`],
  ['code', `import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tslab from 'tslab';
import type { DataFrame } from 'nodejs-polars';
import { consolidateLake, nyse, openLake, resample, resampleLake } from '@fibbars/ohlcv-core';
import { SyntheticSource, createMetaHandler, createOhlcvHandler } from '@fibbars/fetchers';`],
  ['markdown', `## A small lake

Half a year of daily bars for 25 synthetic tickers, fetched by the same
handlers the Lambda functions run, then consolidated and resampled by the
same jobs the Batch containers run. \`FIBBARS_NOTEBOOK_LAKE\` picks the folder
(the tests look at it afterwards); by default it is a temporary one.`],
  ['code', `const lakeUri = process.env.FIBBARS_NOTEBOOK_LAKE ?? mkdtempSync(join(tmpdir(), 'fibbars-quickstart-'));
const quiet = { info() {}, warn() {}, error() {} };
const source = new SyntheticSource({ seed: 42, tickers: 25 });
const fetchOhlcv = createOhlcvHandler({ source, lake: lakeUri, logger: quiet });
const fetchMeta = createMetaHandler({ source, lake: lakeUri, logger: quiet });
const sessions = nyse.sessionsBetween('2024-01-02', '2024-06-28');
for (const date of sessions) {
  await fetchOhlcv({ date }, { awsRequestId: 'quickstart' });
  await fetchMeta({ date }, { awsRequestId: 'quickstart' });
}
const lake = openLake(lakeUri);
const consolidated = await consolidateLake(lake, { runId: 'quickstart' });
const stored = await resampleLake(lake, { days: [5, 21], runId: 'quickstart' });
console.log(\`\${sessions.length} sessions, \${consolidated.rows.accepted} daily rows; committed \${stored.intervals.map((i) => \`\${i.dataset} v\${i.version}\`).join(', ')}\`);`],
  ['markdown', `## Open the lake, resample a ticker to 5 and 21 sessions

\`resample\` works on any daily frame; bars are split-adjusted when given the
splits table. The lake also holds the same bars, committed by \`resampleLake\`.`],
  ['code', `const daily: DataFrame = await lake.read('ohlcv_1d');
const ticker = String(daily.getColumn('ticker').get(0));
const history: DataFrame = await lake.read('ohlcv_1d', { tickers: [ticker] });
const splits: DataFrame = await lake.read('splits');
const bars5: DataFrame = resample(history, { days: 5, splits });
const bars21: DataFrame = resample(history, { days: 21, splits });
const committed5: DataFrame = await lake.read('ohlcv_5d', { tickers: [ticker] });
console.log(\`\${ticker}: \${history.height} sessions -> \${bars5.height} bars of 5, \${bars21.height} bars of 21\`);
console.log(\`same as the committed ohlcv_5d: \${committed5.select('close').toRecords().map((r) => r.close).join() === bars5.select('close').toRecords().map((r) => r.close).join()}\`);
console.log(bars21.select('start_date', 'end_date', 'open', 'high', 'low', 'close', 'volume', 'n_days', 'is_complete').toString());`],
  ['markdown', '## Chart: 5-session candles, 21-session closes'],
  ['code', `type Bar = { start_date: Date; end_date: Date; open: number; high: number; low: number; close: number };
const rows = (frame: DataFrame): Bar[] => frame.toRecords() as unknown as Bar[];
const iso = (d: Date) => d.toISOString().slice(0, 10);

function chart(title: string, candles: Bar[], line: Bar[]): string {
  const width = 720, height = 320, pad = 40;
  const first = nyse.sessionIndex(iso(candles[0].start_date));
  const last = nyse.sessionIndex(iso(candles[candles.length - 1].end_date));
  const lo = Math.min(...candles.map((b) => b.low)), hi = Math.max(...candles.map((b) => b.high));
  const x = (d: Date) => pad + ((nyse.sessionIndex(iso(d)) - first) / Math.max(1, last - first)) * (width - 2 * pad);
  const y = (p: number) => height - pad - ((p - lo) / Math.max(1e-9, hi - lo)) * (height - 2 * pad);
  const body = candles.map((b) => {
    const cx = (x(b.start_date) + x(b.end_date)) / 2;
    const colour = b.close >= b.open ? '#2a9d8f' : '#e76f51';
    const top = y(Math.max(b.open, b.close)), h = Math.max(1, Math.abs(y(b.open) - y(b.close)));
    return \`<line x1="\${cx}" x2="\${cx}" y1="\${y(b.high)}" y2="\${y(b.low)}" stroke="\${colour}"/>\` +
      \`<rect class="candle" x="\${cx - 4}" y="\${top}" width="8" height="\${h}" fill="\${colour}"/>\`;
  });
  const path = line.map((b) => \`\${x(b.end_date).toFixed(1)},\${y(b.close).toFixed(1)}\`).join(' ');
  return \`<svg xmlns="http://www.w3.org/2000/svg" width="\${width}" height="\${height}" font-family="sans-serif" font-size="12">\` +
    \`<text x="\${pad}" y="20">\${title}</text>\${body.join('')}\` +
    \`<polyline class="close-21" points="\${path}" fill="none" stroke="#264653" stroke-width="2"/>\` +
    \`<text x="\${pad}" y="\${height - 12}">\${iso(candles[0].start_date)}</text>\` +
    \`<text x="\${width - pad}" y="\${height - 12}" text-anchor="end">\${iso(candles[candles.length - 1].end_date)}</text></svg>\`;
}

tslab.display.svg(chart(\`\${ticker}: 5-session bars, 21-session closes\`, rows(bars5), rows(bars21)));`],
  ['code', `// One line for the tests that execute this notebook: what it computed.
console.log(\`quickstart-summary \${JSON.stringify({ lake: lakeUri, ticker: ticker, close5: rows(bars5).map((b) => b.close), close21: rows(bars21).map((b) => b.close) })}\`);`],
];

export function notebook() {
  return {
    cells: cells.map(([type, text], i) => ({
      cell_type: type,
      id: `cell-${i}`,
      metadata: {},
      source: text.split('\n').map((line, j, all) => (j < all.length - 1 ? `${line}\n` : line)),
      ...(type === 'code' ? { execution_count: null, outputs: [] } : {}),
    })),
    metadata: {
      kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' },
      language_info: { name: 'typescript' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

if (process.argv[1] && process.argv[1].endsWith('quickstart-cells.mjs')) {
  process.stdout.write(`${JSON.stringify(notebook(), null, 1)}\n`);
}
