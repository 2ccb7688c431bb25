/**
 * The `--aws` paths as an operator meets them: the built `fibbars` binary in
 * a clean environment, the real AWS SDK clients, and a loopback server that
 * speaks the CloudFormation, STS, Step Functions and Scheduler protocols
 * (`@fibbars/testing`). What a mock of `send` cannot show: the SDK's own
 * failures (no region, no credentials, a dead endpoint, refused keys) turned
 * into one line that names the call and the fix, no SDK warnings, and the
 * deployed names read from the stack's outputs.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { OUTPUT_KEYS, scheduleName, stackName, stateMachineName } from '@fibbars/asl-definition/names';
import { bareAwsEnv, runNode, startAwsControlPlane, type ControlPlane } from '@fibbars/testing';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');
const ACCOUNT = '123456789012';
const SM_ARN = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${stateMachineName('dev')}`;

let aws: ControlPlane;

beforeAll(async () => {
  aws = await startAwsControlPlane();
});
afterAll(async () => {
  await aws.close();
});
beforeEach(() => {
  aws.calls.length = 0;
  delete aws.state.fault;
  aws.state.stacks = {
    [stackName('dev')]: {
      outputs: [
        { OutputKey: OUTPUT_KEYS.stateMachineArn, OutputValue: SM_ARN },
        { OutputKey: OUTPUT_KEYS.scheduleName, OutputValue: scheduleName('dev') },
        { OutputKey: OUTPUT_KEYS.scheduleGroupName, OutputValue: 'default' },
      ],
    },
  };
  aws.state.schedules = {
    [`default/${scheduleName('dev')}`]: {
      Name: scheduleName('dev'),
      GroupName: 'default',
      State: 'ENABLED',
      ScheduleExpression: 'cron(30 16 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'America/New_York',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { Arn: SM_ARN, RoleArn: `arn:aws:iam::${ACCOUNT}:role/scheduler` },
    },
  };
  aws.state.sfn = { DescribeStateMachine: { name: stateMachineName('dev'), status: 'ACTIVE', stateMachineArn: SM_ARN, definition: '{}', roleArn: 'r', type: 'STANDARD', creationDate: 1 } };
});

/** The binary with only what a shell on a fresh machine has, plus `env`. */
const fibbars = (argv: string[], env: Record<string, string> = {}) => runNode(BIN, argv, bareAwsEnv(env));

