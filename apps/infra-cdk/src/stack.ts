/**
 * The whole fibbars deployment of one environment: lake bucket, API key
 * secret, the two fetcher Lambdas, Batch on Fargate, the state machine from
 * `@fibbars/asl-definition`, the daily schedule, alerts, alarm and dashboard.
 */
import { Aws, CfnOutput, Duration, IgnoreMode, RemovalPolicy, Size, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { JOB_RETRY_STRATEGIES } from '@fibbars/asl-definition';
import { BATCH_IMAGE_EXCLUDES, type Artifacts } from './artifacts.js';
import { acknowledge, arnRef } from './nag.js';
import { checkPlaceholders, type AslDefinition, type SubstitutionKey } from './definition.js';
import {
  LAKE_PREFIX,
  OUTPUT_KEYS,
  SCHEDULE_EXPRESSION,
  SCHEDULE_GROUP,
  SCHEDULE_TIME_ZONE,
  namePrefix,
  scheduleName,
  stateMachineName,
} from './names.js';
import type { EnvironmentSettings } from './settings.js';

export { LAKE_PREFIX, OUTPUT_KEYS, SCHEDULE_EXPRESSION, SCHEDULE_TIME_ZONE };

/**
 * Feature flags the stack is written for, set on the stack itself so that it
 * synthesizes the same template in any app, whatever cdk.json says.
 */
export const FEATURE_FLAGS: Readonly<Record<string, boolean>> = {
  // Access logs delivered under a bucket policy, not the legacy ACL.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/core:enablePartitionLiterals': true,
};

/** The EventBridge rule that Step Functions manages for `batch:submitJob.sync`. */
export const BATCH_SYNC_RULE = 'StepFunctionsGetEventsForBatchJobsRule';

export interface FibbarsStackProps extends StackProps {
  readonly settings: EnvironmentSettings;
  /** The ASL definition with `${...}` placeholders (from `buildDefinition()`). */
  readonly definition: AslDefinition;
  readonly artifacts: Artifacts;
}

export class FibbarsStack extends Stack {
  readonly lakeBucket: s3.Bucket;
  readonly lakeUri: string;
  readonly apiKeySecret: secretsmanager.Secret;
  readonly ohlcvFunction: lambda.Function;
  readonly metaFunction: lambda.Function;
  readonly jobQueue: batch.JobQueue;
  readonly consolidateJob: batch.EcsJobDefinition;
  readonly resampleJob: batch.EcsJobDefinition;
  readonly alertTopic: sns.Topic;
  readonly stateMachine: sfn.StateMachine;
  readonly schedule: scheduler.CfnSchedule;
  readonly failureAlarm: cloudwatch.Alarm;
  /** The Batch jobs' log group and the fetchers' log groups (named in the alert text). */
  readonly jobLogGroup: logs.LogGroup;
  readonly ohlcvLogGroup: logs.LogGroup;
  readonly metaLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: FibbarsStackProps) {
    super(scope, id, props);
    for (const [flag, value] of Object.entries(FEATURE_FLAGS)) this.node.setContext(flag, value);
    const { settings, definition, artifacts } = props;
    const prefix = namePrefix(settings.envName);
    checkPlaceholders(definition);
    Tags.of(this).add('project', 'fibbars');
    Tags.of(this).add('environment', settings.envName);

    const retention = retentionOf(settings.logRetentionDays);

    // ---- storage -----------------------------------------------------------
    const accessLogs = new s3.Bucket(this, 'AccessLogsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
    });
    acknowledge(accessLogs, 'AwsSolutions-S1', 'This is the access-log bucket of the lake; logging it into itself would loop.');

    this.lakeBucket = new s3.Bucket(this, 'LakeBucket', {
      bucketName: `${prefix}-lake-${Aws.ACCOUNT_ID}-${Aws.REGION}`,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'lake-bucket/',
      lifecycleRules: [
        {
          // gc deletes unreferenced files; versioning keeps them as noncurrent
          // versions for a grace period, then they go for good.
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: Duration.days(settings.noncurrentVersionDays),
          expiredObjectDeleteMarker: true,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          // Scratch space that no commit ever references.
          id: 'expire-tmp',
          prefix: `${LAKE_PREFIX}/tmp/`,
          expiration: Duration.days(settings.tmpExpirationDays),
        },
      ],
    });
    this.lakeUri = `s3://${this.lakeBucket.bucketName}/${LAKE_PREFIX}`;
    const lakeObjects = this.lakeBucket.arnForObjects(`${LAKE_PREFIX}/*`);
    const lakeArn = arnRef(this.lakeBucket);
    // No s3:prefix condition on purpose: S3 answers a GET or HEAD of a missing
    // key with 404 only to callers that hold s3:ListBucket, and such requests
    // carry no prefix, so a prefix-conditioned grant would turn every "not
    // there yet" (commit heads, exists checks) into 403 AccessDenied. The
    // bucket holds nothing but the lake, so listing it reveals nothing more.
    const lakeList = new iam.PolicyStatement({
      sid: 'ListLake',
      actions: ['s3:ListBucket'],
      resources: [this.lakeBucket.bucketArn],
    });

    this.apiKeySecret = new secretsmanager.Secret(this, 'PolygonApiKey', {
      secretName: `${prefix}/polygon-api-key`,
      description: 'Polygon/Massive REST API key read by the fetchers at cold start; set it with put-secret-value.',
    });
    acknowledge(
      this.apiKeySecret,
      'AwsSolutions-SMG4',
      'A vendor-issued API key: a new one is issued in the vendor console, so rotation is a manual put-secret-value.',
    );

    // ---- fetcher Lambdas ---------------------------------------------------
    const functionLogGroups: Partial<Record<'ohlcv' | 'meta', logs.LogGroup>> = {};
    const makeFunction = (name: 'ohlcv' | 'meta', zip: string): lambda.Function => {
      const sizing = settings[name];
      const title = name === 'ohlcv' ? 'Ohlcv' : 'Meta';
      const logGroup = new logs.LogGroup(this, `${title}LogGroup`, {
        logGroupName: `/aws/lambda/${prefix}-${name}`,
        retention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      functionLogGroups[name] = logGroup;
      const role = new iam.Role(this, `${title}FunctionRole`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `fibbars ${name} fetcher: its log group, the API key secret, the lake prefix`,
      });
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'WriteOwnLogs',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({ sid: 'ReadLake', actions: ['s3:GetObject'], resources: [lakeObjects] }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'WriteRawZone',
          actions: ['s3:PutObject'],
          resources: [this.lakeBucket.arnForObjects(`${LAKE_PREFIX}/raw/*`)],
        }),
      );
      role.addToPolicy(lakeList);
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ReadApiKey',
          actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
          resources: [this.apiKeySecret.secretArn],
        }),
      );
      const fn = new lambda.Function(this, `${title}Function`, {
        functionName: `${prefix}-${name}`,
        description: `fibbars ${name} fetcher`,
        runtime: lambda.Runtime.NODEJS_24_X,
        handler: 'index.handler',
        code: lambda.Code.fromAsset(zip),
        memorySize: sizing.memoryMiB,
        timeout: Duration.minutes(sizing.timeoutMinutes),
        role,
        logGroup,
        tracing: lambda.Tracing.ACTIVE,
        ...(name === 'ohlcv' ? reservedConcurrency(settings.ohlcv.reservedConcurrency) : {}),
        environment: {
          FIBBARS_LAKE: this.lakeUri,
          POLYGON_API_KEY_SECRET_ARN: this.apiKeySecret.secretArn,
          FIBBARS_LOOKBACK_SESSIONS: String(settings.lookbackSessions),
          NODE_OPTIONS: '--enable-source-maps',
        },
      });
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (Resource "*").',
        ['Resource::*'],
      );
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'Objects under the lake prefix (read) and its raw zone (write) only; keys are per session and fetch.',
        [`Resource::${lakeArn}/${LAKE_PREFIX}/*`, `Resource::${lakeArn}/${LAKE_PREFIX}/raw/*`],
      );
      return fn;
    };
    this.ohlcvFunction = makeFunction('ohlcv', artifacts.ohlcvZip);
    this.metaFunction = makeFunction('meta', artifacts.metaZip);
    this.ohlcvLogGroup = functionLogGroups.ohlcv as logs.LogGroup;
    this.metaLogGroup = functionLogGroups.meta as logs.LogGroup;

    // ---- Batch on Fargate --------------------------------------------------
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    const flowLogGroup = new logs.LogGroup(this, 'VpcFlowLogGroup', {
      logGroupName: `/${prefix}/vpc-flow-logs`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    const jobSecurityGroup = new ec2.SecurityGroup(this, 'JobSecurityGroup', {
      vpc,
      description: 'fibbars Batch jobs: no inbound, outbound to S3, ECR and CloudWatch Logs',
      allowAllOutbound: true,
    });
    const computeEnvironment = new batch.FargateComputeEnvironment(this, 'ComputeEnvironment', {
      computeEnvironmentName: `${prefix}-fargate`,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [jobSecurityGroup],
      maxvCpus: settings.maxVcpus,
      spot: false,
    });
    this.jobQueue = new batch.JobQueue(this, 'JobQueue', {
      jobQueueName: `${prefix}-jobs`,
      priority: 1,
      computeEnvironments: [{ computeEnvironment, order: 1 }],
    });

    const jobLogGroup = (this.jobLogGroup = new logs.LogGroup(this, 'JobLogGroup', {
      logGroupName: `/aws/batch/${prefix}`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    }));
    const executionRole = new iam.Role(this, 'JobExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'fibbars Batch task execution: pull the image, write the job log group',
    });
    const jobRole = new iam.Role(this, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'fibbars Batch jobs: read and write the lake prefix of the bucket, nothing else',
    });
    jobRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadWriteLake',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [lakeObjects],
      }),
    );
    jobRole.addToPolicy(lakeList);
    acknowledge(
      jobRole,
      'AwsSolutions-IAM5',
      'Jobs write new data files and commits under the lake prefix only; the key names are generated per run.',
      [`Resource::${lakeArn}/${LAKE_PREFIX}/*`],
    );

    const image = ecs.ContainerImage.fromAsset(artifacts.batchImageDir, {
      exclude: [...BATCH_IMAGE_EXCLUDES],
      ignoreMode: IgnoreMode.DOCKER,
      platform: Platform.LINUX_AMD64,
    });
    const makeJob = (
      name: 'consolidate' | 'resample',
      command: string[],
      parameters?: Record<string, string>,
    ): batch.EcsJobDefinition => {
      const sizing = settings[name];
      const title = name === 'consolidate' ? 'Consolidate' : 'Resample';
      return new batch.EcsJobDefinition(this, `${title}JobDefinition`, {
        jobDefinitionName: `${prefix}-${name}`,
        timeout: Duration.minutes(sizing.timeoutMinutes),
        // Job failures are retried here, not by the state machine: on AWS a
        // failed job reaches Step Functions as States.TaskFailed whatever its
        // exit code, so only Batch can tell a ConfigError (exit 2) or a
        // DataQualityError (exit 3), which EXIT at once, from what is worth
        // another attempt (no matching entry = RETRY while attempts remain).
        // https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html
        retryAttempts: JOB_RETRY_STRATEGIES[name].attempts,
        retryStrategies: (JOB_RETRY_STRATEGIES[name].evaluateOnExit ?? []).map((entry) =>
          batch.RetryStrategy.of(
            entry.action === 'EXIT' ? batch.Action.EXIT : batch.Action.RETRY,
            batch.Reason.custom({
              ...(entry.onExitCode === undefined ? {} : { onExitCode: entry.onExitCode }),
              ...(entry.onReason === undefined ? {} : { onReason: entry.onReason }),
              ...(entry.onStatusReason === undefined ? {} : { onStatusReason: entry.onStatusReason }),
            }),
          ),
        ),
        propagateTags: true,
        ...(parameters ? { parameters } : {}),
        container: new batch.EcsFargateContainerDefinition(this, `${title}Container`, {
          image,
          cpu: sizing.vcpus,
          memory: Size.gibibytes(sizing.memoryGiB),
          command,
          environment: { FIBBARS_LAKE: this.lakeUri },
          executionRole,
          jobRole,
          assignPublicIp: true,
          fargatePlatformVersion: ecs.FargatePlatformVersion.LATEST,
          logging: ecs.LogDriver.awsLogs({ streamPrefix: name, logGroup: jobLogGroup }),
        }),
      });
    };
    this.consolidateJob = makeJob('consolidate', ['consolidate']);
    // The state machine overrides the command per interval (`resample --days N`);
    // `Ref::days` lets an operator submit it by hand with `--parameters days=8`.
    this.resampleJob = makeJob('resample', ['resample', '--days', 'Ref::days'], { days: '3' });
    acknowledge(
      executionRole,
      'AwsSolutions-IAM5',
      'ecr:GetAuthorizationToken supports no resource-level permissions; image pulls are scoped to the asset repository.',
      ['Resource::*'],
    );

    // ---- alerts ------------------------------------------------------------
    const alertKey = new kms.Key(this, 'AlertKey', {
      alias: `alias/${prefix}-alerts`,
      description: 'Encrypts the fibbars alert topic; CloudWatch alarms may use it to publish',
      enableKeyRotation: true,
    });
    alertKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    this.alertTopic = new sns.Topic(this, 'AlertTopic', {
      topicName: `${prefix}-alerts`,
      displayName: `fibbars ${settings.envName} alerts`,
      masterKey: alertKey,
      enforceSSL: true,
    });
    if (settings.alertEmail !== undefined) {
      this.alertTopic.addSubscription(new subscriptions.EmailSubscription(settings.alertEmail));
    }

    // ---- state machine -----------------------------------------------------
    const stateMachineLogs = new logs.LogGroup(this, 'StateMachineLogGroup', {
      // The vendedlogs prefix keeps CloudWatch's resource policy small.
      logGroupName: `/aws/vendedlogs/states/${stateMachineName(settings.envName)}`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stateMachineRole = new iam.Role(this, 'StateMachineRole', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'fibbars daily pipeline: exactly the functions, jobs, topic and logging it uses',
      inlinePolicies: {
        pipeline: new iam.PolicyDocument({
          statements: this.stateMachineStatements(alertKey),
        }),
      },
    });
    acknowledge(
      stateMachineRole,
      'AwsSolutions-IAM5',
      'CloudWatch Logs delivery actions (CreateLogDelivery, ...), X-Ray tracing and batch:DescribeJobs support no ' +
        'resource-level permissions, so AWS documents Resource "*" for them.',
      ['Resource::*'],
    );
    acknowledge(
      stateMachineRole,
      'AwsSolutions-IAM5',
      'TerminateJob targets the jobs this state machine submitted, whose ids are only known at run time.',
      ['Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job/*'],
    );

    const substitutions: Record<SubstitutionKey, string> = {
      OhlcvFunctionArn: this.ohlcvFunction.functionArn,
      MetaFunctionArn: this.metaFunction.functionArn,
      JobQueueArn: this.jobQueue.jobQueueArn,
      ConsolidateJobDefinitionArn: this.consolidateJob.jobDefinitionArn,
      ResampleJobDefinitionArn: this.resampleJob.jobDefinitionArn,
      AlertTopicArn: this.alertTopic.topicArn,
      LakeUri: this.lakeUri,
      // Named in the alert text, so an operator goes from the alert to the logs.
      JobLogGroupName: jobLogGroup.logGroupName,
      OhlcvLogGroupName: this.ohlcvLogGroup.logGroupName,
      MetaLogGroupName: this.metaLogGroup.logGroupName,
    };
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: stateMachineName(settings.envName),
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(definition)),
      definitionSubstitutions: substitutions,
      // Hand-written policy above; the construct must not widen it.
      role: stateMachineRole.withoutPolicyUpdates(),
      logs: { destination: stateMachineLogs, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    this.stateMachine.node.addDependency(stateMachineRole);

    // ---- schedule ----------------------------------------------------------
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'EventBridge Scheduler: start the fibbars daily pipeline',
      inlinePolicies: {
        start: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'StartPipeline',
              actions: ['states:StartExecution'],
              resources: [this.stateMachine.stateMachineArn],
            }),
          ],
        }),
      },
    });
    this.schedule = new scheduler.CfnSchedule(this, 'DailySchedule', {
      name: scheduleName(settings.envName),
      description: 'fibbars daily pipeline after the US close; fibbars schedule enable|disable toggles it',
      scheduleExpression: SCHEDULE_EXPRESSION,
      scheduleExpressionTimezone: SCHEDULE_TIME_ZONE,
      flexibleTimeWindow: { mode: 'OFF' },
      state: settings.scheduleEnabled ? 'ENABLED' : 'DISABLED',
      target: {
        arn: this.stateMachine.stateMachineArn,
        roleArn: schedulerRole.roleArn,
        input: '{}',
        retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
      },
    });

    // ---- alarm and dashboard -------------------------------------------------
    const period = Duration.minutes(5);
    const failures = new cloudwatch.MathExpression({
      expression: 'FILL(failed, 0) + FILL(timedOut, 0)',
      usingMetrics: {
        failed: this.stateMachine.metricFailed({ period, statistic: 'Sum' }),
        timedOut: this.stateMachine.metricTimedOut({ period, statistic: 'Sum' }),
      },
      period,
      label: 'failed + timed-out executions',
    });
    this.failureAlarm = new cloudwatch.Alarm(this, 'ExecutionFailuresAlarm', {
      alarmName: `${prefix}-pipeline-failures`,
      alarmDescription: 'A fibbars daily pipeline execution failed or timed out',
      metric: failures,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.failureAlarm.addAlarmAction(new cwActions.SnsAction(this.alertTopic));

    const batchSync = `arn:${Aws.PARTITION}:states:::batch:submitJob.sync`;
    const integrationMetric = (metricName: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: 'AWS/States',
        metricName,
        dimensionsMap: { ServiceIntegrationResourceArn: batchSync },
        statistic: 'Sum',
        period: Duration.hours(1),
      });
    const hourly = { period: Duration.hours(1), statistic: 'Sum' };
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${prefix}-pipeline`,
      defaultInterval: Duration.days(14),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Executions',
            left: [
              this.stateMachine.metricStarted(hourly),
              this.stateMachine.metricSucceeded(hourly),
              this.stateMachine.metricFailed(hourly),
              this.stateMachine.metricTimedOut(hourly),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'Execution duration (ms)',
            left: [
              this.stateMachine.metricTime({ period: Duration.hours(1), statistic: 'Average' }),
              this.stateMachine.metricTime({ period: Duration.hours(1), statistic: 'Maximum' }),
            ],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Lambda errors and throttles',
            left: [
              this.ohlcvFunction.metricErrors(hourly),
              this.metaFunction.metricErrors(hourly),
              this.ohlcvFunction.metricThrottles(hourly),
              this.metaFunction.metricThrottles(hourly),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'Batch jobs failed / timed out',
            left: [integrationMetric('ServiceIntegrationsFailed'), integrationMetric('ServiceIntegrationsTimedOut')],
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [this.failureAlarm] }),
        ],
      ],
    });

    // ---- outputs -------------------------------------------------------------
    const output = (key: string, value: string, description: string): void => {
      new CfnOutput(this, key, { value, description, exportName: `${prefix}-${key}` });
    };
    output(OUTPUT_KEYS.stateMachineArn, this.stateMachine.stateMachineArn, 'ARN of the daily pipeline state machine');
    output(OUTPUT_KEYS.scheduleName, this.schedule.ref, 'Name of the EventBridge Scheduler schedule');
    output(OUTPUT_KEYS.scheduleGroupName, SCHEDULE_GROUP, 'Schedule group of the daily schedule');
    output(OUTPUT_KEYS.lakeUri, this.lakeUri, 'FIBBARS_LAKE of this environment');
    output(OUTPUT_KEYS.lakeBucketName, this.lakeBucket.bucketName, 'Bucket that holds the lake');
    output(OUTPUT_KEYS.alertTopicArn, this.alertTopic.topicArn, 'SNS topic of failure alerts');
    output(OUTPUT_KEYS.apiKeySecretArn, this.apiKeySecret.secretArn, 'Secret that holds the vendor API key');
    output(OUTPUT_KEYS.jobQueueArn, this.jobQueue.jobQueueArn, 'Batch job queue of the pipeline');
  }

  /** The hand-written, least-privilege policy of the state machine. */
  private stateMachineStatements(alertKey: kms.IKey): iam.PolicyStatement[] {
    const batchSyncRule = Stack.of(this).formatArn({
      service: 'events',
      resource: 'rule',
      resourceName: BATCH_SYNC_RULE,
    });
    return [
      new iam.PolicyStatement({
        sid: 'InvokeFetchers',
        actions: ['lambda:InvokeFunction'],
        resources: [this.ohlcvFunction.functionArn, this.metaFunction.functionArn],
      }),
      new iam.PolicyStatement({
        sid: 'SubmitPipelineJobs',
        actions: ['batch:SubmitJob'],
        resources: [
          this.jobQueue.jobQueueArn,
          this.consolidateJob.jobDefinitionArn,
          this.resampleJob.jobDefinitionArn,
        ],
      }),
      new iam.PolicyStatement({ sid: 'DescribeJobs', actions: ['batch:DescribeJobs'], resources: ['*'] }),
      new iam.PolicyStatement({
        sid: 'TerminateJobs',
        actions: ['batch:TerminateJob'],
        resources: [Stack.of(this).formatArn({ service: 'batch', resource: 'job', resourceName: '*' })],
      }),
      new iam.PolicyStatement({
        sid: 'BatchSyncRule',
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [batchSyncRule],
      }),
      new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [this.alertTopic.topicArn] }),
      new iam.PolicyStatement({
        sid: 'EncryptAlerts',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [alertKey.keyArn],
      }),
      new iam.PolicyStatement({
        sid: 'LogDelivery',
        actions: [
          'logs:CreateLogDelivery',
          'logs:GetLogDelivery',
          'logs:UpdateLogDelivery',
          'logs:DeleteLogDelivery',
          'logs:ListLogDeliveries',
          'logs:PutResourcePolicy',
          'logs:DescribeResourcePolicies',
          'logs:DescribeLogGroups',
        ],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
        sid: 'Tracing',
        actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
        resources: ['*'],
      }),
    ];
  }
}

function retentionOf(days: number): logs.RetentionDays {
  const known = Object.values(logs.RetentionDays).filter((v): v is logs.RetentionDays => typeof v === 'number');
  if (!known.includes(days as logs.RetentionDays)) {
    throw new Error(`log retention of ${days} days is not one CloudWatch Logs accepts`);
  }
  return days as logs.RetentionDays;
}

function reservedConcurrency(value: number | undefined): { reservedConcurrentExecutions?: number } {
  if (value === undefined) return {};
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`ohlcv reserved concurrency must be a positive integer or undefined, got ${value}`);
  }
  return { reservedConcurrentExecutions: value };
}
