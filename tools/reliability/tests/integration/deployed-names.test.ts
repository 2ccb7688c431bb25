/**
 * The `fibbars` command finds what this stack deploys: the synthesized
 * template's outputs, resolved as CloudFormation resolves them, are served
 * by a loopback AWS control plane (`@fibbars/testing`), and the built CLI
 * must reach the state machine and schedule the template creates, by their
 * names in the template, not by its own defaults.
 *
 * How CloudFormation resolves the outputs' `Ref`s (documented return values):
 * - AWS::StepFunctions::StateMachine: Ref returns the state machine's ARN
 *   (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-stepfunctions-statemachine.html#aws-resource-stepfunctions-statemachine-return-values)
 * - AWS::Scheduler::Schedule: Ref returns the schedule's Name
 *   (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-scheduler-schedule.html#aws-resource-scheduler-schedule-return-values)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deployedLogLocations } from '@fibbars/asl-definition';
import { OUTPUT_KEYS } from '@fibbars/asl-definition/names';
import { createApp, loadDefinition } from '@fibbars/infra-cdk';
import { bareAwsEnv, runNode, startAwsControlPlane, type ControlPlane, type StackOutput } from '@fibbars/testing';

// A cross-check of two products (apps/infra-cdk and packages/ops-cli), so it
// lives with the workspace's end-to-end tools: neither product depends on the other.

type Resource = { Type: string; Properties?: Record<string, unknown> };
type Template = { Resources: Record<string, Resource>; Outputs: Record<string, { Value: unknown }> };

/** The dev stack's template, synthesized against stand-in artifacts (the zips' bytes do not matter here). */
function synthesizeDev(root: string): { template: Template; stackName: string } {
  const lambdaDir = join(root, 'lambda');
  const imageDir = join(root, 'image');
  mkdirSync(lambdaDir, { recursive: true });
  mkdirSync(join(imageDir, 'dist', 'bundle'), { recursive: true });
  writeFileSync(join(lambdaDir, 'ohlcv.zip'), 'stand-in');
  writeFileSync(join(lambdaDir, 'meta.zip'), 'stand-in');
  writeFileSync(join(imageDir, 'Dockerfile'), 'FROM scratch\n');
  writeFileSync(join(imageDir, 'dist', 'bundle', 'main.js'), '\n');
  writeFileSync(join(imageDir, 'package.json'), '{}\n');
  const app = createApp({
    definition: loadDefinition(),
    artifacts: { ohlcvZip: join(lambdaDir, 'ohlcv.zip'), metaZip: join(lambdaDir, 'meta.zip'), batchImageDir: imageDir },
    context: { env: 'dev' },
    outdir: join(root, 'cdk.out'),
    cloudFormationValidation: false,
  });
  const stack = app.stacks[0];
  if (!stack) throw new Error('the app has no stack');
  return { template: app.app.synth().getStackByName(stack.stackName).template as Template, stackName: stack.stackName };
}

