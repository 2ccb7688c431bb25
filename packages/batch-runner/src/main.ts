// The batch-runner command line: parse flags, validate the configuration, call
// one core job per interval, map the outcome to a JSON report or to one JSON
// error line and an exit code. No logic of its own beyond that.
import { Command, CommanderError } from 'commander';
import { loadConfig, type Env, type Flags, type RunnerConfig } from './config.js';
import { ConfigError, EXIT_CODES, errorName, exitCodeFor, oneLineMessage, type ExitCode } from './errors.js';
import { loadCoreJobs, type ConsolidateReport, type CoreJobs, type ResampleIntervalReport } from './jobs.js';
import { createLogger, type LineSink, type Logger } from './log.js';

export const VERSION = '0.1.0';

export interface MainDeps {
  /** The core jobs; default: `@fibbars/ohlcv-core`, loaded after validation. */
  jobs?: CoreJobs;
  /** Standard output and error; default: the process streams. */
  stdout?: LineSink;
  stderr?: LineSink;
  /** Clock for run ids and elapsed times. */
  now?: () => Date;
}

/** The report printed as the last stdout line of a successful run. */
export interface RunReport {
  command: RunnerConfig['command'];
  lake: string;
  runId: string;
  /** The sessions the pipeline run is about (`--sessions`, `FIBBARS_SESSIONS`), when given. */
  sessions?: string[];
  /** `committed` when any dataset got a new version, `staged` for a partition worker's work, `no-change` otherwise. */
  status: 'committed' | 'staged' | 'no-change';
  elapsedMs: number;
  /** Peak resident set size of the process (JS heap plus native Polars memory). */
  maxRssMiB: number;
  consolidate?: ConsolidateReport;
  resample?: ResampleIntervalReport[];
}

function peakRssMiB(): number {
  // resourceUsage().maxRSS is in KiB on Linux.
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}

async function runJob(config: RunnerConfig, deps: MainDeps, log: Logger): Promise<RunReport> {
  const now = deps.now ?? (() => new Date());
  const started = now().getTime();
  const elapsedMs = (): number => now().getTime() - started;
  let stage = 'open';
  const heartbeat =
    config.heartbeatMs > 0
      ? setInterval(() => log.info('heartbeat', { stage, elapsedMs: elapsedMs(), rssMiB: Math.round(process.memoryUsage.rss() / 1048576) }), config.heartbeatMs)
      : undefined;
  heartbeat?.unref();

  try {
    log.info('start', {
      command: config.command,
      lake: config.lake,
      runId: config.runId,
      ...(config.command !== 'consolidate' ? { days: config.days } : {}),
      ...(config.command === 'resample' && config.partition ? { partition: `${config.partition.index}/${config.partition.count}` } : {}),
      ...(config.command === 'commit-partitions' ? { partitions: config.partitions } : {}),
      ...(config.sessions !== undefined ? { sessions: config.sessions } : {}),
      ...(config.command === 'consolidate' && config.maxRejectedShare !== undefined ? { maxRejectedShare: config.maxRejectedShare } : {}),
      version: VERSION,
      node: process.version,
    });
    const jobs = deps.jobs ?? (await loadCoreJobs());
    const lake = jobs.openLake(config.lake);
    const report: RunReport = { command: config.command, lake: config.lake, runId: config.runId, status: 'no-change', elapsedMs: 0, maxRssMiB: 0 };
    if (config.sessions !== undefined) report.sessions = config.sessions;

    if (config.command === 'consolidate') {
      stage = 'consolidate';
      log.info('progress', { stage, status: 'started', elapsedMs: elapsedMs() });
      const result = await jobs.consolidateLake(lake, {
        runId: config.runId,
        ...(config.maxRejectedShare !== undefined ? { maxRejectedShare: config.maxRejectedShare } : {}),
      });
      log.info('progress', {
        stage,
        status: 'finished',
        outcome: result.status,
        sessions: result.sessions.length,
        rows: result.rows,
        partitions: result.partitionsWritten,
        elapsedMs: elapsedMs(),
      });
      report.consolidate = result;
      report.status = result.status;
    } else {
      report.resample = [];
      // One pass over the daily rows serves every interval (ohlcv-core reads
      // the history a year at a time, so memory follows a year, not the
      // number of intervals).
      stage = 'resample';
      log.info('progress', { stage, status: 'started', days: config.days, elapsedMs: elapsedMs() });
      const onProgress = (message: string): void => log.info('progress', { stage, status: 'running', message, elapsedMs: elapsedMs() });
      const result =
        config.command === 'commit-partitions'
          ? await jobs.commitPartitions(lake, { days: config.days, partitions: config.partitions, runId: config.runId, onProgress })
          : await jobs.resampleLake(lake, { days: config.days, runId: config.runId, onProgress, ...(config.partition ? { partition: config.partition } : {}) });
      for (const interval of result.intervals) {
        report.resample.push(interval);
        log.info('progress', {
          stage: `resample_${interval.days}d`,
          status: 'finished',
          outcome: interval.mode,
          days: interval.days,
          rows: interval.barsWritten,
          bytes: interval.bytesWritten,
          partitions: interval.partitionsWritten,
          version: interval.version,
          ...(interval.staged ? { staged: interval.staged } : {}),
          elapsedMs: elapsedMs(),
        });
      }
      log.info('progress', { stage: 'gc', status: 'finished', deleted: result.gcDeleted, elapsedMs: elapsedMs() });
      report.status = result.status;
    }
    report.elapsedMs = elapsedMs();
    report.maxRssMiB = peakRssMiB();
    return report;
  } finally {
    if (heartbeat !== undefined) clearInterval(heartbeat);
  }
}

