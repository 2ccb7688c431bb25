import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DescribeStateMachineCommand } from '@aws-sdk/client-sfn';
import { GetScheduleCommand } from '@aws-sdk/client-scheduler';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { latestClosedSession, nyse } from '@fibbars/ohlcv-core/calendar';
import { openStore } from '@fibbars/ohlcv-core/storage';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { requireStateMachine, schedulerClient, sfnClient, stsClient } from '../aws.js';
import { resolveDeployment, type Deployment } from '../deployment.js';
import { isS3Uri, type Config } from '../config.js';
import { CommandFailedError, firstLine } from '../errors.js';
import { committedDatasets } from '../lake-access.js';
import { loadCore } from '../seams.js';
import { example, jsonOption, lakeOption } from '../options.js';

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

const MIN_NODE = [20, 11] as const;

export function checkNode(version: string): Check {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const ok = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return ok
    ? { name: 'node', status: 'ok', detail: `Node ${version}` }
    : { name: 'node', status: 'fail', detail: `Node ${version} is too old`, fix: `install Node ${MIN_NODE.join('.')} or newer` };
}

async function checkLake(cfg: Config, now: Date): Promise<Check[]> {
  const checks: Check[] = [];
  if (!isS3Uri(cfg.lake)) {
    const stat = await fs.stat(cfg.lake).catch(() => null);
    if (!stat) {
      let parent = path.dirname(cfg.lake);
      while (!(await fs.stat(parent).catch(() => null))) parent = path.dirname(parent);
      const writable = await fs.access(parent, fs.constants.W_OK).then(() => true, () => false);
      return [
        writable
          ? { name: 'lake', status: 'warn', detail: `${cfg.lakeInput} does not exist yet`, fix: `"fibbars run --lake ${cfg.lakeInput}" creates it and backfills a year of sessions` }
          : { name: 'lake', status: 'fail', detail: `${cfg.lakeInput} does not exist and ${parent} is not writable`, fix: 'pick a writable folder with --lake or FIBBARS_LAKE' },
      ];
    }
    if (!stat.isDirectory()) {
      return [{ name: 'lake', status: 'fail', detail: `${cfg.lakeInput} is a file, not a folder`, fix: 'point --lake / FIBBARS_LAKE at a folder' }];
    }
  }
  const store = openStore(cfg.lake);
  try {
    const datasets = await committedDatasets(store);
    checks.push({
      name: 'lake read',
      status: datasets.includes('ohlcv_1d') ? 'ok' : 'warn',
      detail: datasets.length > 0 ? `${cfg.lakeInput}: ${datasets.join(', ')}` : `${cfg.lakeInput} holds no committed dataset yet`,
      ...(datasets.includes('ohlcv_1d') ? {} : { fix: `fibbars run --lake ${cfg.lakeInput}` }),
    });
  } catch (err) {
    return [{ name: 'lake read', status: 'fail', detail: `cannot list ${cfg.lakeInput}: ${(err as Error).message}`, fix: 'check the path or bucket and your permissions' }];
  }
  checks.push(await checkCreateOnly(store, cfg));
  checks.push(await checkFreshness(cfg, now));
  return checks;
}

/**
 * Commits are create-only writes (S3 `If-None-Match: *`, DESIGN §3.2): a
 * store that ignores the header lets two writers publish the same version,
 * and one that refuses it (OpenStack Swift answers 501) fails every commit.
 * A plain PUT proves neither, so the probe is written create-only twice:
 * the first must land and read back, the second must be refused.
 */
