/**
 * Batch: the network the jobs run in (public subnets, no NAT, an S3 gateway
 * endpoint, flow logs), the Fargate compute environment and its queue, the
 * jobs' log group and roles, the image and the two job definitions.
 */
import { Duration, IgnoreMode, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { JOB_RETRY_STRATEGIES } from '@fibbars/asl-definition';
import { BATCH_IMAGE_EXCLUDES } from '../artifacts.js';
import { LAKE_PREFIX } from '../names.js';
import { acknowledge } from '../nag.js';
import type { PartContext } from './context.js';
import type { DataLake } from './data.js';

export type JobName = 'consolidate' | 'resample';

export interface BatchJobsProps {
  readonly data: DataLake;
  /**
   * The batch-runner image: the published one by digest (a release), or the
   * Docker build context of a local asset (synth, diff and tests only; `infra:deploy`
   * refuses to deploy without a published image, so a deploy never builds one).
   */
  readonly image: { readonly published: ecs.ContainerImage } | { readonly contextDir: string };
}

export class BatchJobs {
  readonly vpc: ec2.Vpc;
  readonly jobQueue: batch.JobQueue;
  /** The jobs' log group (named in the alert text). */
  readonly jobLogGroup: logs.LogGroup;
  readonly executionRole: iam.Role;
  readonly jobRole: iam.Role;
  readonly consolidateJob: batch.EcsJobDefinition;
  readonly resampleJob: batch.EcsJobDefinition;
  private readonly image: ecs.ContainerImage;

  constructor(
    private readonly context: PartContext,
    private readonly props: BatchJobsProps,
  ) {
    const { scope, settings, prefix, retention } = context;
    const { vpc, securityGroup } = this.network();
    this.vpc = vpc;
    const computeEnvironment = new batch.FargateComputeEnvironment(scope, 'ComputeEnvironment', {
      computeEnvironmentName: `${prefix}-fargate`,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroups: [securityGroup],
      maxvCpus: settings.maxVcpus,
      spot: false,
    });
    this.jobQueue = new batch.JobQueue(scope, 'JobQueue', {
      jobQueueName: `${prefix}-jobs`,
      priority: 1,
      computeEnvironments: [{ computeEnvironment, order: 1 }],
    });
    this.jobLogGroup = new logs.LogGroup(scope, 'JobLogGroup', {
      logGroupName: `/aws/batch/${prefix}`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.executionRole = new iam.Role(scope, 'JobExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'fibbars Batch task execution: pull the image, write the job log group',
    });
    this.jobRole = this.lakeJobRole();
    this.image =
      'published' in props.image
        ? props.image.published
        : ecs.ContainerImage.fromAsset(props.image.contextDir, {
            exclude: [...BATCH_IMAGE_EXCLUDES],
            ignoreMode: IgnoreMode.DOCKER,
            platform: Platform.LINUX_AMD64,
          });
    this.consolidateJob = this.jobDefinition('consolidate', ['consolidate']);
    // The state machine overrides the command per interval (`resample --days N`);
    // `Ref::days` lets an operator submit it by hand with `--parameters days=8`.
    this.resampleJob = this.jobDefinition('resample', ['resample', '--days', 'Ref::days'], { days: '3' });
    acknowledge(
      this.executionRole,
      'AwsSolutions-IAM5',
      'ecr:GetAuthorizationToken supports no resource-level permissions; image pulls are scoped to the image repository (the published one, or the asset repository).',
      ['Resource::*'],
    );
  }

  /** Two public subnets, no NAT gateway, an S3 gateway endpoint, flow logs of rejected traffic. */
  private network(): { vpc: ec2.Vpc; securityGroup: ec2.SecurityGroup } {
    const { scope, prefix, retention } = this.context;
    const vpc = new ec2.Vpc(scope, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    const flowLogGroup = new logs.LogGroup(scope, 'VpcFlowLogGroup', {
      logGroupName: `/${prefix}/vpc-flow-logs`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    const securityGroup = new ec2.SecurityGroup(scope, 'JobSecurityGroup', {
      vpc,
      description: 'fibbars Batch jobs: no inbound, outbound to S3, ECR and CloudWatch Logs',
      allowAllOutbound: true,
    });
    return { vpc, securityGroup };
  }

  /** The role the jobs run as: the lake prefix (read, write, delete) and the lake list, nothing else. */
  private lakeJobRole(): iam.Role {
    const { data } = this.props;
    const jobRole = new iam.Role(this.context.scope, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'fibbars Batch jobs: read and write the lake prefix of the bucket, nothing else',
    });
    jobRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadWriteLake',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [data.lakeObjects],
      }),
    );
    jobRole.addToPolicy(data.listStatement);
    acknowledge(
      jobRole,
      'AwsSolutions-IAM5',
      'Jobs write new data files and commits under the lake prefix only; the key names are generated per run.',
      [`Resource::${data.lakeArnRef}/${LAKE_PREFIX}/*`],
    );
    return jobRole;
  }

  private jobDefinition(name: JobName, command: string[], parameters?: Record<string, string>): batch.EcsJobDefinition {
    const { scope, settings, prefix } = this.context;
    const sizing = settings[name];
    const title = name === 'consolidate' ? 'Consolidate' : 'Resample';
    return new batch.EcsJobDefinition(scope, `${title}JobDefinition`, {
      jobDefinitionName: `${prefix}-${name}`,
      timeout: Duration.minutes(sizing.timeoutMinutes),
      retryAttempts: JOB_RETRY_STRATEGIES[name].attempts,
      retryStrategies: retryStrategiesOf(name),
      propagateTags: true,
      ...(parameters ? { parameters } : {}),
      container: new batch.EcsFargateContainerDefinition(scope, `${title}Container`, {
        image: this.image,
        cpu: sizing.vcpus,
        memory: Size.gibibytes(sizing.memoryGiB),
        command,
        environment: { FIBBARS_LAKE: this.props.data.lakeUri },
        executionRole: this.executionRole,
        jobRole: this.jobRole,
        assignPublicIp: true,
        fargatePlatformVersion: ecs.FargatePlatformVersion.LATEST,
        logging: ecs.LogDriver.awsLogs({ streamPrefix: name, logGroup: this.jobLogGroup }),
      }),
    });
  }
}

/**
 * Job failures are retried by Batch, not by the state machine: on AWS a
 * failed job reaches Step Functions as States.TaskFailed whatever its exit
 * code, so only Batch can tell a ConfigError (exit 2) or a DataQualityError
 * (exit 3), which EXIT at once, from what is worth another attempt (no
 * matching entry = RETRY while attempts remain).
 * https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html
 */
function retryStrategiesOf(name: JobName): batch.RetryStrategy[] {
  return (JOB_RETRY_STRATEGIES[name].evaluateOnExit ?? []).map((entry) =>
    batch.RetryStrategy.of(
      entry.action === 'EXIT' ? batch.Action.EXIT : batch.Action.RETRY,
      batch.Reason.custom({
        ...(entry.onExitCode === undefined ? {} : { onExitCode: entry.onExitCode }),
        ...(entry.onReason === undefined ? {} : { onReason: entry.onReason }),
        ...(entry.onStatusReason === undefined ? {} : { onStatusReason: entry.onStatusReason }),
      }),
    ),
  );
}
