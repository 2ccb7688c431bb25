import { openStore } from '@fibbars/ohlcv-core/storage';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { positiveInt } from '../config.js';
import { LakeNotFoundError } from '../errors.js';
import { duration } from '../format.js';
import { consolidate, newRunId, parseShare, resampleAll } from '../jobs.js';
import { committedDatasets, openExistingLake } from '../lake-access.js';
import { example, jsonOption, lakeOption } from '../options.js';
import { loadCore } from '../seams.js';
import { describeConsolidate, describeResample } from '../reports.js';

export function registerStages(program: Command, ctx: Ctx): void {
  const cons = program
    .command('consolidate')
    .description('consolidate the raw zone into the daily history (ohlcv_1d), locally; a no-op when nothing is new');
  cons.option('--max-rejected-share <fraction>', 'quality gate: largest quarantined share of a session (env MAX_REJECTED_SHARE, default 0.01)');
  lakeOption(cons);
  jsonOption(cons);
  example(cons, 'fibbars consolidate', 'fibbars consolidate --lake s3://my-bucket/lake --json');
  cons.action(async (opts: { lake?: string; json?: boolean; maxRejectedShare?: string }) => {
    const maxRejectedShare = parseShare(opts.maxRejectedShare ?? ctx.env.MAX_REJECTED_SHARE);
    const cfg = ctx.config({ lake: opts.lake });
    const store = openStore(cfg.lake);
    if ((await store.list('raw/ohlcv/')).length === 0) {
      throw new LakeNotFoundError(
        `lake ${cfg.lakeInput} has no raw daily bars to consolidate: fetch some with "fibbars backfill --from D --to D" or "fibbars run"`,
      );
    }
    const core = await loadCore();
    const lake = await core.openLake(cfg.lake);
    const started = Date.now();
    const report = await consolidate(lake, newRunId('consolidate', ctx.now()), maxRejectedShare, ctx.log);
    const summary = describeConsolidate(report);
    if (opts.json) ctx.log.json({ ...summary, elapsedMs: Date.now() - started, report });
    else {
      ctx.log.out(summary.text);
      ctx.log.out(`elapsed ${duration(Date.now() - started)}`);
    }
  });

  const res = program
    .command('resample')
    .description('rebuild the N-session bars (ohlcv_{N}d) from the daily history, locally; incremental and idempotent')
    .requiredOption('--days <n>', 'bar length in sessions, e.g. 5 (a new N adds that interval to the lake)');
  lakeOption(res);
  jsonOption(res);
  example(res, 'fibbars resample --days 5', 'fibbars resample --days 89 --json');
  res.action(async (opts: { days: string; lake?: string; json?: boolean }) => {
    const days = positiveInt('--days', opts.days, { min: 2, max: 10_000 });
    const cfg = ctx.config({ lake: opts.lake });
    const opened = await openExistingLake(cfg);
    const started = Date.now();
    const [one] = await resampleAll(opened.lake, newRunId('resample', ctx.now()), [days]);
    if (!one) throw new Error(`resampleLake returned no report for ${days}d`);
    const summary = describeResample(one);
    const datasets = await committedDatasets(opened.store);
    if (opts.json) ctx.log.json({ ...summary, datasets, elapsedMs: Date.now() - started, report: one });
    else {
      ctx.log.out(summary.text);
      ctx.log.out(`elapsed ${duration(Date.now() - started)}`);
    }
  });
}
