import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  type ExecutionStatus as SfnExecutionStatus,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import {
  EXECUTION_STATUSES,
  deployedLogLocations,
  explainFailure,
  localLogLocations,
  reconcileRun,
  reconcileRuns,
  type ExecutionStatus,
  type LogLocations,
} from '@fibbars/asl-definition';
import { openStore, RunStore, type RunRecord } from '@fibbars/ohlcv-core/storage';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { executionArn, sfnClient, stepFunctionsOf, type StateMachineRef } from '../aws.js';
import { positiveInt } from '../config.js';
import { LakeNotFoundError, UsageError } from '../errors.js';
import { duration, table } from '../format.js';
import { summariseHistory, type HistoryView } from '../history.js';
import { readableCause } from '../live-view.js';
import { awsOptions, example, jsonOption, lakeOption } from '../options.js';

export interface ExecutionRow {
  name: string;
  status: string;
  date: string | undefined;
  startedAt: string | undefined;
  stoppedAt: string | undefined;
  durationMs: number | undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : v instanceof Date ? v.toISOString() : undefined;
}

/** A local run record as a listing row; tolerant of records written by older versions. */
export function localRow(r: Record<string, unknown>): ExecutionRow {
  const startedAt = str(r.startedAt) ?? str(r.startDate) ?? str(r.started);
  const stoppedAt = str(r.finishedAt) ?? str(r.endedAt) ?? str(r.stoppedAt) ?? str(r.stopDate);
  const durationMs =
    typeof r.durationMs === 'number' ? r.durationMs : startedAt && stoppedAt ? Date.parse(stoppedAt) - Date.parse(startedAt) : undefined;
  return {
    name: String(r.runId),
    status: String(r.status ?? 'unknown'),
    date: str(r.date) ?? str(r.session) ?? inputSessions(r.input as Record<string, unknown> | undefined),
    startedAt,
    stoppedAt,
    durationMs,
  };
}

/** The session of a pipeline run, or the range of a backfill (`from..to`). */
function inputSessions(input: Record<string, unknown> | undefined): string | undefined {
  const from = str(input?.from);
  const to = str(input?.to);
  return str(input?.date) ?? (from && to ? (from === to ? from : `${from}..${to}`) : undefined);
}

/** `--status`: one of Step Functions' execution status names (case-insensitive), or a one-line error listing them. */
export function parseStatus(value: string): ExecutionStatus {
  const upper = value.trim().toUpperCase();
  const status = EXECUTION_STATUSES.find((s) => s === upper);
  if (!status) {
    throw new UsageError(`--status "${value}" is not an execution status: use one of ${EXECUTION_STATUSES.join(', ')}`);
  }
  return status;
}

const MAX_CANDIDATES = 5;

/**
 * The run an argument names: `latest` (the most recently started run), a full
 * run id, or a prefix of exactly one. The records are reconciled first, so a
 * dead run shows ABORTED.
 */
export async function resolveLocalRun(runs: RunStore, arg: string, now: Date = new Date()): Promise<RunRecord> {
  const name = arg.trim();
  if (name === '') throw new UsageError('the run id is empty: pass a run id, a unique prefix of one, or "latest"');
  const exact = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/.test(name) && !name.includes('..') ? await runs.get(name) : null;
  if (exact) return reconcileRun(runs, exact, now);
  const records = await reconcileRuns(runs, now);
  if (name === 'latest') {
    const newest = [...records].sort(byStartDesc)[0];
    if (!newest) throw new UsageError('no runs in this lake yet: start one with "fibbars run"');
    return newest;
  }
  const candidates = records.filter((r) => r.runId.startsWith(name)).sort(byStartDesc);
  if (candidates.length === 1) return candidates[0] as RunRecord;
  if (candidates.length > 1) {
    const shown = candidates.slice(0, MAX_CANDIDATES).map((r) => r.runId);
    const more = candidates.length - shown.length;
    throw new UsageError(`run id prefix "${name}" matches ${candidates.length} runs: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}; give more of the id`);
  }
  throw new UsageError(`no run ${name} in this lake: list them with "fibbars executions"`);
}

function byStartDesc(a: RunRecord, b: RunRecord): number {
  const ka = str(a.startedAt) ?? a.runId;
  const kb = str(b.startedAt) ?? b.runId;
  return ka < kb ? 1 : ka > kb ? -1 : 0;
}

