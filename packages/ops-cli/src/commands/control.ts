/**
 * `fibbars stop` and `fibbars redrive`: execution control as `aws
 * stepfunctions stop-execution` / `redrive-execution` give it, for local runs
 * (the lake's run records) and, with --aws, Step Functions executions.
 */
import { ExecutionNotRedrivable, RedriveExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { REDRIVABLE_STATUSES, stopRun, type RunAbort } from '@fibbars/asl-definition';
import { DEFAULT_INTERVALS, nyse } from '@fibbars/ohlcv-core/calendar';
import type { RunRecord } from '@fibbars/ohlcv-core/storage';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { stepFunctionsOf } from '../aws.js';
import { UsageError } from '../errors.js';
import { duration } from '../format.js';
import { awsOptions, example, jsonOption, lakeOption, sourceOption } from '../options.js';
import { loadCore, type PipelineRunRecord } from '../seams.js';
import { chooseSource, type SourceFlags } from '../source.js';
import { backfillSessions, sessionConcurrency } from './backfill.js';
import { localRuns, onAwsExecution, resolveLocalRun } from './executions.js';
import { executeLocalPipeline } from './run.js';

interface AwsFlags {
  aws?: boolean;
  env?: string;
  stateMachineArn?: string;
}

// StopExecution's limits: error 0-256 characters, cause 0-32768
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html).
// RedriveExecution: https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html
const MAX_ERROR = 256;
const MAX_CAUSE = 32_768;

function checkStopText(opts: { error?: string; cause?: string }): void {
  if (opts.error !== undefined && opts.error.length > MAX_ERROR) {
    throw new UsageError(`--error is ${opts.error.length} characters long: Step Functions takes at most ${MAX_ERROR}`);
  }
  if (opts.cause !== undefined && opts.cause.length > MAX_CAUSE) {
    throw new UsageError(`--cause is ${opts.cause.length} characters long: Step Functions takes at most ${MAX_CAUSE}`);
  }
}

const awsTarget = (ctx: Ctx, opts: AwsFlags) => stepFunctionsOf(ctx.config({ stateMachineArn: opts.stateMachineArn, env: opts.env }));

const nameOf = (arn: string): string => arn.split(':').pop() ?? arn;

type StopOpts = AwsFlags & { lake?: string; error?: string; cause?: string; json?: boolean };
type RedriveOpts = AwsFlags & SourceFlags & { lake?: string; json?: boolean };

export function registerControl(program: Command, ctx: Ctx): void {
  registerStop(program, ctx);
  registerRedrive(program, ctx);
}

// --- stop

function registerStop(program: Command, ctx: Ctx): void {
  const stop = program
    .command('stop')
    .description('stop a running run: it ends ABORTED in the state it was in (local run, or an AWS execution with --aws: StopExecution)')
    .argument('<run>', 'run id, a unique prefix of one, or "latest"; with --aws an execution name, prefix, ARN or "latest"')
    .option('--error <code>', 'error code recorded with the stop (at most 256 characters)')
    .option('--cause <text>', 'why it was stopped (at most 32768 characters)');
  lakeOption(stop);
  awsOptions(stop);
  jsonOption(stop);
  example(
    stop,
    'fibbars stop latest',
    'fibbars stop 20261125T2130 --cause "wrong session"',
    'fibbars stop daily-2026-11-25 --aws --error Operator --cause "vendor outage"',
  );
  stop.addHelpText(
    'after',
    '\nA local run notices the stop at its next heartbeat (every 5 s), stops its jobs and ends ABORTED; a run whose\nprocess is already gone is marked ABORTED at once. Only a RUNNING run can be stopped.\n',
  );
  stop.action(async (arg: string, opts: StopOpts) => {
    checkStopText(opts);
    await (opts.aws ? stopAws(ctx, arg, opts) : stopLocal(ctx, arg, opts));
  });
}

/** `--error` / `--cause` as given, leaving out those not given. */
const stopText = (opts: StopOpts): { error?: string; cause?: string } => ({
  ...(opts.error === undefined ? {} : { error: opts.error }),
  ...(opts.cause === undefined ? {} : { cause: opts.cause }),
});