function buildProgram(run: (config: RunnerConfig) => Promise<void>, env: Env, now: () => Date, stdout: LineSink): Command {
  const program = new Command('batch-runner')
    .description('Runs the fibbars Batch jobs (consolidate, resample, commit-partitions) against a lake.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => stdout.write(text),
      // Commander's own error text is replaced by the JSON error line.
      writeErr: () => undefined,
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true);

  program
    .command('consolidate')
    .description('Validate the raw sessions not yet consolidated and commit the daily history (ohlcv_1d).')
    .option('--lake <uri>', 'lake folder or s3://bucket/prefix (env FIBBARS_LAKE)')
    .option('--run-id <id>', 'run id recorded in the commits (env FIBBARS_RUN_ID)')
    .option('--max-rejected-share <share>', 'fail a session whose rejected share exceeds this, 0..1 (env MAX_REJECTED_SHARE)')
    .option('--sessions <list>', 'sessions this run is about, JSON array or comma list, recorded in the report (env FIBBARS_SESSIONS)')
    .option('--date <YYYY-MM-DD>', 'shorthand for --sessions with one session')
    .action(async (flags: Flags) => run(loadConfig('consolidate', flags, env, now())));

  program
    .command('resample')
    .description('Recompute the N-session bars (ohlcv_Nd) that new daily rows touch.')
    .option('--days <list>', 'session counts, e.g. 5 or 3,5,8 (env RESAMPLE_DAYS)')
    .option('--lake <uri>', 'lake folder or s3://bucket/prefix (env FIBBARS_LAKE)')
    .option('--run-id <id>', 'run id recorded in the commits (env FIBBARS_RUN_ID)')
    .option('--sessions <list>', 'sessions this run is about, JSON array or comma list, recorded in the report (env FIBBARS_SESSIONS)')
    .option('--partition <i/P>', 'build only ticker partition i of P (from 0) and stage it for commit-partitions (env FIBBARS_PARTITION)')
    .addHelpText('after', '\nWith --partition the job commits nothing: run every partition 0..P-1, then\n  batch-runner commit-partitions --days <same list> --partitions P\nwhich publishes one version per interval from all of them.')
    .action(async (flags: Flags) => run(loadConfig('resample', flags, env, now())));

  program
    .command('commit-partitions')
    .description('Publish the bars staged by resample --partition i/P for every i as one version per interval (the fan-in commit).')
    .option('--days <list>', 'session counts, as given to the partition workers (env RESAMPLE_DAYS)')
    .option('--partitions <P>', 'the partition count the workers ran with, >= 2 (env FIBBARS_PARTITIONS)')
    .option('--lake <uri>', 'lake folder or s3://bucket/prefix (env FIBBARS_LAKE)')
    .option('--run-id <id>', 'run id recorded in the commits (env FIBBARS_RUN_ID)')
    .option('--sessions <list>', 'sessions this run is about, JSON array or comma list, recorded in the report (env FIBBARS_SESSIONS)')
    .addHelpText('after', '\nFails with ConfigError (exit 2), committing nothing, when a partition has not staged its work\nfor the current heads (re-run those partitions); with CommitConflictError (exit 4) when a writer commits during the fan-in.')
    .action(async (flags: Flags) => run(loadConfig('commit-partitions', flags, env, now())));

  return program;
}

/**
 * Runs one batch-runner command line in-process and returns its exit code.
 *
 * @param argv the arguments after the executable, e.g. `['resample', '--days', '3,5']`
 * @param env the environment (flags win over it)
 * @example
 *   const code = await main(['consolidate'], { FIBBARS_LAKE: './lake' });
 */
export async function main(argv: readonly string[], env: Env, deps: MainDeps = {}): Promise<ExitCode> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  const log = createLogger(stdout, stderr);
  const now = deps.now ?? (() => new Date());
  const program = buildProgram(
    async (config) => {
      const report = await runJob(config, deps, log);
      log.info('done', { report });
    },
    env,
    now,
    stdout,
  );

  try {
    if (argv.length === 0) throw new ConfigError('no command given: use "consolidate" or "resample --days N" (see --help)');
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help, --version and `help` end with exit code 0; everything else is a usage error.
      if (error.exitCode === 0) return EXIT_CODES.ok;
      const message = error.message.replace(/^error:\s*/, '');
      log.error('ConfigError', oneLineMessage(message));
      return EXIT_CODES.ConfigError;
    }
    log.error(errorName(error), oneLineMessage(error));
    return exitCodeFor(error);
  }
}