const isNotFound = (err: unknown): boolean => err instanceof ExecutionDoesNotExist || (err as Error)?.name === 'ExecutionDoesNotExist';

/**
 * Runs `call` on the execution an argument names on AWS: an ARN as it is,
 * `latest` (the newest: ListExecutions lists the most recent first), a full
 * execution name, or, when no execution has that name, the one execution
 * whose name starts with it among the latest 1,000.
 */
export async function onAwsExecution<T>(client: SFNClient, sm: StateMachineRef, arg: string, call: (arn: string) => Promise<T>): Promise<T> {
  const name = arg.trim();
  if (name.startsWith('arn:')) return call(name);
  if (name === 'latest') {
    const out = await client.send(new ListExecutionsCommand({ stateMachineArn: sm.arn, maxResults: 1 }));
    const newest = out?.executions?.[0]?.executionArn;
    if (!newest) throw new UsageError(`no executions of ${sm.name} yet: start one with "fibbars run --aws"`);
    return call(newest);
  }
  const missing = new UsageError(`no execution named ${name} on ${sm.name}: list them with "fibbars executions --aws"`);
  try {
    return await call(executionArn(sm, name));
  } catch (err) {
    if (!isNotFound(err)) throw err;
    missing.cause = err;
  }
  const names: { name: string; arn: string }[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListExecutionsCommand({ stateMachineArn: sm.arn, maxResults: 1000, nextToken }));
    for (const e of page?.executions ?? []) if (e.name && e.executionArn && e.name.startsWith(name)) names.push({ name: e.name, arn: e.executionArn });
    nextToken = page?.nextToken;
  } while (nextToken && names.length <= MAX_CANDIDATES);
  if (names.length === 1) return call((names[0] as { arn: string }).arn);
  if (names.length > 1) {
    const count = names.length > MAX_CANDIDATES ? `more than ${MAX_CANDIDATES}` : String(names.length);
    throw new UsageError(`execution name prefix "${name}" matches ${count} executions: ${names.slice(0, MAX_CANDIDATES).map((n) => n.name).join(', ')}; give more of the name`);
  }
  throw missing;
}

function printRows(ctx: Ctx, rows: ExecutionRow[], status?: string): void {
  if (rows.length === 0) {
    ctx.log.out(status ? `no ${status} runs` : 'no runs yet: start one with "fibbars run"');
    return;
  }
  for (const l of table(
    ['name', 'status', 'session', 'started', 'duration'],
    rows.map((r) => [r.name, r.status, r.date ?? '-', r.startedAt ?? '-', r.durationMs === undefined ? '-' : duration(r.durationMs)]),
  )) {
    ctx.log.out(l);
  }
}

export async function localRuns(ctx: Ctx, lakeFlag: string | undefined): Promise<{ runs: RunStore; lakeInput: string; lake: string }> {
  const cfg = ctx.config({ lake: lakeFlag });
  const store = openStore(cfg.lake);
  if ((await store.list('_runs/')).length === 0 && (await store.list('_commits/')).length === 0) {
    throw new LakeNotFoundError(
      `lake ${cfg.lakeInput} does not exist or has no runs: run "fibbars run --lake ${cfg.lakeInput}" first, or point --lake / FIBBARS_LAKE at an existing lake`,
    );
  }
  return { runs: new RunStore(store), lakeInput: cfg.lakeInput, lake: cfg.lake };
}

interface LocalStateRow {
  name: string;
  status: string;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  attempts?: number;
  /** The attempt of the execution that ran it: 0 the first run, n the n-th redrive. */
  redrive?: number;
  error?: string;
}

