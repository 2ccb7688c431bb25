import { describe, it, expect, beforeAll } from '@jest/globals';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { createApp } from '../../src/app.js';
import { loadDefinition } from '../../src/definition.js';
import { resolveSettings } from '../../src/settings.js';
import { OUTPUT_KEYS, SCHEDULE_EXPRESSION, SCHEDULE_TIME_ZONE } from '../../src/names.js';
import { FibbarsStack } from '../../src/stack.js';
import { logicalIdOf, resourcesOf, standInArtifacts } from './support/synth.js';

// One synthesis for the whole file: both environments, an alert email for dev only.
let dev: Template;
let prod: Template;
let devStack: FibbarsStack;
let prodStack: FibbarsStack;
let stackNames: string[];

beforeAll(() => {
  const { stacks } = createApp({
    definition: loadDefinition(),
    artifacts: standInArtifacts(),
    cloudFormationValidation: false,
    context: { 'dev:alertEmail': 'ops@example.com' },
  });
  stackNames = stacks.map((s) => s.stackName);
  [devStack, prodStack] = stacks as [FibbarsStack, FibbarsStack];
  dev = Template.fromStack(devStack);
  prod = Template.fromStack(prodStack);
});

const getAtt = (id: string, attr = 'Arn') => ({ 'Fn::GetAtt': [id, attr] });
const ref = (id: string) => ({ Ref: id });

describe('the app', () => {
  it('synthesizes one stack per environment, named by environment, when no env is given', () => {
    expect(stackNames).toEqual(['dev-fibbars', 'prod-fibbars']);
  });

  it('synthesizes only the environment named by context env', () => {
    const { stacks } = createApp({
      definition: loadDefinition(),
      artifacts: standInArtifacts(),
      context: { env: 'prod' },
      cloudFormationValidation: false,
    });
    expect(stacks.map((s) => s.stackName)).toEqual(['prod-fibbars']);
  });
});

describe('FibbarsStack resources', () => {
  it('holds exactly the resources of the deployment', () => {
    const counts: Record<string, number> = {};
    const all = prod.toJSON() as { Resources: Record<string, { Type: string }> };
    for (const resource of Object.values(all.Resources)) counts[resource.Type] = (counts[resource.Type] ?? 0) + 1;
    expect(counts).toEqual({
      'AWS::S3::Bucket': 2, // lake + its access logs
      'AWS::S3::BucketPolicy': 2,
      'AWS::SecretsManager::Secret': 1,
      'AWS::Lambda::Function': 2,
      'AWS::Logs::LogGroup': 5, // two functions, Batch jobs, state machine, VPC flow logs
      'AWS::IAM::Role': 7, // two functions, flow logs, job execution, job, state machine, scheduler
      'AWS::IAM::Policy': 5,
      'AWS::EC2::VPC': 1,
      'AWS::EC2::Subnet': 2,
      'AWS::EC2::RouteTable': 2,
      'AWS::EC2::SubnetRouteTableAssociation': 2,
      'AWS::EC2::Route': 2,
      'AWS::EC2::InternetGateway': 1,
      'AWS::EC2::VPCGatewayAttachment': 1,
      'AWS::EC2::VPCEndpoint': 1,
      'AWS::EC2::FlowLog': 1,
      'AWS::EC2::SecurityGroup': 1,
      'AWS::Batch::ComputeEnvironment': 1,
      'AWS::Batch::JobQueue': 1,
      'AWS::Batch::JobDefinition': 2,
      'AWS::KMS::Key': 1,
      'AWS::KMS::Alias': 1,
      'AWS::SNS::Topic': 1,
      'AWS::SNS::TopicPolicy': 1,
      'AWS::StepFunctions::StateMachine': 1,
      'AWS::Scheduler::Schedule': 1,
      'AWS::CloudWatch::Alarm': 1,
      'AWS::CloudWatch::Dashboard': 1,
    });
  });

  it('adds the email subscription only where context gives an address', () => {
    dev.resourceCountIs('AWS::SNS::Subscription', 1);
    dev.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: ref(logicalIdOf(dev, 'AWS::SNS::Topic')),
    });
    prod.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('prefixes every resource name with the environment', () => {
    for (const [template, env] of [
      [dev, 'dev'],
      [prod, 'prod'],
    ] as const) {
      template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: `${env}-fibbars-daily-pipeline` });
      template.hasResourceProperties('AWS::Scheduler::Schedule', { Name: `${env}-fibbars-daily` });
      template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: `${env}-fibbars-ohlcv` });
      template.hasResourceProperties('AWS::Lambda::Function', { FunctionName: `${env}-fibbars-meta` });
      template.hasResourceProperties('AWS::Batch::JobQueue', { JobQueueName: `${env}-fibbars-jobs` });
      template.hasResourceProperties('AWS::Batch::ComputeEnvironment', { ComputeEnvironmentName: `${env}-fibbars-fargate` });
      template.hasResourceProperties('AWS::Batch::JobDefinition', { JobDefinitionName: `${env}-fibbars-consolidate` });
      template.hasResourceProperties('AWS::Batch::JobDefinition', { JobDefinitionName: `${env}-fibbars-resample` });
      template.hasResourceProperties('AWS::SNS::Topic', { TopicName: `${env}-fibbars-alerts` });
      template.hasResourceProperties('AWS::SecretsManager::Secret', { Name: `${env}-fibbars/polygon-api-key` });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: `${env}-fibbars-pipeline-failures` });
      template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: `${env}-fibbars-pipeline` });
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: { 'Fn::Join': ['', [`${env}-fibbars-lake-`, ref('AWS::AccountId'), '-', ref('AWS::Region')]] },
      });
    }
  });
});