async function checkCreateOnly(store: ReturnType<typeof openStore>, cfg: Config): Promise<Check> {
  const probe = `_doctor/probe-${randomBytes(6).toString('hex')}.txt`;
  const body = 'fibbars doctor probe\n';
  try {
    try {
      await store.putIfAbsent(probe, body);
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      if (status === 501 || e.name === 'NotImplemented') {
        return { name: 'lake write', status: 'fail', detail: `${cfg.lakeInput} refuses conditional writes (If-None-Match, HTTP 501): every commit would fail`, fix: 'use a store that supports S3 conditional writes (AWS S3, MinIO, Ceph RGW)' };
      }
      return { name: 'lake write', status: 'fail', detail: `cannot write to ${cfg.lakeInput}: ${firstLine(e.message)}`, fix: 'grant write access or pick another lake' };
    }
    if ((await store.get(probe)).toString('utf8') !== body) {
      return { name: 'lake write', status: 'fail', detail: 'the probe object read back differently', fix: 'check the storage backend' };
    }
    try {
      await store.putIfAbsent(probe, 'a second writer\n');
    } catch (err) {
      if ((err as Error).name === 'CommitConflictError') {
        return { name: 'lake write', status: 'ok', detail: 'create-only write landed, read back, and a second one was refused' };
      }
      return { name: 'lake write', status: 'fail', detail: `the second create-only write failed oddly: ${firstLine((err as Error).message)}`, fix: 'check the storage backend' };
    }
    return {
      name: 'lake write',
      status: 'fail',
      detail: `${cfg.lakeInput} ignores If-None-Match: a second create-only write of the same key succeeded, so two writers could commit the same version`,
      fix: 'use a store that supports S3 conditional writes (AWS S3, MinIO, Ceph RGW)',
    };
  } finally {
    await store.delete(probe).catch(() => undefined);
  }
}

/** The daily history's latest session against the latest closed session (16:30 New York cut-off), from the head commit's file stats. */
async function checkFreshness(cfg: Config, now: Date): Promise<Check> {
  const head = await (await loadCore()).openLake(cfg.lake).head('ohlcv_1d');
  if (!head) return { name: 'lake freshness', status: 'warn', detail: 'no daily history yet', fix: `fibbars run --lake ${cfg.lakeInput}` };
  const latest = head.files.reduce<string | null>((m, f) => (f.maxDate !== null && (m === null || f.maxDate > m) ? f.maxDate : m), null);
  const expected = latestClosedSession(now);
  if (latest === null) return { name: 'lake freshness', status: 'warn', detail: 'the daily history holds no rows', fix: `fibbars run --lake ${cfg.lakeInput}` };
  if (latest >= expected) return { name: 'lake freshness', status: 'ok', detail: `latest session ${latest} (the latest closed one)` };
  const behind = nyse.sessionsBetween(latest, expected).length - 1;
  return {
    name: 'lake freshness',
    status: 'warn',
    detail: `latest session ${latest}, ${behind} session(s) behind ${expected}`,
    fix: `fibbars run --lake ${cfg.lakeInput} (a run catches up the missing sessions)`,
  };
}

