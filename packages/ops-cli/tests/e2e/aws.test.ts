/**
 * The --aws paths: Step Functions and EventBridge Scheduler control-plane
 * calls, answered by aws-sdk-client-mock (no AWS account here).
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { GetScheduleCommand, ResourceNotFoundException, SchedulerClient, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { cli, tableRows } from '../support/cli.js';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:fibbars-daily-pipeline';
const EXEC = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:fibbars-daily-pipeline:${name}`;
const ENV = { FIBBARS_STATE_MACHINE_ARN: ARN, AWS_REGION: 'eu-west-1' };

const sfn = mockClient(SFNClient);
const scheduler = mockClient(SchedulerClient);
const cloudFormation = mockClient(CloudFormationClient);

/** DescribeStacks as CloudFormation answers it for a deployed stack of `env` (outputs as the stack declares them). */
function deployed(env: 'dev' | 'prod') {
  cloudFormation.on(DescribeStacksCommand, { StackName: `${env}-fibbars` }).resolves({
    Stacks: [
      {
        StackName: `${env}-fibbars`,
        StackStatus: 'CREATE_COMPLETE',
        CreationTime: new Date('2026-11-01T00:00:00Z'),
        Outputs: [
          { OutputKey: 'ScheduleName', OutputValue: `${env}-fibbars-daily` },
          { OutputKey: 'ScheduleGroupName', OutputValue: 'default' },
        ],
      },
    ],
  });
}

beforeEach(() => {
  sfn.reset();
  scheduler.reset();
  cloudFormation.reset();
});
afterEach(() => {
  sfn.reset();
  scheduler.reset();
  cloudFormation.reset();
});

describe('fibbars run --aws', () => {
  it('starts an execution named after the session, so a second start is idempotent', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC('daily-2026-11-20'), startDate: new Date('2026-11-20T21:30:00Z') });
    const res = await cli(['run', '--aws', '--date', '2026-11-20'], { env: ENV });
    expect(res.code).toBe(0);
    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({ stateMachineArn: ARN, name: 'daily-2026-11-20', input: JSON.stringify({ date: '2026-11-20' }) });
    expect(res.stdout).toContain('started execution daily-2026-11-20 for session 2026-11-20');
    expect(res.stdout).toContain(EXEC('daily-2026-11-20'));
  });

  it('says the execution was already started when Step Functions answers ExecutionAlreadyExists', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const res = await cli(['run', '--aws', '--date', '2026-11-20', '--json'], { env: ENV });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({
      started: false,
      alreadyStarted: true,
      name: 'daily-2026-11-20',
      executionArn: EXEC('daily-2026-11-20'),
      date: '2026-11-20',
    });
  });

  it('uses --name and --state-machine-arn over the environment', async () => {
    const other = ARN.replace('fibbars-daily-pipeline', 'other');
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });
    const res = await cli(['run', '--aws', '--date', '2026-11-20', '--name', 'rerun-1', '--state-machine-arn', other], { env: ENV });
    expect(res.code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input).toMatchObject({ stateMachineArn: other, name: 'rerun-1' });
  });

  it('reads the state machine from the stack of --env when no ARN is given', async () => {
    const arn = 'arn:aws:states:us-east-1:123456789012:stateMachine:dev-fibbars-daily-pipeline';
    cloudFormation
      .on(DescribeStacksCommand, { StackName: 'dev-fibbars' })
      .resolves({ Stacks: [{ StackName: 'dev-fibbars', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: [{ OutputKey: 'StateMachineArn', OutputValue: arn }] }] });
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });
    const res = await cli(['run', '--aws', '--env', 'dev', '--date', '2026-11-20'], { env: { AWS_REGION: 'us-east-1' } });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input).toMatchObject({ stateMachineArn: arn, name: 'daily-2026-11-20' });
  });

  it('says which stack is missing, with the fix, when the environment is not deployed', async () => {
    cloudFormation.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id prod-fibbars does not exist'), { name: 'ValidationError' }));
    const res = await cli(['run', '--aws', '--date', '2026-11-20'], { env: { AWS_REGION: 'eu-west-1' } });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      'fibbars: no stack prod-fibbars in eu-west-1 (environment prod): deploy it (nx run infra:deploy -- --env prod), choose another with --env, or pass --state-machine-arn\n',
    );
    expect(sfn.calls()).toHaveLength(0);
  });

  it.each([
    [{ FIBBARS_ENV: 'staging' }, ['--date', '2026-11-20'], /^fibbars: FIBBARS_ENV "staging" is not a deployment environment: use dev or prod/],
    [ENV, ['--date', '2026-07-03'], /^fibbars: 2026-07-03 is not an NYSE session/],
    [ENV, ['--date', '2026-11-20', '--name', 'bad name!'], /^fibbars: execution name "bad name!" is not valid/],
    [{ FIBBARS_STATE_MACHINE_ARN: 'arn:aws:lambda:x' }, [], /^fibbars: "arn:aws:lambda:x" is not a state machine ARN/],
  ])('refuses bad input with one line and exit 2, calling nothing (env %j, args %j)', async (env, args, message) => {
    const res = await cli(['run', '--aws', ...args], { env });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
    expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('fails with exit 1 and the SDK error on other failures', async () => {
    sfn.on(StartExecutionCommand).rejects(Object.assign(new Error('User is not authorized to perform: states:StartExecution'), { name: 'AccessDeniedException' }));
    const res = await cli(['run', '--aws', '--date', '2026-11-20'], { env: ENV });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('fibbars: AccessDeniedException: User is not authorized to perform: states:StartExecution\n');
  });
});