async function stopAws(ctx: Ctx, arg: string, opts: StopOpts): Promise<void> {
  const { sm, client } = await awsTarget(ctx, opts);
  const { arn, out } = await onAwsExecution(client, sm, arg, async (a) => ({
    arn: a,
    out: await client.send(new StopExecutionCommand({ executionArn: a, ...stopText(opts) })),
  }));
  const result = { name: nameOf(arn), executionArn: arn, status: 'ABORTED', stopDate: out.stopDate?.toISOString() };
  if (opts.json) ctx.log.json(result);
  else ctx.log.out(`stopped execution ${result.name} at ${result.stopDate ?? '-'}: it is ABORTED (redrive it with "fibbars redrive ${result.name} --aws")`);
}

async function stopLocal(ctx: Ctx, arg: string, opts: StopOpts): Promise<void> {
  const { runs } = await localRuns(ctx, opts.lake);
  const record = await resolveLocalRun(runs, arg, ctx.now());
  if (record.status !== 'RUNNING') {
    const how = record.status === 'ABORTED' ? 'it was already stopped' : 'nothing to stop';
    throw new UsageError(`run ${record.runId} is ${String(record.status)}, not RUNNING: ${how}`);
  }
  ctx.log.info(`stopping ${record.runId} (it stops at its next heartbeat) ...`);
  const ended = await stopRun(runs, record, stopText(opts));
  const abort = ended.abort as RunAbort | undefined;
  const result = { name: ended.runId, status: String(ended.status), state: abort?.state, stoppedAt: ended.endedAt, cause: abort?.cause };
  if (opts.json) ctx.log.json(result);
  else {
    const where = result.state ? ` in ${result.state}` : '';
    ctx.log.out(`stopped run ${result.name}: ${result.status}${where} (redrive it with "fibbars redrive ${result.name}")`);
  }
}

// --- redrive

function registerRedrive(program: Command, ctx: Ctx): void {
  const redrive = program
    .command('redrive')
    .description('re-run a FAILED, ABORTED or TIMED_OUT run from the state that did not succeed, as a new attempt of the same execution (--aws: RedriveExecution)')
    .argument('<run>', 'run id, a unique prefix of one, or "latest"; with --aws an execution name, prefix, ARN or "latest"');
  lakeOption(redrive);
  sourceOption(redrive);
  awsOptions(redrive);
  jsonOption(redrive);
  example(
    redrive,
    'fibbars executions --status FAILED',
    'fibbars redrive latest',
    'fibbars redrive 20261125T2130           # a unique prefix of the run id',
    'fibbars redrive daily-2026-11-25 --aws',
  );
  redrive.addHelpText(
    'after',
    `
As Step Functions' RedriveExecution: the run keeps its id and input, the states that succeeded are not run
again (in a Parallel state only the branches that failed or were aborted run), and "fibbars describe" shows
every attempt with the redrive count. A backfill is redriven over the same range: the sessions it fetched are
skipped, so it resumes where it stopped. Only FAILED, ABORTED and TIMED_OUT runs can be redriven.
`,
  );
  redrive.action((arg: string, opts: RedriveOpts) => (opts.aws ? redriveAws(ctx, arg, opts) : redriveLocal(ctx, arg, opts)));
}