/** The state-by-state part of a local run record, whichever of the usual shapes it has. */
export function localStates(record: Record<string, unknown>, logs: LogLocations = localLogLocations(String(record.runId))): LocalStateRow[] {
  const raw = record.states ?? record.steps;
  const list: unknown[] = Array.isArray(raw)
    ? raw
    : raw && typeof raw === 'object'
      ? Object.entries(raw as Record<string, unknown>).map(([name, v]) => ({ name, ...(v as object) }))
      : [];
  return list.map((s) => {
    const o = s as Record<string, unknown>;
    const err = o.error as Record<string, unknown> | string | undefined;
    const stage = String(o.parent ?? o.name ?? '');
    const errorName = err && typeof err === 'object' ? String(err.name ?? err.Error ?? 'Error') : '';
    const cause = err && typeof err === 'object' ? String(err.cause ?? err.message ?? err.Cause ?? '') : '';
    // A failed Batch job's cause is its job description: show the job, exit code (as our error name), reason and logs.
    const decoded = explainFailure(stage, errorName, cause, logs);
    const error = typeof err === 'string' ? err : err ? `${errorName}: ${decoded === cause ? readableCause(cause) : decoded}` : undefined;
    const retries = Array.isArray(o.retries) ? (o.retries as { error?: { name?: string; cause?: string } }[]) : [];
    const retried = retries.map((r) => `${r.error?.name ?? 'Error'}: ${readableCause(r.error?.cause ?? '')}`);
    const startedAt = str(o.startedAt) ?? str(o.enteredAt);
    const endedAt = str(o.endedAt) ?? str(o.exitedAt) ?? str(o.finishedAt);
    const durationMs = typeof o.durationMs === 'number' ? o.durationMs : startedAt && endedAt ? Date.parse(endedAt) - Date.parse(startedAt) : undefined;
    return {
      name: String(o.name ?? o.state ?? '?'),
      status: String(o.status ?? 'unknown'),
      ...(startedAt ? { startedAt } : {}),
      ...(endedAt ? { endedAt } : {}),
      ...(durationMs !== undefined ? { durationMs } : {}),
      ...(typeof o.attempts === 'number' ? { attempts: o.attempts } : {}),
      ...(typeof o.redrive === 'number' ? { redrive: o.redrive } : {}),
      ...(error ? { error } : retried.length > 0 ? { error: `retried after ${retried.join(' | ')}` } : {}),
    };
  });
}

async function allHistory(ctx: Ctx, client: ReturnType<typeof sfnClient>, arn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 1000, nextToken, includeExecutionData: false }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  ctx.log.info(`read ${events.length} history events`);
  return events;
}

interface AwsFlags {
  aws?: boolean;
  env?: string;
  stateMachineArn?: string;
}

type ListOpts = AwsFlags & { limit: string; status?: string; lake?: string; json?: boolean };
type DescribeOpts = AwsFlags & { lake?: string; json?: boolean };

export function registerExecutions(program: Command, ctx: Ctx): void {
  registerList(program, ctx);
  registerDescribe(program, ctx);
}

// --- executions

function registerList(program: Command, ctx: Ctx): void {
  const list = program.command('executions').description('list pipeline runs: local run records, or AWS executions with --aws');
  list.option('--limit <n>', 'most recent runs to show', '20');
  list.option('--status <status>', `only runs with this status: ${EXECUTION_STATUSES.join(', ')}`);
  lakeOption(list);
  awsOptions(list);
  jsonOption(list);
  example(
    list,
    'fibbars executions',
    'fibbars executions --status FAILED       # the runs to look at (or redrive)',
    'fibbars executions --aws --limit 5 --json',
  );
  list.addHelpText(
    'after',
    '\nLocal runs and backfills are listed from the lake\'s run records. A run whose process died (Ctrl-C, SIGKILL)\nis shown ABORTED, in the state it was in, as soon as that is known.\n',
  );
  list.action((opts: ListOpts) => listExecutions(ctx, opts));
}

async function listExecutions(ctx: Ctx, opts: ListOpts): Promise<void> {
  const limit = positiveInt('--limit', opts.limit, { max: 1000 });
  const status = opts.status === undefined ? undefined : parseStatus(opts.status);
  const rows = opts.aws ? await awsExecutionRows(ctx, opts, limit, status) : await localExecutionRows(ctx, opts.lake, limit, status);
  if (opts.json) ctx.log.json({ executions: rows });
  else printRows(ctx, rows, status);
}

