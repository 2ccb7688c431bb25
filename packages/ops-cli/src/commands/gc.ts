import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { formatDuration, parseDuration } from '../config.js';
import { openExistingLake } from '../lake-access.js';
import { example, jsonOption, lakeOption } from '../options.js';
import { loadCore } from '../seams.js';

/**
 * The default grace period as the help shows it. ohlcv-core's
 * DEFAULT_GC_GRACE_MS is the value used (read lazily, so `--help` does not
 * load Polars); the e2e test checks the two agree.
 */
export const DEFAULT_GRACE_TEXT = '1h';

export interface GcResult {
  lake: string;
  dryRun: boolean;
  graceMs: number;
  /** Lake-relative keys removed (or, with --dry-run, that would be). */
  removed: string[];
  files: number;
  bytes: number;
  /**
   * Files the grace period saved: unreferenced files written less than
   * `graceMs` ago, and the files of versions superseded less than `graceMs`
   * ago (a reader may still hold those).
   */
  kept: number;
  /** Distinct files the live versions reference. */
  referenced: number;
}

export function megabytes(bytes: number): string {
  const mb = bytes / 1_000_000;
  return `${mb < 10 ? mb.toFixed(2) : mb < 1000 ? mb.toFixed(1) : Math.round(mb).toLocaleString('en-US')} MB`;
}

export function registerGc(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('gc')
    .description('remove the files no live version references, once they are older than the grace period')
    .option('--grace <duration>', `grace period, e.g. 1h, 30m, 0 (default: ${DEFAULT_GRACE_TEXT}, see below)`)
    .option('--dry-run', 'list what would be removed; delete nothing');
  lakeOption(cmd);
  jsonOption(cmd);
  cmd.addHelpText(
    'after',
    `
Live versions: the head of each dataset, every version superseded less than the
grace period ago, and the splits version each live bar version is adjusted
with. Files no live version lists are removed once older than the grace period
(a younger one may belong to a writer about to commit). Commit records stay.

Why one hour by default (ohlcv-core's DEFAULT_GC_GRACE_MS): no job runs longer
(the state machine times consolidate and resample out at 3600 s), so a file a
running job has written but not yet committed is never taken, and a reader has
an hour to finish with a version after it is superseded; and it is shorter than
the day between two runs, so each run's own gc removes what the previous run
superseded. --grace 0 is safe only while nothing runs on or reads the lake.
`,
  );
  example(cmd, 'fibbars gc --dry-run', 'fibbars gc --grace 0 --dry-run', 'fibbars gc --lake s3://my-bucket/lake --json');
  cmd.action(async (opts: { grace?: string; dryRun?: boolean; lake?: string; json?: boolean }) => {
    const graceArg = opts.grace === undefined ? undefined : parseDuration('--grace', opts.grace);
    const cfg = ctx.config({ lake: opts.lake });
    const opened = await openExistingLake(cfg);
    const graceMs = graceArg ?? (await loadCore()).DEFAULT_GC_GRACE_MS;
    const dryRun = opts.dryRun === true;
    const sizes = new Map<string, number>();
    for (const prefix of ['silver/', 'quarantine/']) for (const o of await opened.store.list(prefix)) sizes.set(o.key, o.size);
    // The wall clock, not ctx.now(): ages are measured against file times and commit times, both real.
    const report = await opened.lake.gc({ graceMs, dryRun });
    // What a grace of 0 would remove on top, without deleting: the files this grace period keeps.
    const removed = new Set(report.deleted);
    const withoutGrace = graceMs === 0 ? [] : (await opened.lake.gc({ graceMs: 0, dryRun: true })).deleted;
    const kept = withoutGrace.filter((k) => !removed.has(k)).length;
    const bytes = report.deleted.reduce((sum, k) => sum + (sizes.get(k) ?? 0), 0);
    const result: GcResult = {
      lake: cfg.lakeInput,
      dryRun,
      graceMs,
      removed: report.deleted,
      files: report.deleted.length,
      bytes,
      kept,
      referenced: report.referenced,
    };
    if (opts.json) {
      ctx.log.json(result);
      return;
    }
    const n = `${result.files} file${result.files === 1 ? '' : 's'}`;
    if (dryRun) {
      ctx.log.out(
        `would remove ${n} (${megabytes(bytes)}) no live version references; would keep ${kept} younger than the grace period (${formatDuration(graceMs)}); dry run, nothing deleted`,
      );
      for (const key of result.removed) ctx.log.out(key);
    } else {
      ctx.log.out(`removed ${n} (${megabytes(bytes)}) no live version references; kept ${kept} younger than the grace period`);
    }
  });
}