const resourcesOf = (template: Template, type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

const ACCOUNT = '111111111111';
const REGION = 'us-east-1';
const require = createRequire(import.meta.url);
const FIBBARS = join(dirname(require.resolve('@fibbars/ops-cli/package.json')), 'dist', 'bin.js');

let aws: ControlPlane;
let root: string;
let logGroups: string[];
let stateMachineName: string;
let schedule: { Name: string; GroupName: string };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'fibbars-rel-names-'));
  const { template, stackName } = synthesizeDev(root);
  const stateMachines = resourcesOf(template, 'AWS::StepFunctions::StateMachine');
  const schedules = resourcesOf(template, 'AWS::Scheduler::Schedule');
  expect(stateMachines).toHaveLength(1);
  expect(schedules).toHaveLength(1);
  const [smId, sm] = stateMachines[0]!;
  const [scheduleId, sc] = schedules[0]!;
  stateMachineName = sm.Properties?.['StateMachineName'] as string;
  logGroups = resourcesOf(template, 'AWS::Logs::LogGroup').map(([, g]) => g.Properties?.['LogGroupName'] as string);
  schedule = { Name: sc.Properties?.['Name'] as string, GroupName: (sc.Properties?.['GroupName'] as string | undefined) ?? 'default' };
  const refs: Record<string, string> = {
    [smId]: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${stateMachineName}`,
    [scheduleId]: schedule.Name,
  };
  const resolve = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value;
    const ref = (value as { Ref?: string }).Ref;
    return ref === undefined ? undefined : refs[ref];
  };
  // Only the outputs the CLI reads need resolving; the others (joins, attributes) are left out.
  const outputs: StackOutput[] = Object.entries(template.Outputs)
    .map(([key, o]) => ({ OutputKey: key, OutputValue: resolve(o.Value) }))
    .filter((o): o is StackOutput => o.OutputValue !== undefined);
  aws = await startAwsControlPlane({
    caller: { Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:role/operator`, UserId: 'AROAEXAMPLE' },
    stacks: { [stackName]: { outputs } },
    schedules: {
      [`${schedule.GroupName}/${schedule.Name}`]: {
        Name: schedule.Name,
        GroupName: schedule.GroupName,
        State: 'ENABLED',
        ScheduleExpression: sc.Properties?.['ScheduleExpression'],
        ScheduleExpressionTimezone: sc.Properties?.['ScheduleExpressionTimezone'],
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: { Arn: refs[smId], RoleArn: `arn:aws:iam::${ACCOUNT}:role/scheduler` },
      },
    },
    sfn: {
      DescribeStateMachine: { name: stateMachineName, status: 'ACTIVE', stateMachineArn: refs[smId], definition: '{}', roleArn: 'r', type: 'STANDARD', creationDate: 1 },
      ListExecutions: { executions: [] },
    },
  });
}, 120_000);

afterAll(async () => {
  await aws?.close();
  rmSync(root, { recursive: true, force: true });
});

const fibbars = (argv: string[]) =>
  runNode(FIBBARS, argv, bareAwsEnv({ AWS_REGION: REGION, AWS_ENDPOINT_URL: aws.url, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' }));

describe('the fibbars command against the synthesized stack', () => {
  it('the template declares the outputs the CLI reads', () => {
    const keys = aws.state.stacks['dev-fibbars']?.outputs.map((o) => o.OutputKey);
    expect(keys).toEqual(expect.arrayContaining([OUTPUT_KEYS.stateMachineArn, OUTPUT_KEYS.scheduleName, OUTPUT_KEYS.scheduleGroupName]));
  });

  it('describe --aws names log groups the template creates (the alert leads to real logs)', () => {
    const logs = deployedLogLocations(stateMachineName.replace(/-daily-pipeline$/, ''));
    expect(logGroups).toEqual(expect.arrayContaining([logs.jobLogGroup, ...logs.functionLogGroups]));
  });

  it('schedule status --env dev reaches the schedule the template creates', async () => {
    aws.calls.length = 0;
    const res = await fibbars(['schedule', 'status', '--aws', '--env', 'dev', '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ name: schedule.Name, group: schedule.GroupName, state: 'ENABLED' });
    expect(aws.calls.find((c) => c.operation === 'GetSchedule')?.params).toEqual(schedule);
  });

  it('doctor --aws --env dev finds the stack, the state machine and the schedule by the template names', async () => {
    aws.calls.length = 0;
    const res = await fibbars(['doctor', '--aws', '--env', 'dev', '--lake', '/nonexistent/lake', '--json']);
    const checks = (JSON.parse(res.stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks.filter((c) => c.name.startsWith('aws'));
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['aws region', 'ok'],
      ['aws credentials', 'ok'],
      ['aws stack', 'ok'],
      ['aws state machine', 'ok'],
      ['aws schedule', 'ok'],
    ]);
    expect(aws.calls.find((c) => c.operation === 'DescribeStateMachine')?.params).toEqual({
      stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${stateMachineName}`,
    });
  });
});