async function redriveAws(ctx: Ctx, arg: string, opts: RedriveOpts): Promise<void> {
  const { sm, client } = await awsTarget(ctx, opts);
  try {
    const { arn, out } = await onAwsExecution(client, sm, arg, async (a) => ({
      arn: a,
      out: await client.send(new RedriveExecutionCommand({ executionArn: a })),
    }));
    const result = { name: nameOf(arn), executionArn: arn, status: 'RUNNING', redriveDate: out.redriveDate?.toISOString() };
    if (opts.json) ctx.log.json(result);
    else {
      ctx.log.out(`redrove execution ${result.name} at ${result.redriveDate ?? '-'}`);
      ctx.log.out(`follow it with: fibbars describe ${result.name} --aws`);
    }
  } catch (err) {
    if (err instanceof ExecutionNotRedrivable || (err as Error).name === 'ExecutionNotRedrivable') {
      throw new UsageError(`execution ${nameOf(arg)} cannot be redriven: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}

async function redriveLocal(ctx: Ctx, arg: string, opts: RedriveOpts): Promise<void> {
  const { runs, lake } = await localRuns(ctx, opts.lake);
  const record = await resolveLocalRun(runs, arg, ctx.now());
  const status = String(record.status);
  if (!(REDRIVABLE_STATUSES as readonly string[]).includes(status)) {
    const hint = status === 'RUNNING' ? `: stop it first with "fibbars stop ${record.runId}"` : '';
    throw new UsageError(`run ${record.runId} is ${status}: only ${REDRIVABLE_STATUSES.join(', ')} runs can be redriven${hint}`);
  }
  const cfg = ctx.config({ lake: opts.lake });
  const chosen = chooseSource(opts, cfg, ctx.env);
  if (record.kind === 'backfill') {
    await redriveBackfill(ctx, record, { lake, chosen, json: opts.json });
    return;
  }
  if (record.stateMachine !== 'fibbars-daily-pipeline') {
    throw new UsageError(`run ${record.runId} is not a pipeline run or a backfill: it cannot be redriven`);
  }
  const pipeline = record as PipelineRunRecord;
  if (typeof pipeline.source === 'string' && pipeline.source !== chosen.kind && pipeline.source !== 'custom') {
    ctx.log.warn(`run ${record.runId} used the ${pipeline.source} market; this redrive uses ${chosen.kind} (pass --source ${pipeline.source} to keep it)`);
  }
  ctx.log.info(chosen.banner);
  ctx.log.info(`redriving ${record.runId} (${status}) on ${cfg.lakeInput}`);
  const source = await chosen.create(ctx.now, { concurrency: sessionConcurrency(undefined, ctx.env) });
  await executeLocalPipeline(ctx, {
    lake,
    date: pipeline.input?.date ?? '-',
    source,
    sourceKind: chosen.kind,
    started: Date.now(),
    json: opts.json,
    redrive: pipeline,
  });
}

async function redriveBackfill(
  ctx: Ctx,
  record: RunRecord,
  params: { lake: string; chosen: ReturnType<typeof chooseSource>; json?: boolean },
): Promise<void> {
  const input = (record.input ?? {}) as { from?: string; to?: string; intervals?: number[] };
  if (typeof input.from !== 'string' || typeof input.to !== 'string') {
    throw new UsageError(`backfill ${record.runId} recorded no range: run "fibbars backfill --from D --to D" again`);
  }
  const started = Date.now();
  const concurrency = sessionConcurrency(undefined, ctx.env);
  const core = await loadCore();
  const lake = core.openLake(params.lake);
  const source = await params.chosen.create(ctx.now, { concurrency });
  ctx.log.info(params.chosen.banner);
  ctx.log.info(`redriving backfill ${record.runId} (${input.from} .. ${input.to})`);
  const result = await backfillSessions(lake, source, nyse.sessionsBetween(input.from, input.to), {
    refetch: false,
    concurrency,
    log: ctx.log,
    now: ctx.now,
    env: ctx.env,
    runId: record.runId,
    intervals: Array.isArray(input.intervals) && input.intervals.length > 0 ? input.intervals : [...DEFAULT_INTERVALS],
    redrive: record,
  });
  const redriveCount = (typeof record.redriveCount === 'number' ? record.redriveCount : 0) + 1;
  const full = { runId: record.runId, redriveCount, from: input.from, to: input.to, ...result, elapsedMs: Date.now() - started };
  if (params.json) {
    ctx.log.json(full);
    return;
  }
  ctx.log.out(`backfill ${record.runId}: SUCCEEDED (redrive ${redriveCount})`);
  ctx.log.out(`sessions: ${full.fetch.requested} in range, ${full.fetch.fetched.length} fetched, ${full.fetch.skipped.length} already in the raw zone`);
  ctx.log.out(full.consolidate.text);
  for (const r of full.resample) ctx.log.out(r.text);
  ctx.log.out(`elapsed ${duration(full.elapsedMs)}`);
}