/** The latest executions of the state machine (ListExecutions lists the most recent first). */
async function awsExecutionRows(ctx: Ctx, opts: AwsFlags, limit: number, status: ExecutionStatus | undefined): Promise<ExecutionRow[]> {
  const { sm, client } = await stepFunctionsOf(ctx.config({ stateMachineArn: opts.stateMachineArn, env: opts.env }));
  const out = await client.send(
    new ListExecutionsCommand({ stateMachineArn: sm.arn, maxResults: limit, ...(status ? { statusFilter: status as SfnExecutionStatus } : {}) }),
  );
  return (out.executions ?? []).map((e) => ({
    name: e.name ?? '?',
    status: e.status ?? 'UNKNOWN',
    date: /^daily-(\d{4}-\d{2}-\d{2})/.exec(e.name ?? '')?.[1],
    startedAt: e.startDate?.toISOString(),
    stoppedAt: e.stopDate?.toISOString(),
    durationMs: e.startDate && e.stopDate ? e.stopDate.getTime() - e.startDate.getTime() : undefined,
  }));
}

/** The lake's run records, reconciled, newest first. */
async function localExecutionRows(ctx: Ctx, lakeFlag: string | undefined, limit: number, status: ExecutionStatus | undefined): Promise<ExecutionRow[]> {
  const { runs } = await localRuns(ctx, lakeFlag);
  return (await reconcileRuns(runs, ctx.now()))
    .map(localRow)
    .filter((r) => status === undefined || r.status === status)
    .sort((a, b) => ((a.startedAt ?? a.name) < (b.startedAt ?? b.name) ? 1 : -1))
    .slice(0, limit);
}

// --- describe

function registerDescribe(program: Command, ctx: Ctx): void {
  const describe = program
    .command('describe')
    .description('show one run state by state, with durations, retries and errors (local run id, or AWS execution name with --aws)')
    .argument('<name>', 'run id (see "fibbars executions"), a unique prefix of one, or "latest"; with --aws an execution name, prefix, ARN or "latest"');
  lakeOption(describe);
  awsOptions(describe);
  jsonOption(describe);
  example(
    describe,
    'fibbars describe latest                  # the most recent run',
    'fibbars describe 20261125T2130           # a unique prefix of a run id',
    'fibbars describe backfill-20261125       # backfills are executions too',
    'fibbars describe daily-2026-11-25 --aws',
  );
  describe.action((name: string, opts: DescribeOpts) => (opts.aws ? describeAws(ctx, name, opts) : describeLocal(ctx, name, opts)));
}

async function describeAws(ctx: Ctx, name: string, opts: DescribeOpts): Promise<void> {
  const { sm, client } = await stepFunctionsOf(ctx.config({ stateMachineArn: opts.stateMachineArn, env: opts.env }));
  const { arn, desc } = await onAwsExecution(client, sm, name, async (a) => ({
    arn: a,
    desc: await client.send(new DescribeExecutionCommand({ executionArn: a })),
  }));
  const view = summariseHistory(await allHistory(ctx, client, arn));
  const result = {
    name: desc.name ?? name,
    executionArn: arn,
    status: desc.status,
    startedAt: desc.startDate?.toISOString(),
    stoppedAt: desc.stopDate?.toISOString(),
    error: desc.error ?? view.failure?.error,
    cause: desc.cause ?? view.failure?.cause,
    ...(desc.redriveCount ? { redriveCount: desc.redriveCount, redriveDate: desc.redriveDate?.toISOString() } : {}),
    states: view.states,
  };
  if (opts.json) {
    ctx.log.json(result);
    return;
  }
  ctx.log.out(`${result.name}: ${result.status} (started ${result.startedAt ?? '-'}, stopped ${result.stoppedAt ?? '-'})`);
  if (desc.redriveCount) {
    ctx.log.out(`redriven ${desc.redriveCount} time${desc.redriveCount === 1 ? '' : 's'}, last at ${desc.redriveDate?.toISOString() ?? '-'}`);
  }
  if (result.error) ctx.log.out(`error: ${result.error}: ${explainAwsFailure(sm, view, result.error, result.cause ?? '')}`);
  printAwsStates(ctx, view);
}

/** An execution's error decoded for the stage that failed, with the deployment's log groups. */
function explainAwsFailure(sm: StateMachineRef, view: HistoryView, error: string, cause: string): string {
  // The state names of the stage that failed and the deployment's log groups (stack naming, `<prefix>-daily-pipeline`).
  const logs = deployedLogLocations(sm.name.replace(/-daily-pipeline$/, ''));
  const failedStage = view.states.find((s) => s.type === 'Pass' && s.name.endsWith('Failed') && s.name !== 'PipelineFailed')?.name.replace(/Failed$/, '');
  return explainFailure(failedStage ?? '', error, cause, logs);
}

