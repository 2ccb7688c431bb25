import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { Ctx } from '../context.js';
import { renderHtml, renderPng, splitMarkers, type ChartSplit } from '../chart.js';
import { positiveInt } from '../config.js';
import { UsageError } from '../errors.js';
import { normaliseTicker, openExistingLake, plainRecords, requireInterval, type OpenedLake } from '../lake-access.js';
import { adjustLabel, adjustOption, example, identityOptions, jsonOption, lakeOption, type AdjustMode } from '../options.js';
import type { Anchor } from '../seams.js';
import { identityChoice, loadBars } from './bars.js';

/** The ticker's splits, as the chart marks them; none when the lake has no splits dataset yet. */
async function loadSplits(opened: OpenedLake, ticker: string): Promise<ChartSplit[]> {
  if (!opened.datasets.includes('splits')) return [];
  const rows = plainRecords(await opened.lake.read('splits', { tickers: [ticker] }));
  return rows.map((r) => ({ date: String(r.execution_date), from: Number(r.split_from), to: Number(r.split_to) }));
}

export function registerPlot(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('plot')
    .description('candlestick chart with a volume pane of a ticker\'s N-session bars (split-adjusted, splits marked), as HTML (interactive, offline) or PNG')
    .argument('<ticker>', 'ticker symbol, e.g. AOIZ (see fibbars tickers)')
    .requiredOption('--days <n>', 'bar length in sessions (1 = daily, or a configured interval)')
    .requiredOption('--out <file>', 'chart.html (offline, self-contained) or chart.png')
    .option('--last <k>', 'plot the last K bars', '120')
    .option('--width <px>', 'image width', '1200')
    .option('--height <px>', 'image height', '700')
    .addOption(new Option('--anchor <anchor>', 'bucket alignment').choices(['calendar', 'ticker', 'latest']).default('calendar'));
  adjustOption(cmd, 'splits');
  identityOptions(cmd);
  lakeOption(cmd);
  jsonOption(cmd);
  example(cmd, 'fibbars plot AOIZ --days 8 --out aoiz-8d.html', 'fibbars plot AOIZ --days 1 --last 250 --out aoiz.png', 'fibbars plot AOIZ --days 21 --adjust total-return --out aoiz-tr.html');
  cmd.action(
    async (
      tickerArg: string,
      opts: { days: string; out: string; last: string; width: string; height: string; anchor: Anchor; adjust?: AdjustMode; identity?: 'security' | 'ticker'; asOf?: string; lake?: string; json?: boolean },
    ) => {
      const days = positiveInt('--days', opts.days, { max: 10_000 });
      const last = positiveInt('--last', opts.last);
      const width = positiveInt('--width', opts.width, { min: 200, max: 8000 });
      const height = positiveInt('--height', opts.height, { min: 150, max: 8000 });
      const ticker = normaliseTicker(tickerArg);
      const out = path.resolve(ctx.cwd, opts.out);
      const ext = path.extname(out).toLowerCase();
      if (ext !== '.html' && ext !== '.png') {
        throw new UsageError(`--out "${opts.out}" must end in .html or .png: e.g. --out chart.html`);
      }
      const dir = path.dirname(out);
      if (!(await fs.stat(dir).catch(() => null))?.isDirectory()) {
        throw new UsageError(`the folder of --out "${opts.out}" does not exist: create ${dir} first or pick another path`);
      }
      const cfg = ctx.config({ lake: opts.lake });
      const opened = await openExistingLake(cfg);
      if (days > 1) requireInterval(opened, days);
      const adjust = opts.adjust ?? 'splits';
      const bars = (await loadBars(opened, ticker, days, opts.anchor, adjust, await identityChoice(opened, opts, ctx.now()))).slice(-last);
      const splits = await loadSplits(opened, ticker);
      const marked = splitMarkers(bars, splits).length;
      const interval = days === 1 ? 'daily bars' : `${days}-session bars`;
      const first = bars[0]?.start_date ?? '';
      const lastDate = bars[bars.length - 1]?.end_date ?? '';
      const chart = {
        title: `${ticker} · ${interval}`,
        // Daily bars have no buckets, so no anchor to name.
        subtitle:
          `${adjustLabel(adjust, days)}${days === 1 ? '' : `, anchor ${opts.anchor}`}, ${bars.length} bars ${first} .. ${lastDate}` +
          (marked > 0 ? `; ${marked === 1 ? '1 split' : `${marked} splits`} marked` : '') +
          (bars.some((b) => !b.is_complete) ? '; lighter candles: bucket still open' : ''),
        width,
        height,
        splits,
      };
      const body = ext === '.html' ? await renderHtml(bars, chart) : await renderPng(bars, chart);
      const tmp = path.join(dir, `.${path.basename(out)}.${randomBytes(4).toString('hex')}.tmp`);
      try {
        await fs.writeFile(tmp, body);
        await fs.rename(tmp, out);
      } finally {
        await fs.rm(tmp, { force: true });
      }
      const result = { ticker, days, anchor: opts.anchor, adjust, bars: bars.length, splits: marked, from: first, to: lastDate, out, format: ext.slice(1), width, height };
      if (opts.json) ctx.log.json(result);
      else ctx.log.out(`wrote ${ticker} ${interval} chart (${bars.length} bars, ${first} .. ${lastDate}) to ${opts.out}`);
    },
  );
}
