import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { positiveInt } from '../config.js';
import { FindingsError, UsageError } from '../errors.js';
import { count, num, PRICE_DECIMALS, round } from '../format.js';
import { openExistingLake } from '../lake-access.js';
import { example, jsonOption, lakeOption } from '../options.js';
import type { HealthReport } from '@fibbars/ohlcv-core';

function list<T>(items: T[], limit: number, line: (item: T) => string): string[] {
  const out = items.slice(0, limit).map((i) => `  ${line(i)}`);
  if (items.length > limit) out.push(`  ... ${count(items.length - limit)} more (use --json for all)`);
  return out;
}

const pct = (share: number) => `${share >= 0 ? '+' : ''}${(share * 100).toFixed(1)}%`;

/** The text report of `fibbars check`: one headed section per kind of finding, then a one-line total. */
export function formatHealth(lakeInput: string, r: HealthReport, limit: number): string[] {
  const g = r.gaps;
  const out = [`lake ${lakeInput}: ${count(r.rows)} daily rows, ${g.tickers} tickers, ${g.from ?? '-'} .. ${g.to ?? '-'}`];
  const head = (n: number, what: string) => `${n === 0 ? 'ok  ' : 'FAIL'} ${what}`;
  out.push(head(g.missingSessions.length, `missing sessions: ${g.missingSessions.length} of ${g.expectedSessions}`));
  out.push(...list(g.missingSessions, limit, (s) => s));
  out.push(head(g.holes, `per-ticker holes: ${count(g.holes)} in ${g.tickersWithHoles} tickers`));
  out.push(...list(g.tickerHoles, limit, (h) => `${h.ticker.padEnd(8)} ${h.missing.length} missing in ${h.first}..${h.last}: ${h.missing.slice(0, 4).join(', ')}${h.missing.length > 4 ? ', ...' : ''}`));
  out.push(head(r.jumps.length, `price jumps above ${(r.options.jumpThreshold * 100).toFixed(0)}% with no split to explain them: ${r.jumps.length}`));
  out.push(...list(r.jumps, limit, (j) => `${j.ticker.padEnd(8)} ${j.previousDate} -> ${j.date}  close ${num(round(j.previousClose, PRICE_DECIMALS))} -> ${num(round(j.close, PRICE_DECIMALS))} (${pct(j.change)}${j.splitRatio !== 1 ? ` after a ${j.splitRatio}x split` : ''})`));
  out.push(head(r.zeroVolume.length, `zero-volume streaks of ${r.options.zeroVolumeSessions}+ sessions: ${r.zeroVolume.length}`));
  out.push(...list(r.zeroVolume, limit, (z) => `${z.ticker.padEnd(8)} ${z.from}..${z.to} (${z.sessions} sessions)`));
  out.push(head(r.stale.length, `active tickers with no data in the last ${r.options.staleSessions} sessions: ${r.stale.length}`));
  out.push(...list(r.stale, limit, (s) => `${s.ticker.padEnd(8)} last ${s.lastSession ?? 'never'} (${s.sessionsBehind} sessions behind)${s.name ? `  ${s.name}` : ''}`));
  const q = r.quarantine;
  out.push(head(q.rows, `rows in quarantine: ${count(q.rows)}${q.rows > 0 ? ` in ${q.sessions} sessions` : ''}`));
  out.push(...list(Object.entries(q.byReason), limit, ([reason, n]) => `${count(n)} ${reason}`));
  return out;
}

function positiveShare(flag: string, value: string): number {
  const v = value.trim();
  const n = /^\d+(\.\d+)?%$/.test(v) ? Number(v.slice(0, -1)) / 100 : /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!(n > 0)) throw new UsageError(`${flag} "${value}" is not a positive share: e.g. ${flag} 0.5 or ${flag} 50% (a 50% close-to-close move)`);
  return n;
}

export function registerCheck(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('check')
    .description(
      'data health of the committed daily history: missing sessions, per-ticker holes, unexplained price jumps, zero-volume streaks, stale active tickers, quarantined rows; exit 1 when anything is found',
    )
    .option('--jump <share>', 'flag close-to-close moves larger than this share, after any split that day (0.5 or 50%)', '0.5')
    .option('--zero-volume <n>', 'flag this many consecutive zero-volume sessions of one ticker', '3')
    .option('--stale <n>', 'flag active tickers whose last row is more than N sessions old', '5')
    .option('--limit <n>', 'findings listed per section in the text output', '10');
  lakeOption(cmd);
  jsonOption(cmd);
  example(cmd, 'fibbars check', 'fibbars check --jump 30% --stale 1 --json', 'fibbars check || echo "the lake needs attention"');
  cmd.addHelpText('after', '\nExit status: 0 when nothing is found, 1 when something is (the report says what), 2 on bad input.\n');
  cmd.action(async (opts: { jump: string; zeroVolume: string; stale: string; limit: string; lake?: string; json?: boolean }) => {
    const options = {
      jumpThreshold: positiveShare('--jump', opts.jump),
      zeroVolumeSessions: positiveInt('--zero-volume', opts.zeroVolume),
      staleSessions: positiveInt('--stale', opts.stale),
    };
    const limit = positiveInt('--limit', opts.limit);
    const cfg = ctx.config({ lake: opts.lake });
    const opened = await openExistingLake(cfg);
    const { checkHealth } = await import('@fibbars/ohlcv-core');
    const report = await checkHealth(opened.lake, options);
    if (opts.json) ctx.log.json(report);
    else for (const l of formatHealth(cfg.lakeInput, report, limit)) ctx.log.out(l);
    if (report.problems > 0) {
      const kinds = [
        report.gaps.missingSessions.length && `${report.gaps.missingSessions.length} missing sessions`,
        report.gaps.holes && `${report.gaps.holes} holes`,
        report.jumps.length && `${report.jumps.length} jumps`,
        report.zeroVolume.length && `${report.zeroVolume.length} zero-volume streaks`,
        report.stale.length && `${report.stale.length} stale tickers`,
        report.quarantine.rows && `${report.quarantine.rows} quarantined rows`,
      ].filter(Boolean);
      throw new FindingsError(`check found problems in lake ${cfg.lakeInput}: ${kinds.join(', ')}`);
    }
  });
}