async function checkApiKey(cfg: Config): Promise<Check[]> {
  if (!cfg.polygonApiKey) {
    return [{ name: 'api key', status: 'warn', detail: 'POLYGON_API_KEY is not set: runs use the synthetic market', fix: 'export POLYGON_API_KEY=<key> to fetch real data' }];
  }
  const url = new URL('/v3/reference/tickers', cfg.polygonBaseUrl);
  url.searchParams.set('limit', '1');
  try {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${cfg.polygonApiKey}` }, signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    if (res.ok) return [{ name: 'api key', status: 'ok', detail: `key accepted by ${url.origin} (HTTP ${res.status})` }];
    if (res.status === 401 || res.status === 403) {
      return [{ name: 'api key', status: 'fail', detail: `key rejected by ${url.origin} (HTTP ${res.status})`, fix: 'check POLYGON_API_KEY (copy it again from your vendor dashboard)' }];
    }
    return [{ name: 'api key', status: 'warn', detail: `test request answered HTTP ${res.status}`, fix: 'retry later; check POLYGON_BASE_URL' }];
  } catch (err) {
    return [{ name: 'api key', status: 'fail', detail: `test request to ${url.origin} failed: ${(err as Error).message}`, fix: 'check the network and POLYGON_BASE_URL' }];
  }
}

/**
 * The AWS side, in the order an operator fixes it: region, credentials (STS
 * GetCallerIdentity: the one call any valid credentials may make), the stack
 * of the environment and its outputs, then the state machine and schedule
 * those outputs name. Each failure is one line with its fix (`aws-errors.ts`).
 */
async function checkAws(cfg: Config): Promise<Check[]> {
  const checks: Check[] = [];
  const why = (err: unknown) => firstLine((err as Error).message);
  checks.push(
    cfg.awsRegion
      ? { name: 'aws region', status: 'ok', detail: cfg.awsRegion }
      : { name: 'aws region', status: 'warn', detail: 'AWS_REGION is not set: the profile\'s region applies, if it has one', fix: 'export AWS_REGION=<region of the stack>' },
  );
  try {
    const me = await stsClient(cfg).send(new GetCallerIdentityCommand({}));
    checks.push({ name: 'aws credentials', status: 'ok', detail: `account ${me.Account ?? '?'} as ${me.Arn ?? '?'}` });
  } catch (err) {
    checks.push({ name: 'aws credentials', status: 'fail', detail: why(err) });
    return checks;
  }
  let deployment: Deployment;
  try {
    deployment = await resolveDeployment(cfg, { stateMachine: true, schedule: true });
    checks.push({ name: 'aws stack', status: 'ok', detail: `${deployment.stack} (${deployment.source})` });
  } catch (err) {
    checks.push({ name: 'aws stack', status: 'fail', detail: why(err) });
    return checks;
  }
  try {
    const sm = requireStateMachine({ ...cfg, stateMachineArn: deployment.stateMachineArn });
    const out = await sfnClient(cfg, sm).send(new DescribeStateMachineCommand({ stateMachineArn: sm.arn }));
    checks.push({ name: 'aws state machine', status: 'ok', detail: `${out.name ?? sm.name} is ${out.status ?? 'ACTIVE'}` });
  } catch (err) {
    checks.push({ name: 'aws state machine', status: 'fail', detail: why(err) });
  }
  try {
    const s = await schedulerClient(cfg).send(new GetScheduleCommand({ Name: deployment.scheduleName, GroupName: deployment.scheduleGroup }));
    checks.push({ name: 'aws schedule', status: 'ok', detail: `${deployment.scheduleName} is ${s.State ?? '?'}` });
  } catch (err) {
    checks.push({ name: 'aws schedule', status: 'fail', detail: `${deployment.scheduleName}: ${why(err)}`, fix: 'check --env, or pass FIBBARS_SCHEDULE_NAME' });
  }
  return checks;
}

export function registerDoctor(program: Command, ctx: Ctx): void {
  const cmd = program.command('doctor').description('check Node, the lake (read and write), the API key (with a test request) and, with --aws, AWS access');
  lakeOption(cmd);
  cmd
    .option('--aws', 'also check AWS region, credentials, the stack, its state machine and schedule')
    .option('--env <name>', 'deployment environment, dev or prod: the stack <env>-fibbars (env FIBBARS_ENV, default prod)')
    .option('--state-machine-arn <arn>', 'state machine ARN, instead of reading it from the stack (env FIBBARS_STATE_MACHINE_ARN)');
  jsonOption(cmd);
  example(cmd, 'fibbars doctor', 'fibbars doctor --aws --json');
  cmd.action(async (opts: { lake?: string; aws?: boolean; env?: string; stateMachineArn?: string; json?: boolean }) => {
    const cfg = ctx.config({ lake: opts.lake, stateMachineArn: opts.stateMachineArn, env: opts.env });
    const checks: Check[] = [checkNode(process.versions.node), ...(await checkLake(cfg, ctx.now())), ...(await checkApiKey(cfg))];
    if (opts.aws) checks.push(...(await checkAws(cfg)));
    const failed = checks.filter((c) => c.status === 'fail');
    if (opts.json) ctx.log.json({ ok: failed.length === 0, checks });
    else {
      for (const c of checks) {
        ctx.log.out(`${c.status.toUpperCase().padEnd(4)} ${c.name.padEnd(18)} ${c.detail}`);
        if (c.fix && c.status !== 'ok') ctx.log.out(`     ${''.padEnd(18)} fix: ${c.fix}`);
      }
    }
    if (failed.length > 0) throw new CommandFailedError(`${failed.length} check(s) failed: ${failed.map((c) => c.name).join(', ')}`);
  });
}
