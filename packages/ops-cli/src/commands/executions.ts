import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { deployedLogLocations, explainFailure, localLogLocations, type LogLocations } from '@fibbars/asl-definition';
import { openStore, RunStore } from '@fibbars/ohlcv-core/storage';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { executionArn, requireStateMachine, sfnClient } from '../aws.js';
import { positiveInt } from '../config.js';
import { LakeNotFoundError, UsageError } from '../errors.js';
import { duration, table } from '../format.js';
import { summariseHistory } from '../history.js';
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
    date: str(r.date) ?? str(r.session) ?? str((r.input as Record<string, unknown> | undefined)?.date),
    startedAt,
    stoppedAt,
    durationMs,
  };
}

function printRows(ctx: Ctx, rows: ExecutionRow[]): void {
  if (rows.length === 0) {
    ctx.log.out('no runs yet: start one with "fibbars run"');
    return;
  }
  for (const l of table(
    ['name', 'status', 'session', 'started', 'duration'],
    rows.map((r) => [r.name, r.status, r.date ?? '-', r.startedAt ?? '-', r.durationMs === undefined ? '-' : duration(r.durationMs)]),
  )) {
    ctx.log.out(l);
  }
}

async function localRuns(ctx: Ctx, lakeFlag: string | undefined): Promise<{ runs: RunStore; lakeInput: string }> {
  const cfg = ctx.config({ lake: lakeFlag });
  const store = openStore(cfg.lake);
  if ((await store.list('_runs/')).length === 0 && (await store.list('_commits/')).length === 0) {
    throw new LakeNotFoundError(
      `lake ${cfg.lakeInput} does not exist or has no runs: run "fibbars run --lake ${cfg.lakeInput}" first, or point --lake / FIBBARS_LAKE at an existing lake`,
    );
  }
  return { runs: new RunStore(store), lakeInput: cfg.lakeInput };
}