describe('the lake bucket', () => {
  let lakeId: string;
  beforeAll(() => {
    lakeId = logicalIdOf(prod, 'AWS::S3::Bucket', { VersioningConfiguration: { Status: 'Enabled' } });
  });

  it('is encrypted, private, versioned, logged and retained on stack deletion', () => {
    prod.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        VersioningConfiguration: { Status: 'Enabled' },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
      }),
    });
    expect(resourcesOf(prod, 'AWS::S3::Bucket')[lakeId]).toBeDefined();
  });

  it('denies every request that does not use TLS', () => {
    prod.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(lakeId),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('expires noncurrent versions, delete markers, stale uploads and tmp/ garbage, per environment', () => {
    for (const [template, stack] of [
      [dev, devStack],
      [prod, prodStack],
    ] as const) {
      const settings = resolveSettings(stack.stackName.startsWith('dev') ? 'dev' : 'prod', () => undefined);
      template.hasResourceProperties('AWS::S3::Bucket', {
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: {
          Rules: [
            {
              Id: 'expire-noncurrent-versions',
              Status: 'Enabled',
              NoncurrentVersionExpiration: { NoncurrentDays: settings.noncurrentVersionDays },
              ExpiredObjectDeleteMarker: true,
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            },
            { Id: 'expire-tmp', Status: 'Enabled', Prefix: 'lake/tmp/', ExpirationInDays: settings.tmpExpirationDays },
          ],
        },
      });
    }
  });
});

