/**
 * Execution control on AWS: `stop --aws` (StopExecution), `redrive --aws`
 * (RedriveExecution), `describe latest --aws`, name prefixes and `executions
 * --status`, answered by aws-sdk-client-mock. The requests are checked
 * against the Step Functions API reference: StopExecution takes
 * `executionArn`, `error` (<= 256 chars), `cause` (<= 32768) and answers
 * `stopDate`; RedriveExecution takes `executionArn` and answers `redriveDate`,
 * and refuses an execution it cannot redrive with ExecutionNotRedrivable;
 * both answer ExecutionDoesNotExist for an unknown ARN; ListExecutions
 * filters by `statusFilter` and lists the most recent first.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { cli } from '../support/cli.js';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:fibbars-daily-pipeline';
const EXEC = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:fibbars-daily-pipeline:${name}`;
const ENV = { FIBBARS_STATE_MACHINE_ARN: ARN, AWS_REGION: 'eu-west-1' };
const notFound = () => new ExecutionDoesNotExist({ message: `Execution Does Not Exist: '${EXEC('x')}'`, $metadata: {} });
const listed = (...names: string[]) => ({
  executions: names.map((name, i) => ({
    executionArn: EXEC(name),
    stateMachineArn: ARN,
    name,
    status: 'FAILED' as const,
    startDate: new Date(Date.UTC(2026, 10, 25 - i, 21, 30)),
  })),
});

const sfn = mockClient(SFNClient);
beforeEach(() => {
  sfn.reset();
});
afterEach(() => {
  sfn.reset();
});

const oneLine = (text: string) => expect(text.trimEnd().split('\n')).toHaveLength(1);

describe('fibbars stop --aws', () => {
  it('calls StopExecution with the execution ARN, error and cause, and reports the stop date', async () => {
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date('2026-11-25T21:40:00Z') });
    const res = await cli(['stop', 'daily-2026-11-25', '--aws', '--error', 'Operator', '--cause', 'vendor outage', '--json'], { env: ENV });
    expect(res.code).toBe(0);
    const calls = sfn.commandCalls(StopExecutionCommand);
    expect(calls.map((c) => c.args[0].input)).toEqual([{ executionArn: EXEC('daily-2026-11-25'), error: 'Operator', cause: 'vendor outage' }]);
    expect(JSON.parse(res.stdout)).toEqual({
      name: 'daily-2026-11-25',
      executionArn: EXEC('daily-2026-11-25'),
      status: 'ABORTED',
      stopDate: '2026-11-25T21:40:00.000Z',
    });
  });

  it('sends neither error nor cause when none is given, and accepts an ARN as it is', async () => {
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date('2026-11-25T21:40:00Z') });
    const res = await cli(['stop', EXEC('daily-2026-11-25'), '--aws'], { env: ENV });
    expect(res.code).toBe(0);
    expect(sfn.commandCalls(StopExecutionCommand)[0]!.args[0].input).toEqual({ executionArn: EXEC('daily-2026-11-25') });
    expect(res.stdout).toBe('stopped execution daily-2026-11-25 at 2026-11-25T21:40:00.000Z: it is ABORTED (redrive it with "fibbars redrive daily-2026-11-25 --aws")\n');
  });

  it('stops the one execution a name prefix matches when no execution has that exact name', async () => {
    sfn.on(StopExecutionCommand, { executionArn: EXEC('daily-2026-11') }).rejects(notFound());
    sfn.on(StopExecutionCommand, { executionArn: EXEC('daily-2026-11-25') }).resolves({ stopDate: new Date('2026-11-25T21:40:00Z') });
    sfn.on(ListExecutionsCommand).resolves(listed('daily-2026-11-25', 'daily-2026-10-30'));
    const res = await cli(['stop', 'daily-2026-11', '--aws'], { env: ENV });
    expect(res.code).toBe(0);
    expect(sfn.commandCalls(StopExecutionCommand).map((c) => c.args[0].input.executionArn)).toEqual([EXEC('daily-2026-11'), EXEC('daily-2026-11-25')]);
    expect(sfn.commandCalls(ListExecutionsCommand)[0]!.args[0].input).toMatchObject({ stateMachineArn: ARN, maxResults: 1000 });
  });

  it('lists the candidates of an ambiguous prefix in one line, exit 2, stopping nothing', async () => {
    sfn.on(StopExecutionCommand).rejects(notFound());
    sfn.on(ListExecutionsCommand).resolves(listed('daily-2026-11-25', 'daily-2026-11-24'));
    const res = await cli(['stop', 'daily-2026-11-2', '--aws'], { env: ENV });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: execution name prefix "daily-2026-11-2" matches 2 executions: daily-2026-11-25, daily-2026-11-24; give more of the name\n');
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(1);
  });

  it('says so in one line when no execution has that name (ExecutionDoesNotExist)', async () => {
    sfn.on(StopExecutionCommand).rejects(notFound());
    sfn.on(ListExecutionsCommand).resolves(listed('daily-2026-11-25'));
    const res = await cli(['stop', 'daily-1999-01-04', '--aws'], { env: ENV });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: no execution named daily-1999-01-04 on fibbars-daily-pipeline: list them with "fibbars executions --aws"\n');
  });

  it('refuses an error code longer than StopExecution takes, calling nothing', async () => {
    const res = await cli(['stop', 'daily-2026-11-25', '--aws', '--error', 'E'.repeat(257)], { env: ENV });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: --error is 257 characters long: Step Functions takes at most 256\n');
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('fibbars redrive --aws', () => {
  it('calls RedriveExecution with the execution ARN and reports the redrive date', async () => {
    sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date('2026-11-26T08:00:00Z') });
    const res = await cli(['redrive', 'daily-2026-11-23', '--aws', '--json'], { env: ENV });
    expect(res.code).toBe(0);
    expect(sfn.commandCalls(RedriveExecutionCommand).map((c) => c.args[0].input)).toEqual([{ executionArn: EXEC('daily-2026-11-23') }]);
    expect(JSON.parse(res.stdout)).toEqual({
      name: 'daily-2026-11-23',
      executionArn: EXEC('daily-2026-11-23'),
      status: 'RUNNING',
      redriveDate: '2026-11-26T08:00:00.000Z',
    });
  });

  it('redrives the latest execution: the first ListExecutions lists', async () => {
    sfn.on(ListExecutionsCommand).resolves(listed('daily-2026-11-25'));
    sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date('2026-11-26T08:00:00Z') });
    const res = await cli(['redrive', 'latest', '--aws'], { env: ENV });
    expect(res.code).toBe(0);
    expect(sfn.commandCalls(ListExecutionsCommand)[0]!.args[0].input).toEqual({ stateMachineArn: ARN, maxResults: 1 });
    expect(sfn.commandCalls(RedriveExecutionCommand)[0]!.args[0].input).toEqual({ executionArn: EXEC('daily-2026-11-25') });
    expect(res.stdout).toContain('redrove execution daily-2026-11-25 at 2026-11-26T08:00:00.000Z');
  });

  it('turns ExecutionNotRedrivable (a SUCCEEDED or RUNNING execution) into one line, exit 2', async () => {
    sfn.on(RedriveExecutionCommand).rejects(
      new ExecutionNotRedrivable({ message: 'Execution with status SUCCEEDED cannot be redriven', $metadata: {} }),
    );
    const res = await cli(['redrive', 'daily-2026-11-25', '--aws'], { env: ENV });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: execution daily-2026-11-25 cannot be redriven: Execution with status SUCCEEDED cannot be redriven\n');
  });
});

describe('fibbars describe latest --aws and executions --status', () => {
  it('describes the most recent execution', async () => {
    sfn.on(ListExecutionsCommand).resolves(listed('daily-2026-11-25'));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC('daily-2026-11-25'), name: 'daily-2026-11-25', status: 'FAILED', stateMachineArn: ARN, startDate: new Date() });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const res = await cli(['describe', 'latest', '--aws', '--json'], { env: ENV });
    expect(res.code).toBe(0);
    expect(sfn.commandCalls(DescribeExecutionCommand)[0]!.args[0].input).toEqual({ executionArn: EXEC('daily-2026-11-25') });
    expect(JSON.parse(res.stdout)).toMatchObject({ name: 'daily-2026-11-25', status: 'FAILED' });
  });

  it('shows the redrive count and date DescribeExecution gives', async () => {
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXEC('daily-2026-11-23'),
      name: 'daily-2026-11-23',
      status: 'SUCCEEDED',
      stateMachineArn: ARN,
      startDate: new Date('2026-11-23T21:30:00Z'),
      redriveCount: 2,
      redriveDate: new Date('2026-11-24T08:00:00Z'),
    });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const text = await cli(['describe', 'daily-2026-11-23', '--aws'], { env: ENV });
    expect(text.stdout).toContain('\nredriven 2 times, last at 2026-11-24T08:00:00.000Z\n');
    const json = JSON.parse((await cli(['describe', 'daily-2026-11-23', '--aws', '--json'], { env: ENV })).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ redriveCount: 2, redriveDate: '2026-11-24T08:00:00.000Z' });
  });

  it('passes the status to ListExecutions as statusFilter', async () => {
    sfn.on(ListExecutionsCommand).resolves(listed('daily-2026-11-25'));
    const res = await cli(['executions', '--aws', '--status', 'failed', '--json'], { env: ENV });
    expect(res.code).toBe(0);
    expect(sfn.commandCalls(ListExecutionsCommand)[0]!.args[0].input).toEqual({ stateMachineArn: ARN, maxResults: 20, statusFilter: 'FAILED' });
  });

  it('refuses a status that is not a Step Functions status, listing the valid ones, calling nothing', async () => {
    const res = await cli(['executions', '--aws', '--status', 'FAILD'], { env: ENV });
    expect(res.code).toBe(2);
    oneLine(res.stderr);
    expect(res.stderr).toBe('fibbars: --status "FAILD" is not an execution status: use one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE\n');
    expect(sfn.calls()).toHaveLength(0);
  });
});
