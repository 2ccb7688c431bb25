import { describe, it, expect, beforeAll } from '@jest/globals';
import { Match } from 'aws-cdk-lib/assertions';
import { LAKE_PREFIX } from '../../src/names.js';
import { logicalIdOf, resourcesOf, synthesize, type Synthesized } from './support/synth.js';

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

interface NormalStatement {
  sid: string | undefined;
  actions: string[];
  resources: unknown[];
  condition?: unknown;
}

let synth: Synthesized;
/** Every identity-policy statement in the template, by the logical id of its role. */
let byRole: Record<string, NormalStatement[]>;

const normal = (s: Statement): NormalStatement => ({
  sid: s.Sid,
  actions: ([] as string[]).concat(s.Action).sort(),
  resources: ([] as unknown[]).concat(s.Resource),
  ...(s.Condition === undefined ? {} : { condition: s.Condition }),
});

beforeAll(() => {
  synth = synthesize({ env: 'prod' });
  byRole = {};
  for (const [id, role] of Object.entries(resourcesOf(synth.template, 'AWS::IAM::Role'))) {
    const policies = (role.Properties?.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[];
    byRole[id] = policies.flatMap((p) => p.PolicyDocument.Statement.map(normal));
  }
  for (const policy of Object.values(resourcesOf(synth.template, 'AWS::IAM::Policy'))) {
    const props = policy.Properties as { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } };
    for (const role of props.Roles) {
      byRole[role.Ref] = [...(byRole[role.Ref] ?? []), ...props.PolicyDocument.Statement.map(normal)];
    }
  }
});

const getAtt = (id: string, attr = 'Arn') => ({ 'Fn::GetAtt': [id, attr] });
const ref = (id: string) => ({ Ref: id });
const arn = (service: string, resource: string) => ({
  'Fn::Join': ['', ['arn:', ref('AWS::Partition'), `:${service}:`, ref('AWS::Region'), ':', ref('AWS::AccountId'), `:${resource}`]],
});

function roleId(description: RegExp): string {
  return logicalIdOf(synth.template, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp(description.source) });
}