describe('the fetcher Lambdas', () => {
  it('run index.handler on Node.js 24 with the lake, the secret ARN (never the key itself) and the lookback window', () => {
    const secretId = logicalIdOf(prod, 'AWS::SecretsManager::Secret');
    const lakeId = logicalIdOf(prod, 'AWS::S3::Bucket', { VersioningConfiguration: { Status: 'Enabled' } });
    for (const fn of Object.values(resourcesOf(prod, 'AWS::Lambda::Function'))) {
      const props = fn.Properties as Record<string, unknown> & { Environment: { Variables: Record<string, unknown> } };
      expect(props).toMatchObject({ Runtime: 'nodejs24.x', Handler: 'index.handler', TracingConfig: { Mode: 'Active' } });
      expect(props.Environment.Variables).toEqual({
        FIBBARS_LAKE: { 'Fn::Join': ['', ['s3://', ref(lakeId), '/lake']] },
        POLYGON_API_KEY_SECRET_ARN: ref(secretId),
        FIBBARS_LOOKBACK_SESSIONS: '20',
        NODE_OPTIONS: '--enable-source-maps',
      });
    }
  });

  it('are sized from the environment settings, with reserved concurrency on ohlcv only', () => {
    const settings = resolveSettings('prod', () => undefined);
    prod.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'prod-fibbars-ohlcv',
      MemorySize: settings.ohlcv.memoryMiB,
      Timeout: settings.ohlcv.timeoutMinutes * 60,
      ReservedConcurrentExecutions: settings.ohlcv.reservedConcurrency,
    });
    prod.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'prod-fibbars-meta',
      MemorySize: settings.meta.memoryMiB,
      Timeout: settings.meta.timeoutMinutes * 60,
      ReservedConcurrentExecutions: Match.absent(),
    });
  });

  it('refuses a reserved concurrency of 0, which would throttle every fetch', () => {
    const settings = resolveSettings('dev', () => undefined);
    expect(
      () =>
        new FibbarsStack(new App(), 'zero', {
          settings: { ...settings, ohlcv: { ...settings.ohlcv, reservedConcurrency: 0 } },
          definition: loadDefinition(),
          artifacts: standInArtifacts(),
        }),
    ).toThrow('ohlcv reserved concurrency must be a positive integer or undefined, got 0');
  });

  it('reserves no concurrency when the setting is undefined', () => {
    const settings = resolveSettings('dev', () => undefined);
    const stack = new FibbarsStack(new App({ builtinCloudFormationValidation: false }), 'none', {
      settings: { ...settings, ohlcv: { ...settings.ohlcv, reservedConcurrency: undefined } },
      definition: loadDefinition(),
      artifacts: standInArtifacts(),
    });
    const fn = stack.node.findChild('OhlcvFunction').node.defaultChild as CfnFunction;
    expect(stack.resolve(fn.reservedConcurrentExecutions)).toBeUndefined();
  });

  it('log to their own log groups with the environment retention', () => {
    for (const [template, env] of [
      [dev, 'dev'],
      [prod, 'prod'],
    ] as const) {
      const days = resolveSettings(env, () => undefined).logRetentionDays;
      for (const name of ['ohlcv', 'meta']) {
        const groupId = logicalIdOf(template, 'AWS::Logs::LogGroup', { LogGroupName: `/aws/lambda/${env}-fibbars-${name}` });
        template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: `/aws/lambda/${env}-fibbars-${name}`, RetentionInDays: days });
        template.hasResourceProperties('AWS::Lambda::Function', {
          FunctionName: `${env}-fibbars-${name}`,
          LoggingConfig: { LogGroup: ref(groupId) },
        });
      }
    }
  });
});

