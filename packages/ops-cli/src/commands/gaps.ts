import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { FindingsError } from '../errors.js';
import { openExistingLake } from '../lake-access.js';
import { example, jsonOption, lakeOption } from '../options.js';

/** Groups consecutive sessions into "a..b" ranges for a compact listing. */
function compact(sessions: string[], max = 12): string {
  const shown = sessions.slice(0, max).join(', ');
  return sessions.length > max ? `${shown}, ... (+${sessions.length - max})` : shown;
}

export function registerGaps(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('gaps')
    .description('sessions missing from the lake (NYSE calendar) and per-ticker holes in the daily history');
  lakeOption(cmd);
  jsonOption(cmd);
  cmd.option('--limit <n>', 'tickers listed in the text output', '50');
  example(cmd, 'fibbars gaps', 'fibbars gaps --json', 'fibbars gaps || echo "the lake has gaps"');
  cmd.addHelpText('after', '\nExit status: 0 when no session is missing and no ticker has a hole, 1 when some are (after the report), 2 on bad input.\n');
  cmd.action(async (opts: { lake?: string; json?: boolean; limit: string }) => {
    const cfg = ctx.config({ lake: opts.lake });
    const opened = await openExistingLake(cfg);
    // ohlcv-core's gap analysis, loaded only when the command runs (it brings Polars).
    const { findGapsInFrame } = await import('@fibbars/ohlcv-core');
    const report = await findGapsInFrame(await opened.lake.read('ohlcv_1d'));
    const found = () => {
      if (report.missingSessions.length === 0 && report.holes === 0) return;
      throw new FindingsError(
        `gaps found in lake ${cfg.lakeInput}: ${report.missingSessions.length} missing sessions, ${report.holes} holes in ${report.tickersWithHoles} tickers`,
      );
    };
    if (opts.json) {
      ctx.log.json(report);
      found();
      return;
    }
    ctx.log.out(`lake ${cfg.lakeInput}: ${report.from} .. ${report.to}`);
    ctx.log.out(`sessions: ${report.expectedSessions} expected, ${report.presentSessions} present, ${report.missingSessions.length} missing`);
    if (report.missingSessions.length > 0) ctx.log.out(`missing sessions: ${compact(report.missingSessions)}`);
    ctx.log.out(`tickers: ${report.tickers}, with holes: ${report.tickersWithHoles}, holes: ${report.holes}`);
    const limit = Number(opts.limit) || 50;
    for (const h of report.tickerHoles.slice(0, limit)) {
      ctx.log.out(`  ${h.ticker.padEnd(8)} ${h.missing.length} missing in ${h.first}..${h.last}: ${compact(h.missing, 6)}`);
    }
    if (report.tickerHoles.length > limit) ctx.log.out(`  ... ${report.tickerHoles.length - limit} more (use --json for all)`);
    if (report.missingSessions.length > 0) {
      ctx.log.out(`fix: fibbars backfill --from ${report.missingSessions[0]} --to ${report.missingSessions[report.missingSessions.length - 1]}`);
    }
    found();
  });
}