describe('IAM: every statement of every role', () => {
  let lake: string;
  let objects: (suffix: string) => unknown;
  let listLake: NormalStatement;
  beforeAll(() => {
    lake = logicalIdOf(synth.template, 'AWS::S3::Bucket', { VersioningConfiguration: { Status: 'Enabled' } });
    objects = (suffix) => ({ 'Fn::Join': ['', [getAtt(lake), `/${LAKE_PREFIX}/${suffix}`]] });
    // Unconditioned on purpose (see the stack): a missing key must read as 404, not 403.
    listLake = { sid: 'ListLake', actions: ['s3:ListBucket'], resources: [getAtt(lake)] };
  });

  it.each([['ohlcv'], ['meta']])('the %s fetcher: own logs, lake read, raw-zone write, the secret, X-Ray', (name) => {
    const id = roleId(new RegExp(`fibbars ${name} fetcher`));
    const logGroup = logicalIdOf(synth.template, 'AWS::Logs::LogGroup', { LogGroupName: `/aws/lambda/prod-fibbars-${name}` });
    expect(byRole[id]).toEqual([
      { sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [getAtt(logGroup)] },
      { sid: 'ReadLake', actions: ['s3:GetObject'], resources: [objects('*')] },
      { sid: 'WriteRawZone', actions: ['s3:PutObject'], resources: [objects('raw/*')] },
      listLake,
      {
        sid: 'ReadApiKey',
        actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        resources: [ref(logicalIdOf(synth.template, 'AWS::SecretsManager::Secret'))],
      },
      { sid: undefined, actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], resources: ['*'] },
    ]);
  });

  it('the Batch job role: read, write and delete under the lake prefix, list the lake bucket', () => {
    expect(byRole[roleId(/Batch jobs: read and write/)]).toEqual([
      { sid: 'ReadWriteLake', actions: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'], resources: [objects('*')] },
      listLake,
    ]);
  });

  it('the Batch execution role: the job log group and pulls from the asset repository', () => {
    const logGroup = logicalIdOf(synth.template, 'AWS::Logs::LogGroup', { LogGroupName: '/aws/batch/prod-fibbars' });
    const statements = byRole[roleId(/task execution/)] ?? [];
    expect(statements).toEqual([
      { sid: undefined, actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [getAtt(logGroup)] },
      {
        sid: undefined,
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        resources: [expect.anything()],
      },
      { sid: undefined, actions: ['ecr:GetAuthorizationToken'], resources: ['*'] },
    ]);
    expect(JSON.stringify(statements[1]?.resources)).toMatch(/:repository\/.*cdk-hnb659fds-container-assets-/);
  });

  it('the VPC flow-log role: its own log group only', () => {
    const logGroup = logicalIdOf(synth.template, 'AWS::Logs::LogGroup', { LogGroupName: '/prod-fibbars/vpc-flow-logs' });
    const flowRole = Object.keys(byRole).find((id) => id.startsWith('VpcFlowLog')) as string;
    expect(byRole[flowRole]).toEqual([
      {
        sid: undefined,
        actions: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
        resources: [getAtt(logGroup)],
      },
    ]);
  });

  it('the state machine role: the two functions, the two jobs on the queue, the .sync rule, the topic, logging', () => {
    const t = synth.template;
    const fn = (name: string) => logicalIdOf(t, 'AWS::Lambda::Function', { FunctionName: `prod-fibbars-${name}` });
    const job = (name: string) => logicalIdOf(t, 'AWS::Batch::JobDefinition', { JobDefinitionName: `prod-fibbars-${name}` });
    expect(byRole[roleId(/daily pipeline: exactly/)]).toEqual([
      { sid: 'InvokeFetchers', actions: ['lambda:InvokeFunction'], resources: [getAtt(fn('meta')), getAtt(fn('ohlcv'))] },
      {
        sid: 'SubmitPipelineJobs',
        actions: ['batch:SubmitJob'],
        resources: [getAtt(logicalIdOf(t, 'AWS::Batch::JobQueue'), 'JobQueueArn'), ref(job('consolidate')), ref(job('resample'))],
      },
      { sid: 'DescribeJobs', actions: ['batch:DescribeJobs'], resources: ['*'] },
      { sid: 'TerminateJobs', actions: ['batch:TerminateJob'], resources: [arn('batch', 'job/*')] },
      {
        sid: 'BatchSyncRule',
        actions: ['events:DescribeRule', 'events:PutRule', 'events:PutTargets'],
        resources: [arn('events', 'rule/StepFunctionsGetEventsForBatchJobsRule')],
      },
      { sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [ref(logicalIdOf(t, 'AWS::SNS::Topic'))] },
      {
        sid: 'EncryptAlerts',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [getAtt(logicalIdOf(t, 'AWS::KMS::Key'))],
      },
      {
        sid: 'LogDelivery',
        actions: [
          'logs:CreateLogDelivery',
          'logs:DeleteLogDelivery',
          'logs:DescribeLogGroups',
          'logs:DescribeResourcePolicies',
          'logs:GetLogDelivery',
          'logs:ListLogDeliveries',
          'logs:PutResourcePolicy',
          'logs:UpdateLogDelivery',
        ],
        resources: ['*'],
      },
      {
        sid: 'Tracing',
        actions: ['xray:GetSamplingRules', 'xray:GetSamplingTargets', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
        resources: ['*'],
      },
    ]);
  });

  it('the state machine role with ticker partitions: exactly the child executions of its own Distributed Map besides the rest', () => {
    const four = synthesize({ env: 'prod' }, undefined, 4);
    const roles = resourcesOf(four.template, 'AWS::IAM::Role');
    const [role] = Object.values(roles).filter((r) => String(r.Properties?.Description ?? '').startsWith('fibbars daily pipeline: exactly'));
    const statements = ((role?.Properties?.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((p) => p.PolicyDocument.Statement.map(normal));
    const arnOf = (resource: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:${resource}`]] });
    expect(statements.filter((s) => s.sid?.includes('MapChildren'))).toEqual([
      { sid: 'StartMapChildren', actions: ['states:StartExecution'], resources: [arnOf('stateMachine:prod-fibbars-daily-pipeline')] },
      { sid: 'FollowMapChildren', actions: ['states:DescribeExecution', 'states:StopExecution'], resources: [arnOf('execution:prod-fibbars-daily-pipeline/*')] },
    ]);
    // The rest of the role is what one partition gets (the table above).
    expect(statements.filter((s) => !s.sid?.includes('MapChildren'))).toEqual(byRole[roleId(/daily pipeline: exactly/)]);
    const definition = JSON.parse(JSON.stringify(four.template.findResources('AWS::StepFunctions::StateMachine'))) as unknown;
    expect(JSON.stringify(definition)).toContain('DISTRIBUTED');
  });

  it('the scheduler role: start executions of the pipeline only', () => {
    expect(byRole[roleId(/EventBridge Scheduler/)]).toEqual([
      {
        sid: 'StartPipeline',
        actions: ['states:StartExecution'],
        resources: [ref(logicalIdOf(synth.template, 'AWS::StepFunctions::StateMachine'))],
      },
    ]);
  });

  it('covers every role in the template (no role escapes the tables above)', () => {
    expect(Object.keys(byRole)).toHaveLength(7);
  });
});

describe('IAM: rules that hold for every statement', () => {
  it('grants no wildcard action and no Resource "*" on S3, Lambda, SNS, Secrets Manager or States', () => {
    const all = Object.values(byRole).flat();
    expect(all.length).toBeGreaterThan(0);
    for (const s of all) {
      for (const action of s.actions) expect(action).not.toContain('*');
      if (s.resources.includes('*')) {
        for (const action of s.actions) expect(action).not.toMatch(/^(s3|lambda|sns|secretsmanager|states|kms):/);
      }
    }
  });

  it('allows Resource "*" only for actions that support no resource-level permission', () => {
    const starActions = Object.values(byRole)
      .flat()
      .filter((s) => s.resources.includes('*'))
      .flatMap((s) => s.actions);
    expect([...new Set(starActions)].sort()).toEqual([
      'batch:DescribeJobs',
      'ecr:GetAuthorizationToken',
      'logs:CreateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:DescribeLogGroups',
      'logs:DescribeResourcePolicies',
      'logs:GetLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:UpdateLogDelivery',
      'xray:GetSamplingRules',
      'xray:GetSamplingTargets',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });

  it('lets each role be assumed only by the service that runs it, same-account where the service allows', () => {
    const trust: Record<string, unknown> = {};
    for (const [id, role] of Object.entries(resourcesOf(synth.template, 'AWS::IAM::Role'))) {
      const doc = role.Properties?.AssumeRolePolicyDocument as { Statement: { Principal: { Service: string } }[] };
      trust[id] = doc.Statement.map((s) => s.Principal.Service);
    }
    expect(Object.values(trust).flat().sort()).toEqual([
      'ecs-tasks.amazonaws.com',
      'ecs-tasks.amazonaws.com',
      'lambda.amazonaws.com',
      'lambda.amazonaws.com',
      'scheduler.amazonaws.com',
      'states.amazonaws.com',
      'vpc-flow-logs.amazonaws.com',
    ]);
    for (const service of ['states.amazonaws.com', 'scheduler.amazonaws.com']) {
      synth.template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [
            Match.objectLike({
              Principal: { Service: service },
              Condition: { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } },
            }),
          ],
        },
      });
    }
  });

  it('attaches no AWS managed policy to any role', () => {
    for (const role of Object.values(resourcesOf(synth.template, 'AWS::IAM::Role'))) {
      expect(role.Properties?.ManagedPolicyArns).toBeUndefined();
    }
  });
});