describe('fibbars executions --aws', () => {
  it('lists executions, text and --json with the same rows', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        { executionArn: EXEC('daily-2026-11-24'), stateMachineArn: ARN, name: 'daily-2026-11-24', status: 'RUNNING', startDate: new Date('2026-11-24T21:30:00Z') },
        {
          executionArn: EXEC('daily-2026-11-23'),
          stateMachineArn: ARN,
          name: 'daily-2026-11-23',
          status: 'FAILED',
          startDate: new Date('2026-11-23T21:30:00Z'),
          stopDate: new Date('2026-11-23T21:48:30Z'),
        },
      ],
    });
    const text = await cli(['executions', '--aws', '--limit', '2'], { env: ENV });
    const json = JSON.parse((await cli(['executions', '--aws', '--limit', '2', '--json'], { env: ENV })).stdout) as {
      executions: { name: string; status: string; date: string; durationMs?: number }[];
    };
    expect(sfn.commandCalls(ListExecutionsCommand)[0]!.args[0].input).toEqual({ stateMachineArn: ARN, maxResults: 2 });
    expect(json.executions.map((e) => [e.name, e.status, e.date, e.durationMs])).toEqual([
      ['daily-2026-11-24', 'RUNNING', '2026-11-24', undefined],
      ['daily-2026-11-23', 'FAILED', '2026-11-23', 18.5 * 60_000],
    ]);
    expect(tableRows(text.stdout, 'name').map((r) => r.slice(0, 3))).toEqual(json.executions.map((e) => [e.name, e.status, e.date]));
    expect(text.stdout).toContain('18 min 30 s');
  });
});

const t = (s: number) => new Date(Date.UTC(2026, 10, 23, 21, 30, s));
const ev = (id: number, prev: number, type: string, extra: Partial<HistoryEvent> = {}): HistoryEvent => ({
  id,
  previousEventId: prev,
  type: type as HistoryEvent['type'],
  timestamp: t(id),
  ...extra,
});