interface LocalStateRow {
  name: string;
  status: string;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  attempts?: number;
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

export function registerExecutions(program: Command, ctx: Ctx): void {
  const list = program.command('executions').description('list pipeline runs: local run records, or AWS executions with --aws');
  list.option('--limit <n>', 'most recent runs to show', '20');
  lakeOption(list);
  awsOptions(list);
  jsonOption(list);
  example(list, 'fibbars executions', 'fibbars executions --aws --limit 5 --json');
  list.action(async (opts: { limit: string; lake?: string; aws?: boolean; stateMachineArn?: string; json?: boolean }) => {
    const limit = positiveInt('--limit', opts.limit, { max: 1000 });
    let rows: ExecutionRow[];
    if (opts.aws) {
      const cfg = ctx.config({ stateMachineArn: opts.stateMachineArn });
      const sm = requireStateMachine(cfg);
      const out = await sfnClient(cfg, sm).send(new ListExecutionsCommand({ stateMachineArn: sm.arn, maxResults: limit }));
      rows = (out.executions ?? []).map((e) => ({
        name: e.name ?? '?',
        status: e.status ?? 'UNKNOWN',
        date: /^daily-(\d{4}-\d{2}-\d{2})/.exec(e.name ?? '')?.[1],
        startedAt: e.startDate?.toISOString(),
        stoppedAt: e.stopDate?.toISOString(),
        durationMs: e.startDate && e.stopDate ? e.stopDate.getTime() - e.startDate.getTime() : undefined,
      }));
    } else {
      const { runs } = await localRuns(ctx, opts.lake);
      rows = (await runs.list())
        .map(localRow)
        .sort((a, b) => ((a.startedAt ?? a.name) < (b.startedAt ?? b.name) ? 1 : -1))
        .slice(0, limit);
    }
    if (opts.json) ctx.log.json({ executions: rows });
    else printRows(ctx, rows);
  });

  const describe = program
    .command('describe')
    .description('show one run state by state, with durations, retries and errors (local run id, or AWS execution name with --aws)')
    .argument('<name>', 'run id (see "fibbars executions") or execution name / ARN');
  lakeOption(describe);
  awsOptions(describe);
  jsonOption(describe);
  example(describe, 'fibbars describe run-20261125T213000Z-1a2b3c', 'fibbars describe daily-2026-11-25 --aws');
  describe.action(async (name: string, opts: { lake?: string; aws?: boolean; stateMachineArn?: string; json?: boolean }) => {
    if (opts.aws) {
      const cfg = ctx.config({ stateMachineArn: opts.stateMachineArn });
      const sm = requireStateMachine(cfg);
      const arn = name.startsWith('arn:') ? name : executionArn(sm, name);
      const client = sfnClient(cfg, sm);
      let desc;
      try {
        desc = await client.send(new DescribeExecutionCommand({ executionArn: arn }));
      } catch (err) {
        if (err instanceof ExecutionDoesNotExist || (err as Error).name === 'ExecutionDoesNotExist') {
          throw new UsageError(`no execution named ${name} on ${sm.name}: list them with "fibbars executions --aws"`, { cause: err });
        }
        throw err;
      }
      const view = summariseHistory(await allHistory(ctx, client, arn));
      const result = {
        name: desc.name ?? name,
        executionArn: arn,
        status: desc.status,
        startedAt: desc.startDate?.toISOString(),
        stoppedAt: desc.stopDate?.toISOString(),
        error: desc.error ?? view.failure?.error,
        cause: desc.cause ?? view.failure?.cause,
        states: view.states,
      };
      if (opts.json) {
        ctx.log.json(result);
        return;
      }
      ctx.log.out(`${result.name}: ${result.status} (started ${result.startedAt ?? '-'}, stopped ${result.stoppedAt ?? '-'})`);
      // The state names of the stage that failed and the deployment's log groups (stack naming, `<prefix>-daily-pipeline`).
      const logs = deployedLogLocations(sm.name.replace(/-daily-pipeline$/, ''));
      const failedStage = view.states.find((s) => s.type === 'Pass' && s.name.endsWith('Failed') && s.name !== 'PipelineFailed')?.name.replace(/Failed$/, '');
      if (result.error) ctx.log.out(`error: ${result.error}: ${explainFailure(failedStage ?? '', result.error, result.cause ?? '', logs)}`);
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
      return;
    }
    const { runs } = await localRuns(ctx, opts.lake);
    const record = await runs.get(name).catch((err: unknown) => {
      throw new UsageError(`"${name}" is not a valid run id: list them with "fibbars executions"`, { cause: err });
    });
    if (!record) throw new UsageError(`no run ${name} in this lake: list them with "fibbars executions"`);
    const row = localRow(record);
    const states = localStates(record);
    if (opts.json) {
      ctx.log.json({ ...row, states, record });
      return;
    }
    ctx.log.out(`${row.name}: ${row.status} for session ${row.date ?? '-'} (started ${row.startedAt ?? '-'}, ${row.durationMs === undefined ? '-' : duration(row.durationMs)})`);
    if (record.error) {
      const e = record.error as { name?: string; cause?: string } | string;
      // The first state that failed (the stage, or a task inside a Parallel stage).
      const failed = (Array.isArray(record.states) ? (record.states as { name: string; parent?: string; status?: string }[]) : []).find(
        (s) => s.status === 'caught' || s.status === 'failed',
      );
      const stage = failed?.name;
      const parent = failed?.parent;
      ctx.log.out(
        typeof e === 'string'
          ? `error: ${e}`
          : `error: ${e.name ?? 'Error'}: ${explainFailure(parent ?? stage ?? '', e.name ?? '', e.cause ?? '', localLogLocations(row.name))}`,
      );
    }
    for (const l of table(
      ['state', 'status', 'attempts', 'duration', 'error'],
      states.map((s) => [s.name, s.status, s.attempts === undefined ? '-' : String(s.attempts), s.durationMs === undefined ? '-' : duration(s.durationMs), s.error ?? '']),
    )) {
      ctx.log.out(l);
    }
  });
}
