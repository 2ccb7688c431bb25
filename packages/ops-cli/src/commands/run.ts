import { ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { explainFailure, localLogLocations } from '@fibbars/asl-definition';
import { openStore } from '@fibbars/ohlcv-core/storage';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { checkExecutionName, executionArn, stepFunctionsOf } from '../aws.js';
import { positiveInt } from '../config.js';
import { defaultSession, parseSession, sessionsBefore } from '../dates.js';
import { CommandFailedError, ExitError, UsageError } from '../errors.js';
import { duration } from '../format.js';
import { newRunId } from '../jobs.js';
import { committedDatasets } from '../lake-access.js';
import { LiveView, normaliseEvent } from '../live-view.js';
import { awsOptions, example, jsonOption, lakeOption, sourceOption } from '../options.js';
import { recordNumbers, type ConsolidateSummary, type ResampleSummary } from '../reports.js';
import { DEFAULT_INTERVALS, loadCore, loadFetchers, loadLocalEngine, type MarketSource, type PipelineRunRecord } from '../seams.js';
import { chooseSource, type SourceFlags } from '../source.js';
import { backfillSessions, sessionConcurrency } from './backfill.js';

type RunOpts = SourceFlags & {
  date?: string;
  lake?: string;
  aws?: boolean;
  name?: string;
  stateMachineArn?: string;
  env?: string;
  backfillSessions: string;
  partitions?: string;
  json?: boolean;
};

export interface RunSummary {
  runId: string;
  status: string;
  date: string;
  source: string;
  backfilled: number;
  sessionsFetched: number;
  rows: { accepted: number; collapsed: number; quarantined: number };
  barsWritten: Record<string, number>;
  elapsedMs: number;
  error?: { name: string; cause: string };
}

const TASK_STATES = ['FetchOhlcv', 'FetchMeta', 'Consolidate', ...DEFAULT_INTERVALS.map((d) => `Resample${d}d`)];

async function runAws(ctx: Ctx, opts: RunOpts): Promise<void> {
  if (opts.partitions !== undefined) {
    throw new UsageError('--partitions applies to local runs: on AWS the deployed state machine has its partitions (infra-cdk context "partitions")');
  }
  const date = opts.date ? parseSession('--date', opts.date, ctx.now()) : defaultSession(ctx.now());
  const cfg = ctx.config({ stateMachineArn: opts.stateMachineArn, env: opts.env });
  const { sm, client } = await stepFunctionsOf(cfg);
  const name = checkExecutionName(opts.name ?? `daily-${date}`);
  const input = JSON.stringify({ date, ...(opts.lake ? { lake: cfg.lake } : {}) });
  try {
    const out = await client.send(new StartExecutionCommand({ stateMachineArn: sm.arn, name, input }));
    const result = { started: true, name, executionArn: out.executionArn, startDate: out.startDate?.toISOString(), date };
    if (opts.json) ctx.log.json(result);
    else {
      ctx.log.out(`started execution ${name} for session ${date}`);
      ctx.log.out(`  ${out.executionArn}`);
      ctx.log.out(`follow it with: fibbars describe ${name} --aws`);
    }
  } catch (err) {
    if (err instanceof ExecutionAlreadyExists || (err as Error).name === 'ExecutionAlreadyExists') {
      const arn = executionArn(sm, name);
      if (opts.json) ctx.log.json({ started: false, alreadyStarted: true, name, executionArn: arn, date });
      else {
        ctx.log.out(`execution ${name} was already started for session ${date}: nothing to do`);
        ctx.log.out(`see it with: fibbars describe ${name} --aws  (or start another with --name ${name}-rerun)`);
      }
      return;
    }
    throw err;
  }
}

async function runLocal(ctx: Ctx, opts: RunOpts): Promise<void> {
  // The date first: a future or impossible date is refused before anything is fetched or written.
  const date = opts.date ? parseSession('--date', opts.date, ctx.now()) : defaultSession(ctx.now());
  const cfg = ctx.config({ lake: opts.lake });
  const backfillCount = positiveInt('--backfill-sessions', opts.backfillSessions, { min: 0, max: 20_000 });
  const partitions = opts.partitions === undefined ? 1 : positiveInt('--partitions', opts.partitions, { min: 1, max: 1024 });
  const concurrency = sessionConcurrency(undefined, ctx.env);
  const chosen = chooseSource(opts, cfg, ctx.env);
  const started = Date.now();
  ctx.log.info(chosen.banner);

  const store = openStore(cfg.lake);
  const fresh = !(await committedDatasets(store)).includes('ohlcv_1d');
  let backfilled = 0;
  let pre: { consolidate: ConsolidateSummary; resample: ResampleSummary[] } | undefined;
  const source = await chosen.create(ctx.now, { concurrency });
  const core = await loadCore();
  // A fresh lake gets a useful history first; a lake that missed sessions
  // since its daily history's last session is caught up to the session before
  // `date` (a re-run of an older session catches nothing up). Missed means
  // after that session and not in the raw zone, not "after the latest fetch":
  // a run killed during its catch-up (4 fetches in flight) can leave a later
  // session fetched and an earlier one not.
  let sessions: string[] = [];
  let why = '';
  if (fresh) {
    sessions = sessionsBefore(date, backfillCount);
    why = `fresh lake ${cfg.lakeInput}`;
  } else if (backfillCount > 0) {
    const existing = core.openLake(cfg.lake);
    const files = (await existing.head('ohlcv_1d'))?.files ?? [];
    const last = files.reduce<string | undefined>((max, f) => (f.maxDate !== null && (max === undefined || f.maxDate > max) ? f.maxDate : max), undefined);
    const fetched = new Set(await existing.raw.sessions('ohlcv'));
    if (last !== undefined) {
      sessions = sessionsBefore(date, backfillCount).filter((s) => s > last && !fetched.has(s));
      why = `lake ${cfg.lakeInput} missed sessions since ${last}`;
    }
  }
  if (sessions.length > 0) {
    const n = sessions.length;
    ctx.log.info(`${why}: backfilling ${n} session${n === 1 ? '' : 's'} (${sessions[0]} .. ${sessions[n - 1]}) first`);
    const lake = await core.openLake(cfg.lake);
    const result = await backfillSessions(lake, source, sessions, {
      refetch: false,
      concurrency,
      log: ctx.log,
      now: ctx.now,
      env: ctx.env,
      runId: newRunId('backfill', ctx.now()),
      intervals: DEFAULT_INTERVALS,
    });
    backfilled = result.fetch.fetched.length;
    pre = { consolidate: result.consolidate, resample: result.resample };
  }

  ctx.log.info(`running the daily pipeline for ${date} on ${cfg.lakeInput}`);
  await executeLocalPipeline(ctx, { lake: cfg.lake, date, source, sourceKind: chosen.kind, started, backfilled, pre, json: opts.json, partitions });
}

interface LocalPipelineParams {
  lake: string;
  date: string;
  source: MarketSource;
  sourceKind: string;
  started: number;
  backfilled?: number;
  pre?: { consolidate: ConsolidateSummary; resample: ResampleSummary[] };
  json?: boolean;
  redrive?: PipelineRunRecord;
  /** Ticker partitions of the resample stage (default 1). */
  partitions?: number;
}

/** The local engine with the real parts bound, a live view, Ctrl-C ending the run ABORTED; prints the summary, throws unless it succeeded. */
export async function executeLocalPipeline(ctx: Ctx, params: LocalPipelineParams): Promise<PipelineRunRecord> {
  const interrupt = new AbortController();
  const record = await runWithLiveView(ctx, params, interrupt);
  const summary = runSummary(record, params);
  if (params.json) ctx.log.json(summary);
  else printRunSummary(ctx, record, summary);
  throwUnlessSucceeded(record, interrupt.signal.aborted);
  return record;
}

/** Runs the pipeline on the local engine, drawing its states live on stderr; Ctrl-C aborts `interrupt`. */
async function runWithLiveView(ctx: Ctx, params: LocalPipelineParams, interrupt: AbortController): Promise<PipelineRunRecord> {
  const { lake, date, source } = params;
  const view = new LiveView(ctx.log.stderr, TASK_STATES);
  const engine = await loadLocalEngine();
  const fetchers = await loadFetchers();
  const logger = handlerLogger(ctx);
  // Ctrl-C stops the run: it ends ABORTED in the state it was in (a second Ctrl-C kills the process as usual).
  const onSigint = (): void => {
    ctx.log.info('interrupted: stopping the run (Ctrl-C again to kill it)');
    interrupt.abort('interrupted (SIGINT)');
  };
  process.once('SIGINT', onSigint);
  return engine.runLocalPipeline({
    lake,
    ...(params.redrive ? { redrive: params.redrive } : { date }),
    ...(params.partitions !== undefined && params.partitions > 1 && !params.redrive ? { partitions: params.partitions } : {}),
    source,
    signal: interrupt.signal,
    bindings: {
      ohlcv: fetchers.createOhlcvHandler({ source, lake, logger, now: ctx.now }),
      meta: fetchers.createMetaHandler({ source, lake, logger, now: ctx.now, eventsBackfill: fetchers.eventsBackfillFromEnv(ctx.env) }),
      alert: (alert) => ctx.log.info(`ALERT ${alert.subject}: ${alert.message}`),
    },
    onEvent: (event) => {
      const ev = normaliseEvent(event, Date.now());
      if (ev) view.apply(ev);
    },
  }).finally(() => {
    process.removeListener('SIGINT', onSigint);
    // A run stopped mid-state leaves states marked running: the view's timer must not keep redrawing.
    view.stop();
  });
}

/**
 * The handlers log JSON lines for CloudWatch; here stdout is the user's, so
 * only warnings go to stderr, one line each (failures show in the live view).
 */
function handlerLogger(ctx: Ctx) {
  return {
    info: () => undefined,
    warn: (m: string, e?: Record<string, unknown>) => ctx.log.warn(`${m}${e ? ` ${JSON.stringify(e)}` : ''}`),
    error: () => undefined,
  };
}

/** The run's numbers, with those of the backfill that ran before it (`pre`) added in. */
function runSummary(record: PipelineRunRecord, params: LocalPipelineParams): RunSummary {
  const { pre } = params;
  const backfilled = params.backfilled ?? 0;
  const nums = recordNumbers(record);
  const barsWritten: Record<string, number> = { ...nums.barsWritten };
  for (const r of pre?.resample ?? []) barsWritten[`${r.days}d`] = (barsWritten[`${r.days}d`] ?? 0) + r.bars;
  const summary: RunSummary = {
    runId: record.runId,
    status: record.status,
    date: params.date,
    source: params.sourceKind,
    backfilled,
    sessionsFetched: backfilled + nums.sessions.length,
    rows: {
      accepted: nums.accepted + (pre?.consolidate.accepted ?? 0),
      collapsed: nums.collapsed + (pre?.consolidate.collapsed ?? 0),
      quarantined: nums.quarantined + (pre?.consolidate.quarantined ?? 0),
    },
    barsWritten,
    elapsedMs: Date.now() - params.started,
    ...(record.error ? { error: record.error } : {}),
  };
  if (record.redriveCount) Object.assign(summary, { redriveCount: record.redriveCount, redriveFrom: record.redriveFrom });
  return summary;
}

function printRunSummary(ctx: Ctx, record: PipelineRunRecord, summary: RunSummary): void {
  const { backfilled } = summary;
  const redriven = record.redriveCount ? `, redrive ${record.redriveCount} from ${record.redriveFrom ?? '?'}` : '';
  ctx.log.out(`run ${summary.runId}: ${summary.status} for ${summary.date} (${summary.source} market${redriven})`);
  ctx.log.out(`sessions fetched: ${summary.sessionsFetched}${backfilled > 0 ? ` (${backfilled} backfilled first)` : ''}`);
  ctx.log.out(`rows: ${summary.rows.accepted} accepted, ${summary.rows.collapsed} collapsed, ${summary.rows.quarantined} quarantined`);
  ctx.log.out(`bars written: ${Object.entries(summary.barsWritten).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  ctx.log.out(`elapsed ${duration(summary.elapsedMs)}`);
}

/** An aborted run exits 130 when Ctrl-C stopped it, any other run that did not succeed fails the command. */
function throwUnlessSucceeded(record: PipelineRunRecord, interrupted: boolean): void {
  if (record.status === 'ABORTED') {
    const where = record.abort?.state ?? record.finalState ?? '?';
    const message = `the pipeline run ${record.runId} was stopped in ${where} (${record.abort?.cause ?? 'stopped'}): redrive it with "fibbars redrive ${record.runId}"`;
    throw interrupted ? new ExitError(message, 130) : new CommandFailedError(message);
  }
  if (record.status !== 'SUCCEEDED') {
    // Name the task that failed, not the Fail state the error was routed to.
    const task = record.states.find((s) => s.type === 'Task' && (s.status === 'failed' || s.status === 'caught'));
    const failed = task?.name ?? record.finalState ?? '?';
    // The cause decoded as the alert decodes it (a Batch job's exit code mapped back to the error name, the logs).
    const error = record.error
      ? `${record.error.name}: ${explainFailure(task?.parent ?? failed, record.error.name, record.error.cause, localLogLocations(record.runId))}`
      : 'no error recorded';
    throw new CommandFailedError(
      `the pipeline run ${record.runId} failed in ${failed} (${error}): see "fibbars describe ${record.runId}", then "fibbars redrive ${record.runId}"`,
    );
  }
}

export function registerRun(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('run')
    .description('run the daily pipeline: locally through the local engine (default), or start an AWS execution with --aws')
    .option('--date <session>', 'session to run for (YYYY-MM-DD; default: the latest closed session)')
    .option('--name <name>', 'AWS execution name (default daily-<date>, which makes starts idempotent)')
    .option('--backfill-sessions <n>', 'on a fresh lake, sessions fetched before the first run; on a lake behind, the most it catches up', '252')
    .option('--partitions <P>', 'local runs: resample in P ticker partitions (a Distributed Map of P jobs per interval, then one fan-in commit); default 1');
  lakeOption(cmd);
  sourceOption(cmd);
  awsOptions(cmd);
  jsonOption(cmd);
  example(cmd, 'fibbars run', 'fibbars run --date 2026-11-25 --lake ./lake', 'fibbars run --aws --date 2026-11-25');
  cmd.action(async (opts: RunOpts) => (opts.aws ? runAws(ctx, opts) : runLocal(ctx, opts)));
}