// A run where FetchOhlcv is retried once after RateLimitedError, and Consolidate fails the quality gate (caught -> alert -> Fail).
const HISTORY: HistoryEvent[] = [
  ev(1, 0, 'ExecutionStarted'),
  ev(2, 1, 'ParallelStateEntered', { stateEnteredEventDetails: { name: 'FetchAll' } }),
  ev(3, 2, 'ParallelStateStarted'),
  ev(4, 3, 'TaskStateEntered', { stateEnteredEventDetails: { name: 'FetchOhlcv' } }),
  ev(5, 3, 'TaskStateEntered', { stateEnteredEventDetails: { name: 'FetchMeta' } }),
  ev(6, 4, 'TaskScheduled'),
  ev(7, 6, 'TaskStarted'),
  ev(8, 7, 'TaskFailed', { taskFailedEventDetails: { resource: 'invoke', resourceType: 'lambda', error: 'RateLimitedError', cause: '429 after 4 retries' } }),
  ev(9, 8, 'TaskScheduled'),
  ev(10, 9, 'TaskStarted'),
  ev(11, 10, 'TaskSucceeded'),
  ev(12, 11, 'TaskStateExited', { stateExitedEventDetails: { name: 'FetchOhlcv' } }),
  ev(13, 5, 'TaskScheduled'),
  ev(14, 13, 'TaskStarted'),
  ev(15, 14, 'TaskSucceeded'),
  ev(16, 15, 'TaskStateExited', { stateExitedEventDetails: { name: 'FetchMeta' } }),
  ev(17, 16, 'ParallelStateSucceeded'),
  ev(18, 17, 'ParallelStateExited', { stateExitedEventDetails: { name: 'FetchAll' } }),
  ev(19, 18, 'TaskStateEntered', { stateEnteredEventDetails: { name: 'Consolidate' } }),
  ev(20, 19, 'TaskScheduled'),
  ev(21, 20, 'TaskStarted'),
  ev(22, 21, 'TaskFailed', { taskFailedEventDetails: { resource: 'submitJob.sync', resourceType: 'batch', error: 'DataQualityError', cause: '2026-11-23: 3.2% rejected' } }),
  ev(23, 22, 'TaskStateExited', { stateExitedEventDetails: { name: 'Consolidate' } }),
  ev(24, 23, 'PassStateEntered', { stateEnteredEventDetails: { name: 'ConsolidateFailed' } }),
  ev(25, 24, 'PassStateExited', { stateExitedEventDetails: { name: 'ConsolidateFailed' } }),
  ev(26, 25, 'TaskStateEntered', { stateEnteredEventDetails: { name: 'NotifyFailure' } }),
  ev(27, 26, 'TaskScheduled'),
  ev(28, 27, 'TaskStarted'),
  ev(29, 28, 'TaskSucceeded'),
  ev(30, 29, 'TaskStateExited', { stateExitedEventDetails: { name: 'NotifyFailure' } }),
  ev(31, 30, 'FailStateEntered', { stateEnteredEventDetails: { name: 'PipelineFailed' } }),
  ev(32, 31, 'ExecutionFailed', { executionFailedEventDetails: { error: 'DataQualityError', cause: '2026-11-23: 3.2% rejected' } }),
];

describe('fibbars describe --aws', () => {
  beforeEach(() => {
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXEC('daily-2026-11-23'),
      stateMachineArn: ARN,
      name: 'daily-2026-11-23',
      status: 'FAILED',
      startDate: t(1),
      stopDate: t(32),
      error: 'DataQualityError',
      cause: '2026-11-23: 3.2% rejected',
    });
    sfn
      .on(GetExecutionHistoryCommand, { executionArn: EXEC('daily-2026-11-23'), nextToken: undefined })
      .resolves({ events: HISTORY.slice(0, 16), nextToken: 'page-2' })
      .on(GetExecutionHistoryCommand, { executionArn: EXEC('daily-2026-11-23'), nextToken: 'page-2' })
      .resolves({ events: HISTORY.slice(16) });
  });

  it('reads every history page and shows each state with attempts, retries and errors', async () => {
    const res = await cli(['describe', 'daily-2026-11-23', '--aws', '--json'], { env: ENV });
    expect(res.code).toBe(0);
    expect(sfn.commandCalls(GetExecutionHistoryCommand)).toHaveLength(2);
    const out = JSON.parse(res.stdout) as {
      status: string;
      error: string;
      states: { name: string; status: string; attempts: number; durationMs?: number; errors: { error: string }[] }[];
    };
    expect(out.status).toBe('FAILED');
    expect(out.error).toBe('DataQualityError');
    expect(out.states.map((s) => [s.name, s.status, s.attempts, s.errors.map((e) => e.error)])).toEqual([
      ['FetchAll', 'done', 0, []],
      ['FetchOhlcv', 'done', 2, ['RateLimitedError']],
      ['FetchMeta', 'done', 1, []],
      ['Consolidate', 'caught', 1, ['DataQualityError']],
      ['ConsolidateFailed', 'done', 0, []],
      ['NotifyFailure', 'done', 1, []],
      ['PipelineFailed', 'failed', 0, []],
    ]);
    expect(out.states.find((s) => s.name === 'FetchOhlcv')?.durationMs).toBe(8000);
  });

  it('prints the same states as a table, with the execution error on top', async () => {
    const res = await cli(['describe', 'daily-2026-11-23', '--aws'], { env: ENV });
    expect(res.stdout).toContain('daily-2026-11-23: FAILED');
    expect(res.stdout).toContain('error: DataQualityError: 2026-11-23: 3.2% rejected');
    const rows = tableRows(res.stdout, 'state');
    expect(rows.map((r) => r[0])).toEqual(['FetchAll', 'FetchOhlcv', 'FetchMeta', 'Consolidate', 'ConsolidateFailed', 'NotifyFailure', 'PipelineFailed']);
    expect(rows[1]).toEqual(['FetchOhlcv', 'Task', 'done', '2', '8.0 s', 'RateLimitedError: 429 after 4 retries']);
  });

  it('names the fix when the execution does not exist', async () => {
    sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    const res = await cli(['describe', 'daily-1999-01-04', '--aws'], { env: ENV });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: no execution named daily-1999-01-04 on fibbars-daily-pipeline: list them with "fibbars executions --aws"\n');
  });
});