const KEYS = { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' };
const withServer = () => ({ AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: aws.url, ...KEYS });

describe('errors of AWS calls are one line with the service, the operation and the fix', () => {
  it.each([
    {
      what: 'no region',
      env: () => ({ ...KEYS }),
      code: 2,
      line: "fibbars: CloudFormation DescribeStacks: no AWS region: export AWS_REGION=<region of the stack>, e.g. us-east-1, or set region in the profile's config\n",
    },
    {
      what: 'no credentials',
      env: () => ({ AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: aws.url }),
      code: 2,
      line: 'fibbars: CloudFormation DescribeStacks: no AWS credentials found: set AWS_PROFILE (and run aws sso login) or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n',
    },
    {
      what: 'an endpoint nobody listens on',
      env: () => ({ ...withServer(), AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }),
      code: 1,
      line: 'fibbars: CloudFormation DescribeStacks: endpoint unreachable (ECONNREFUSED at 127.0.0.1:9): check the network, AWS_REGION and any AWS_ENDPOINT_URL variable\n',
    },
  ])('$what', async ({ env, code, line }) => {
    const res = await fibbars(['schedule', 'status', '--aws', '--env', 'dev'], env());
    expect(res.stderr).toBe(line);
    expect(res.code).toBe(code);
    expect(res.stdout).toBe('');
  });

  it('refused keys', async () => {
    aws.state.fault = { status: 403, code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' };
    const res = await fibbars(['schedule', 'status', '--aws', '--env', 'dev'], withServer());
    expect(res.stderr).toBe(
      'fibbars: CloudFormation DescribeStacks: AWS refused the credentials (InvalidClientTokenId: The security token included in the request is invalid.): they are wrong or expired; refresh them (aws sso login) or fix AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\n',
    );
    expect(res.code).toBe(1);
  });

  it('a caller without the IAM action', async () => {
    aws.state.fault = { status: 403, code: 'AccessDenied', message: 'User is not authorized to perform: cloudformation:DescribeStacks' };
    const res = await fibbars(['schedule', 'status', '--aws', '--env', 'dev'], withServer());
    expect(res.stderr).toBe(
      'fibbars: CloudFormation DescribeStacks: access denied (User is not authorized to perform: cloudformation:DescribeStacks): grant cloudformation:DescribeStacks to the caller, or use a role that has it\n',
    );
    expect(res.code).toBe(1);
  });

  it('a stack that is not deployed, and an environment that does not exist', async () => {
    const missing = await fibbars(['schedule', 'status', '--aws', '--env', 'prod'], withServer());
    expect(missing.stderr).toBe(
      'fibbars: no stack prod-fibbars in us-east-1 (environment prod): deploy it (nx run infra:deploy -- --env prod), choose another with --env, or pass --state-machine-arn\n',
    );
    expect(missing.code).toBe(2);
    const wrong = await fibbars(['schedule', 'status', '--aws'], { ...withServer(), FIBBARS_ENV: 'staging' });
    expect(wrong.stderr).toBe('fibbars: FIBBARS_ENV "staging" is not a deployment environment: use dev or prod (the stack is <env>-fibbars)\n');
    expect(wrong.code).toBe(2);
    expect(aws.calls.map((c) => c.operation)).toEqual(['DescribeStacks']);
  });
});

describe('the deployed names come from the stack outputs', () => {
  it('schedule status reads the schedule name and group from the stack of --env', async () => {
    const res = await fibbars(['schedule', 'status', '--aws', '--env', 'dev', '--json'], withServer());
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ name: scheduleName('dev'), group: 'default', state: 'ENABLED', changed: false });
    expect(aws.calls).toEqual([
      { service: 'cloudformation', operation: 'DescribeStacks', params: expect.objectContaining({ StackName: 'dev-fibbars' }) },
      { service: 'scheduler', operation: 'GetSchedule', params: { Name: 'dev-fibbars-daily', GroupName: 'default' } },
    ]);
  });

  it('executions --aws lists the executions of the state machine the stack of --env names', async () => {
    aws.state.sfn['ListExecutions'] = { executions: [{ executionArn: `${SM_ARN.replace(':stateMachine:', ':execution:')}:daily-2026-11-20`, stateMachineArn: SM_ARN, name: 'daily-2026-11-20', status: 'SUCCEEDED', startDate: 1763674200, stopDate: 1763675000 }] };
    const res = await fibbars(['executions', '--aws', '--env', 'dev', '--json'], withServer());
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.stringify(JSON.parse(res.stdout))).toContain('daily-2026-11-20');
    expect(aws.calls.map((c) => c.operation)).toEqual(['DescribeStacks', 'ListExecutions']);
    expect(aws.calls[1]?.params).toMatchObject({ stateMachineArn: SM_ARN });
  });

  it('a schedule name given by flag needs no CloudFormation call', async () => {
    const res = await fibbars(['schedule', 'status', '--aws', '--schedule-name', 'dev-fibbars-daily'], withServer());
    expect(res.code).toBe(0);
    expect(aws.calls.map((c) => c.operation)).toEqual(['GetSchedule']);
  });

  it('doctor --aws checks the credentials with STS, then the stack, its state machine and its schedule', async () => {
    const res = await fibbars(['doctor', '--aws', '--env', 'dev', '--lake', '/nonexistent/lake', '--json'], withServer());
    const checks = (JSON.parse(res.stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks.filter((c) => c.name.startsWith('aws'));
    expect(checks.map((c) => [c.name, c.status, c.detail])).toEqual([
      ['aws region', 'ok', 'us-east-1'],
      ['aws credentials', 'ok', `account ${ACCOUNT} as arn:aws:iam::${ACCOUNT}:user/operator`],
      ['aws stack', 'ok', 'dev-fibbars (stack outputs)'],
      ['aws state machine', 'ok', 'dev-fibbars-daily-pipeline is ACTIVE'],
      ['aws schedule', 'ok', 'dev-fibbars-daily is ENABLED'],
    ]);
    expect(aws.calls.map((c) => c.operation)).toEqual(['GetCallerIdentity', 'DescribeStacks', 'DescribeStateMachine', 'GetSchedule']);
    expect(aws.calls.find((c) => c.operation === 'DescribeStateMachine')?.params).toEqual({ stateMachineArn: SM_ARN });
  });

  it('doctor --aws stops at credentials AWS refuses, with the reason', async () => {
    aws.state.fault = { status: 403, code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' };
    const res = await fibbars(['doctor', '--aws', '--env', 'dev', '--lake', '/nonexistent/lake', '--json'], withServer());
    expect(res.code).toBe(1);
    const checks = (JSON.parse(res.stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks.filter((c) => c.name.startsWith('aws'));
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['aws region', 'ok'],
      ['aws credentials', 'fail'],
    ]);
    expect(checks[1]?.detail).toMatch(/^STS GetCallerIdentity: AWS refused the credentials \(InvalidClientTokenId/);
  });
});