describe('Batch on Fargate', () => {
  it('runs a managed Fargate compute environment behind one queue', () => {
    const ceId = logicalIdOf(prod, 'AWS::Batch::ComputeEnvironment');
    prod.hasResourceProperties('AWS::Batch::ComputeEnvironment', {
      Type: 'managed',
      ComputeResources: Match.objectLike({ Type: 'FARGATE', MaxvCpus: resolveSettings('prod', () => undefined).maxVcpus }),
    });
    prod.hasResourceProperties('AWS::Batch::JobQueue', {
      ComputeEnvironmentOrder: [{ ComputeEnvironment: getAtt(ceId, 'ComputeEnvironmentArn'), Order: 1 }],
    });
  });

  it('defines the consolidator and the resampler with vCPU, memory, timeout, roles and the lake', () => {
    const settings = resolveSettings('prod', () => undefined);
    const lakeId = logicalIdOf(prod, 'AWS::S3::Bucket', { VersioningConfiguration: { Status: 'Enabled' } });
    const jobRole = logicalIdOf(prod, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp('Batch jobs') });
    const execRole = logicalIdOf(prod, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp('task execution') });
    for (const [name, command, sizing] of [
      ['consolidate', ['consolidate'], settings.consolidate],
      ['resample', ['resample', '--days', 'Ref::days'], settings.resample],
    ] as const) {
      prod.hasResourceProperties('AWS::Batch::JobDefinition', {
        JobDefinitionName: `prod-fibbars-${name}`,
        Type: 'container',
        PlatformCapabilities: ['FARGATE'],
        Timeout: { AttemptDurationSeconds: sizing.timeoutMinutes * 60 },
        ContainerProperties: Match.objectLike({
          Command: command,
          Environment: [{ Name: 'FIBBARS_LAKE', Value: { 'Fn::Join': ['', ['s3://', ref(lakeId), '/lake']] } }],
          ResourceRequirements: [
            { Type: 'MEMORY', Value: String(sizing.memoryGiB * 1024) },
            { Type: 'VCPU', Value: String(sizing.vcpus) },
          ],
          JobRoleArn: getAtt(jobRole),
          ExecutionRoleArn: getAtt(execRole),
          NetworkConfiguration: { AssignPublicIp: 'ENABLED' },
          Image: Match.anyValue(),
        }),
      });
    }
    prod.hasResourceProperties('AWS::Batch::JobDefinition', {
      JobDefinitionName: 'prod-fibbars-resample',
      Parameters: { days: '3' },
    });
  });

  // AWS Batch RetryStrategy (https://docs.aws.amazon.com/batch/latest/APIReference/API_RetryStrategy.html,
  // API_EvaluateOnExit.html): Attempts 1-10; EvaluateOnExit entries match OnExitCode globs; no match = RETRY.
  // A failed job reaches Step Functions as States.TaskFailed, so this is the only place exit codes 2
  // (ConfigError) and 3 (DataQualityError) can stop a retry.
  it('retries a failed consolidation once, never after exit code 2 or 3; runs a resampler once', () => {
    const exitOnConfigAndData = [
      { Action: 'EXIT', OnExitCode: '2' },
      { Action: 'EXIT', OnExitCode: '3' },
    ];
    prod.hasResourceProperties('AWS::Batch::JobDefinition', {
      JobDefinitionName: 'prod-fibbars-consolidate',
      RetryStrategy: { Attempts: 2, EvaluateOnExit: exitOnConfigAndData },
    });
    prod.hasResourceProperties('AWS::Batch::JobDefinition', {
      JobDefinitionName: 'prod-fibbars-resample',
      RetryStrategy: { Attempts: 1, EvaluateOnExit: exitOnConfigAndData },
    });
  });
});

describe('the state machine', () => {
  it('logs everything, traces with X-Ray and runs under its hand-written role', () => {
    const logGroup = logicalIdOf(prod, 'AWS::Logs::LogGroup', {
      LogGroupName: '/aws/vendedlogs/states/prod-fibbars-daily-pipeline',
    });
    prod.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      RoleArn: getAtt(logicalIdOf(prod, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp('daily pipeline: exactly') })),
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: true,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: getAtt(logGroup) } }],
      },
    });
  });
});

