/**
 * The whole fibbars deployment of one environment, composed of the parts of
 * the architecture diagram (src/parts/): data (lake and access-log buckets),
 * fetchers (API key secret, two Lambdas), batch (network, Fargate compute
 * environment, queue, image, job definitions), alerting (KMS key, SNS topic),
 * orchestration (state machine, daily schedule) and monitoring (alarm,
 * dashboard). Every part creates its resources in this stack's scope under
 * the ids they always had, so the logical ids never move (README.md, "Stack
 * layout"); tests/unit/logical-ids.test.ts pins those of the stateful ones.
 */
import { CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import type * as batch from 'aws-cdk-lib/aws-batch';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { Artifacts } from './artifacts.js';
import { checkPlaceholders, type AslDefinition } from './definition.js';
import {
  LAKE_PREFIX,
  OUTPUT_KEYS,
  SCHEDULE_EXPRESSION,
  SCHEDULE_GROUP,
  SCHEDULE_TIME_ZONE,
  namePrefix,
} from './names.js';
import { Alerting } from './parts/alerting.js';
import { BatchJobs } from './parts/batch.js';
import { retentionOf, type PartContext } from './parts/context.js';
import { DataLake } from './parts/data.js';
import { Fetchers } from './parts/fetchers.js';
import { Monitoring } from './parts/monitoring.js';
import { Orchestration } from './parts/orchestration.js';
import { parseEcrRepository, type ReleaseManifest } from './release.js';
import type { EnvironmentSettings } from './settings.js';

export { LAKE_PREFIX, OUTPUT_KEYS, SCHEDULE_EXPRESSION, SCHEDULE_TIME_ZONE };
export { BATCH_SYNC_RULE } from './parts/orchestration.js';

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

export interface FibbarsStackProps extends StackProps {
  readonly settings: EnvironmentSettings;
  /** The ASL definition with `${...}` placeholders (from `buildDefinition()`). */
  readonly definition: AslDefinition;
  /**
   * Local build outputs, staged as CDK assets (synth, diff, tests): needed for
   * each deployable the release manifest does not name.
   */
  readonly artifacts?: Artifacts;
  /** The published artifacts to deploy (`release.ts`); they win over `artifacts`. */
  readonly release?: ReleaseManifest;
}

/** The two Lambdas' code: the published zips by bucket and key, or the local zips as assets. */
function fetcherCode(scope: Construct, props: FibbarsStackProps): Record<'ohlcv' | 'meta', lambda.Code> {
  const published = props.release?.fetchers;
  if (published !== undefined) {
    const bucket = s3.Bucket.fromBucketName(scope, 'ArtifactBucket', published.bucket);
    return {
      ohlcv: lambda.Code.fromBucketV2(bucket, published.lambdas.ohlcv.key),
      meta: lambda.Code.fromBucketV2(bucket, published.lambdas.meta.key),
    };
  }
  if (props.artifacts === undefined) throw new Error('the stack needs the fetchers zips: a published release or local artifacts');
  return { ohlcv: lambda.Code.fromAsset(props.artifacts.ohlcvZip), meta: lambda.Code.fromAsset(props.artifacts.metaZip) };
}

/** The Batch image: the published image by digest (never rebuilt), or the local build context as an asset. */
function batchImage(scope: Construct, props: FibbarsStackProps): { published: ecs.ContainerImage } | { contextDir: string } {
  const published = props.release?.['batch-runner'];
  if (published !== undefined) {
    const { account, region, name } = parseEcrRepository(published.repository);
    const repository = ecr.Repository.fromRepositoryAttributes(scope, 'ImageRepository', {
      repositoryName: name,
      repositoryArn: `arn:${Stack.of(scope).partition}:ecr:${region}:${account}:repository/${name}`,
    });
    return { published: ecs.ContainerImage.fromEcrRepository(repository, published.digest) };
  }
  if (props.artifacts === undefined) throw new Error('the stack needs the batch-runner image: a published release or local artifacts');
  return { contextDir: props.artifacts.batchImageDir };
}

export class FibbarsStack extends Stack {
  /** The parts, in the order they create their resources. */
  readonly data: DataLake;
  readonly fetchers: Fetchers;
  readonly batch: BatchJobs;
  readonly alerting: Alerting;
  readonly orchestration: Orchestration;
  readonly monitoring: Monitoring;

  // Shortcuts to the parts' main resources.
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
    const { settings, definition } = props;
    checkPlaceholders(definition);
    Tags.of(this).add('project', 'fibbars');
    Tags.of(this).add('environment', settings.envName);
    const context: PartContext = {
      scope: this,
      settings,
      prefix: namePrefix(settings.envName),
      retention: retentionOf(settings.logRetentionDays),
    };

    // Creation order is template order: keep it.
    const data = (this.data = new DataLake(context));
    const fetchers = (this.fetchers = new Fetchers(context, {
      data,
      code: fetcherCode(this, props),
    }));
    const batchJobs = (this.batch = new BatchJobs(context, { data, image: batchImage(this, props) }));
    const alerting = (this.alerting = new Alerting(context));
    this.orchestration = new Orchestration(context, { definition, data, fetchers, batch: batchJobs, alerting });
    this.monitoring = new Monitoring(context, { stateMachine: this.orchestration.stateMachine, fetchers, alerting });

    this.lakeBucket = data.lakeBucket;
    this.lakeUri = data.lakeUri;
    this.apiKeySecret = fetchers.apiKeySecret;
    this.ohlcvFunction = fetchers.ohlcv.function;
    this.metaFunction = fetchers.meta.function;
    this.ohlcvLogGroup = fetchers.ohlcv.logGroup;
    this.metaLogGroup = fetchers.meta.logGroup;
    this.jobQueue = batchJobs.jobQueue;
    this.consolidateJob = batchJobs.consolidateJob;
    this.resampleJob = batchJobs.resampleJob;
    this.jobLogGroup = batchJobs.jobLogGroup;
    this.alertTopic = alerting.alertTopic;
    this.stateMachine = this.orchestration.stateMachine;
    this.schedule = this.orchestration.schedule;
    this.failureAlarm = this.monitoring.failureAlarm;
    this.addOutputs(context.prefix);
  }

  /** The outputs `fibbars` reads through DescribeStacks, exported as `<stack>-<key>`. */
  private addOutputs(prefix: string): void {
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
}