describe('fibbars schedule', () => {
  const schedule = {
    Name: 'prod-fibbars-daily',
    GroupName: 'default',
    State: 'DISABLED' as const,
    ScheduleExpression: 'cron(30 16 ? * MON-FRI *)',
    ScheduleExpressionTimezone: 'America/New_York',
    FlexibleTimeWindow: { Mode: 'OFF' as const },
    Target: { Arn: ARN, RoleArn: 'arn:aws:iam::123456789012:role/scheduler', Input: '{}' },
  };

  it('shows the status', async () => {
    deployed('prod');
    scheduler.on(GetScheduleCommand).resolves(schedule);
    const res = await cli(['schedule', 'status', '--aws'], { env: ENV });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('schedule prod-fibbars-daily is DISABLED: cron(30 16 ? * MON-FRI *) (America/New_York)');
    expect(scheduler.commandCalls(GetScheduleCommand)[0]!.args[0].input).toEqual({ Name: 'prod-fibbars-daily', GroupName: 'default' });
    expect(scheduler.commandCalls(UpdateScheduleCommand)).toHaveLength(0);
  });

  it('enables it by sending the whole schedule back with State ENABLED', async () => {
    deployed('prod');
    scheduler.on(GetScheduleCommand).resolves(schedule);
    scheduler.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'arn:aws:scheduler:eu-west-1:123456789012:schedule/default/prod-fibbars-daily' });
    const res = await cli(['schedule', 'enable', '--aws', '--json'], { env: ENV });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ name: 'prod-fibbars-daily', state: 'ENABLED', changed: true });
    expect(scheduler.commandCalls(UpdateScheduleCommand)[0]!.args[0].input).toMatchObject({
      Name: 'prod-fibbars-daily',
      GroupName: 'default',
      State: 'ENABLED',
      ScheduleExpression: schedule.ScheduleExpression,
      ScheduleExpressionTimezone: schedule.ScheduleExpressionTimezone,
      FlexibleTimeWindow: schedule.FlexibleTimeWindow,
      Target: schedule.Target,
    });
  });

  it('does nothing when the schedule already has the state, and takes the name from the stack of FIBBARS_ENV', async () => {
    deployed('dev');
    scheduler.on(GetScheduleCommand).resolves({ ...schedule, Name: 'dev-fibbars-daily' });
    const res = await cli(['schedule', 'disable', '--aws'], { env: { ...ENV, FIBBARS_ENV: 'dev' } });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('schedule dev-fibbars-daily was already DISABLED');
    expect(cloudFormation.commandCalls(DescribeStacksCommand)[0]!.args[0].input).toEqual({ StackName: 'dev-fibbars' });
    expect(scheduler.commandCalls(GetScheduleCommand)[0]!.args[0].input.Name).toBe('dev-fibbars-daily');
    expect(scheduler.commandCalls(UpdateScheduleCommand)).toHaveLength(0);
  });

  it.each([
    [['schedule', 'status'], ENV, 'fibbars: the schedule only exists on AWS: add --aws (and set AWS_REGION), e.g. fibbars schedule status --aws\n'],
    [['schedule', 'pause', '--aws'], ENV, 'fibbars: unknown schedule action "pause": use enable, disable or status\n'],
    [['schedule', 'status', '--aws', '--env', 'qa'], ENV, 'fibbars: --env "qa" is not a deployment environment: use dev or prod (the stack is <env>-fibbars)\n'],
  ])('refuses %j with one line and exit 2', async (argv, env, message) => {
    const res = await cli(argv, { env });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(message);
    expect(scheduler.calls()).toHaveLength(0);
  });

  it('names the fix when the schedule does not exist', async () => {
    scheduler.on(GetScheduleCommand).rejects(new ResourceNotFoundException({ message: 'Schedule not found', Message: 'Schedule not found', $metadata: {} }));
    const res = await cli(['schedule', 'status', '--aws', '--schedule-name', 'nope'], { env: ENV });
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: no schedule nope in group default (given by --schedule-name or FIBBARS_SCHEDULE_NAME): check --env, --schedule-name and --group\n');
  });
});