describe('the daily schedule', () => {
  it('starts the state machine Monday to Friday at 16:30 New York time with input {}', () => {
    const sm = logicalIdOf(prod, 'AWS::StepFunctions::StateMachine');
    const role = logicalIdOf(prod, 'AWS::IAM::Role', { Description: Match.stringLikeRegexp('Scheduler') });
    expect(SCHEDULE_EXPRESSION).toBe('cron(30 16 ? * MON-FRI *)');
    prod.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(30 16 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'America/New_York',
      FlexibleTimeWindow: { Mode: 'OFF' },
      GroupName: Match.absent(),
      Target: Match.objectLike({ Arn: ref(sm), RoleArn: getAtt(role), Input: '{}' }),
    });
    expect(SCHEDULE_TIME_ZONE).toBe('America/New_York');
  });

  it('is enabled in prod and disabled in dev unless context says otherwise', () => {
    prod.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'ENABLED' });
    dev.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'DISABLED' });
    const { stacks } = createApp({
      definition: loadDefinition(),
      artifacts: standInArtifacts(),
    cloudFormationValidation: false,
      context: { env: 'dev', scheduleEnabled: 'true' },
    });
    Template.fromStack(stacks[0] as FibbarsStack).hasResourceProperties('AWS::Scheduler::Schedule', { State: 'ENABLED' });
  });
});

describe('alerts, alarm and dashboard', () => {
  it('encrypts the alert topic with a rotated key that CloudWatch alarms may use', () => {
    const key = logicalIdOf(prod, 'AWS::KMS::Key');
    prod.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: getAtt(key) });
    prod.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          }),
        ]),
      },
    });
  });

  it('alarms on failed plus timed-out executions and notifies the topic', () => {
    const sm = logicalIdOf(prod, 'AWS::StepFunctions::StateMachine');
    const topic = logicalIdOf(prod, 'AWS::SNS::Topic');
    const alarm = Object.values(resourcesOf(prod, 'AWS::CloudWatch::Alarm'))[0]?.Properties as {
      AlarmActions: unknown[];
      Metrics: { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: unknown[] } } }[];
    };
    expect(alarm).toMatchObject({
      AlarmActions: [ref(topic)],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
    const names = alarm.Metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric.MetricName] : [])).sort();
    expect(names).toEqual(['ExecutionsFailed', 'ExecutionsTimedOut']);
    for (const m of alarm.Metrics) {
      if (m.MetricStat) expect(m.MetricStat.Metric.Dimensions).toEqual([{ Name: 'StateMachineArn', Value: ref(sm) }]);
    }
    expect(alarm.Metrics.find((m) => m.Expression)?.Expression).toBe('FILL(failed, 0) + FILL(timedOut, 0)');
  });

  it('charts executions, durations, Lambda errors and Batch failures', () => {
    const body = JSON.stringify(Object.values(resourcesOf(prod, 'AWS::CloudWatch::Dashboard'))[0]?.Properties);
    for (const metric of [
      'ExecutionsStarted',
      'ExecutionsSucceeded',
      'ExecutionsFailed',
      'ExecutionTime',
      'Errors',
      'Throttles',
      'ServiceIntegrationsFailed',
    ]) {
      expect(body).toContain(`\\"${metric}\\"`);
    }
  });
});

describe('stack outputs', () => {
  it('export the state machine ARN, the schedule name and the lake for the fibbars command', () => {
    const sm = logicalIdOf(prod, 'AWS::StepFunctions::StateMachine');
    const schedule = logicalIdOf(prod, 'AWS::Scheduler::Schedule');
    prod.hasOutput(OUTPUT_KEYS.stateMachineArn, { Value: ref(sm), Export: { Name: 'prod-fibbars-StateMachineArn' } });
    prod.hasOutput(OUTPUT_KEYS.scheduleName, { Value: ref(schedule), Export: { Name: 'prod-fibbars-ScheduleName' } });
    prod.hasOutput(OUTPUT_KEYS.scheduleGroupName, { Value: 'default' });
    prod.hasOutput(OUTPUT_KEYS.lakeUri, { Value: Match.objectLike({ 'Fn::Join': Match.anyValue() }) });
    expect(Object.keys(prod.findOutputs('*')).sort()).toEqual(Object.values(OUTPUT_KEYS).sort());
  });
});