function printAwsStates(ctx: Ctx, view: HistoryView): void {
  for (const l of table(
    ['state', 'type', 'status', 'attempts', 'duration', 'error'],
    view.states.map((s) => [
      s.name,
      s.type,
      s.status,
      String(s.attempts),
      s.durationMs === undefined ? '-' : duration(s.durationMs),
      s.errors.map((e) => `${e.error}: ${e.cause}`).join(' | ') || '',
    ]),
  )) {
    ctx.log.out(l);
  }
}

type RecordedState = { name: string; parent?: string; status?: string };

const recordedStates = (record: RunRecord): RecordedState[] => (Array.isArray(record.states) ? (record.states as RecordedState[]) : []);

async function describeLocal(ctx: Ctx, name: string, opts: DescribeOpts): Promise<void> {
  const { runs } = await localRuns(ctx, opts.lake);
  const record = await resolveLocalRun(runs, name, ctx.now());
  const row = localRow(record);
  const states = localStates(record);
  if (opts.json) {
    ctx.log.json({ ...row, states, record });
    return;
  }
  const redrives = typeof record.redriveCount === 'number' ? record.redriveCount : 0;
  printLocalOverview(ctx, record, row, redrives);
  if (record.error) printLocalError(ctx, record, row);
  printLocalStates(ctx, states, redrives);
}

/** The run's headline, then its redrives, the process running it or why it was aborted. */
function printLocalOverview(ctx: Ctx, record: RunRecord, row: ExecutionRow, redrives: number): void {
  const what = record.kind === 'backfill' ? `backfill of ${row.date ?? '-'}` : `for session ${row.date ?? '-'}`;
  ctx.log.out(`${row.name}: ${row.status} ${what} (started ${row.startedAt ?? '-'}, ${row.durationMs === undefined ? '-' : duration(row.durationMs)})`);
  if (redrives > 0) ctx.log.out(`redriven ${redrives} time${redrives === 1 ? '' : 's'}, last at ${String(record.redriveDate ?? '-')} from ${String(record.redriveFrom ?? '-')}`);
  const lease = record.lease as { host?: string; pid?: number; heartbeatAt?: string } | undefined;
  if (record.status === 'RUNNING' && lease) {
    const open = [...recordedStates(record)].reverse().find((s) => s.parent === undefined && s.status === 'running');
    ctx.log.out(`running${open ? ` in ${open.name}` : ''}: pid ${lease.pid ?? '?'} on ${lease.host ?? '?'}, last heartbeat ${lease.heartbeatAt ?? '-'}`);
  }
  const abort = record.abort as { state?: string; cause?: string; reason?: string } | undefined;
  if (record.status === 'ABORTED' && abort) {
    ctx.log.out(`aborted${abort.state ? ` in ${abort.state}` : ''}: ${abort.cause ?? abort.reason ?? 'stopped'}`);
  }
}

function printLocalError(ctx: Ctx, record: RunRecord, row: ExecutionRow): void {
  const e = record.error as { name?: string; cause?: string } | string;
  // The first state that failed (the stage, or a task inside a Parallel stage).
  const failed = recordedStates(record).find((s) => s.status === 'caught' || s.status === 'failed');
  const stage = failed?.name;
  const parent = failed?.parent;
  ctx.log.out(
    typeof e === 'string'
      ? `error: ${e}`
      : `error: ${e.name ?? 'Error'}: ${explainFailure(parent ?? stage ?? '', e.name ?? '', e.cause ?? '', localLogLocations(row.name))}`,
  );
}

function printLocalStates(ctx: Ctx, states: LocalStateRow[], redrives: number): void {
  // With redrives, a column says which attempt of the execution ran each state.
  const cells = (s: LocalStateRow): string[] => [
    s.name,
    s.status,
    s.attempts === undefined ? '-' : String(s.attempts),
    s.durationMs === undefined ? '-' : duration(s.durationMs),
    s.error ?? '',
  ];
  for (const l of redrives > 0
    ? table(['state', 'redrive', 'status', 'attempts', 'duration', 'error'], states.map((s) => { const c = cells(s); return [c[0] as string, String(s.redrive ?? 0), ...c.slice(1)]; }))
    : table(['state', 'status', 'attempts', 'duration', 'error'], states.map(cells))) {
    ctx.log.out(l);
  }
}
