/**
 * Orchestration: the daily state machine (the golden ASL definition of
 * `@fibbars/asl-definition`, its placeholders filled with the ARNs and names
 * of the other parts), its log group and hand-written role, and the
 * EventBridge Scheduler schedule that starts it after the US close.
 */
import { ArnFormat, Aws, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { usesDistributedMap, type AslDefinition, type SubstitutionKey } from '../definition.js';
import { SCHEDULE_EXPRESSION, SCHEDULE_TIME_ZONE, scheduleName, stateMachineName } from '../names.js';
import { acknowledge } from '../nag.js';
import type { Alerting } from './alerting.js';
import type { BatchJobs } from './batch.js';
import type { PartContext } from './context.js';
import type { DataLake } from './data.js';
import type { Fetchers } from './fetchers.js';

/** The EventBridge rule that Step Functions manages for `batch:submitJob.sync`. */
export const BATCH_SYNC_RULE = 'StepFunctionsGetEventsForBatchJobsRule';

export interface OrchestrationProps {
  /** The ASL definition with `${...}` placeholders, already checked. */
  readonly definition: AslDefinition;
  readonly data: DataLake;
  readonly fetchers: Fetchers;
  readonly batch: BatchJobs;
  readonly alerting: Alerting;
}

export class Orchestration {
  readonly stateMachine: sfn.StateMachine;
  readonly schedule: scheduler.CfnSchedule;

  constructor(
    private readonly context: PartContext,
    private readonly props: OrchestrationProps,
  ) {
    const { scope, settings, retention } = context;
    const stateMachineLogs = new logs.LogGroup(scope, 'StateMachineLogGroup', {
      // The vendedlogs prefix keeps CloudWatch's resource policy small.
      logGroupName: `/aws/vendedlogs/states/${stateMachineName(settings.envName)}`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = this.stateMachineRole();
    this.stateMachine = new sfn.StateMachine(scope, 'StateMachine', {
      stateMachineName: stateMachineName(settings.envName),
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(props.definition)),
      definitionSubstitutions: this.substitutions(),
      // Hand-written policy (stateMachineStatements); the construct must not widen it.
      role: role.withoutPolicyUpdates(),
      logs: { destination: stateMachineLogs, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    this.stateMachine.node.addDependency(role);
    this.schedule = this.dailySchedule();
  }

  /** What the definition's `${...}` placeholders stand for. */
  private substitutions(): Record<SubstitutionKey, string> {
    const { data, fetchers, batch, alerting } = this.props;
    return {
      OhlcvFunctionArn: fetchers.ohlcv.function.functionArn,
      MetaFunctionArn: fetchers.meta.function.functionArn,
      JobQueueArn: batch.jobQueue.jobQueueArn,
      ConsolidateJobDefinitionArn: batch.consolidateJob.jobDefinitionArn,
      ResampleJobDefinitionArn: batch.resampleJob.jobDefinitionArn,
      AlertTopicArn: alerting.alertTopic.topicArn,
      LakeUri: data.lakeUri,
      // Named in the alert text, so an operator goes from the alert to the logs.
      JobLogGroupName: batch.jobLogGroup.logGroupName,
      OhlcvLogGroupName: fetchers.ohlcv.logGroup.logGroupName,
      MetaLogGroupName: fetchers.meta.logGroup.logGroupName,
    };
  }

  private stateMachineRole(): iam.Role {
    const role = new iam.Role(this.context.scope, 'StateMachineRole', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'fibbars daily pipeline: exactly the functions, jobs, topic and logging it uses',
      inlinePolicies: {
        pipeline: new iam.PolicyDocument({ statements: this.stateMachineStatements() }),
      },
    });
    acknowledge(
      role,
      'AwsSolutions-IAM5',
      'CloudWatch Logs delivery actions (CreateLogDelivery, ...), X-Ray tracing and batch:DescribeJobs support no ' +
        'resource-level permissions, so AWS documents Resource "*" for them.',
      ['Resource::*'],
    );
    acknowledge(
      role,
      'AwsSolutions-IAM5',
      'TerminateJob targets the jobs this state machine submitted, whose ids are only known at run time.',
      ['Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:job/*'],
    );
    if (usesDistributedMap(this.props.definition)) {
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        "A Distributed Map's child executions are named by Step Functions at run time, under this state machine's own name.",
        [`Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${stateMachineName(this.context.settings.envName)}/*`],
      );
    }
    return role;
  }

  /** The hand-written, least-privilege policy of the state machine. */
  private stateMachineStatements(): iam.PolicyStatement[] {
    const { scope } = this.context;
    const { fetchers, batch, alerting } = this.props;
    const batchSyncRule = scope.formatArn({ service: 'events', resource: 'rule', resourceName: BATCH_SYNC_RULE });
    return [
      new iam.PolicyStatement({
        sid: 'InvokeFetchers',
        actions: ['lambda:InvokeFunction'],
        resources: [fetchers.ohlcv.function.functionArn, fetchers.meta.function.functionArn],
      }),
      new iam.PolicyStatement({
        sid: 'SubmitPipelineJobs',
        actions: ['batch:SubmitJob'],
        resources: [batch.jobQueue.jobQueueArn, batch.consolidateJob.jobDefinitionArn, batch.resampleJob.jobDefinitionArn],
      }),
      new iam.PolicyStatement({ sid: 'DescribeJobs', actions: ['batch:DescribeJobs'], resources: ['*'] }),
      new iam.PolicyStatement({
        sid: 'TerminateJobs',
        actions: ['batch:TerminateJob'],
        resources: [scope.formatArn({ service: 'batch', resource: 'job', resourceName: '*' })],
      }),
      new iam.PolicyStatement({
        sid: 'BatchSyncRule',
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [batchSyncRule],
      }),
      ...this.distributedMapStatements(),
      new iam.PolicyStatement({ sid: 'PublishAlerts', actions: ['sns:Publish'], resources: [alerting.alertTopic.topicArn] }),
      new iam.PolicyStatement({
        sid: 'EncryptAlerts',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [alerting.alertKey.keyArn],
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

  /**
   * A Distributed Map runs each iteration as a child execution of this same
   * state machine, so its role must start them and follow them (describe,
   * stop), and only those: the state machine's own ARN and its executions'.
   * https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html#dist-map-permissions
   * Without a Distributed Map (one partition) the role gets none of this.
   */
  private distributedMapStatements(): iam.PolicyStatement[] {
    if (!usesDistributedMap(this.props.definition)) return [];
    const { scope, settings } = this.context;
    const name = stateMachineName(settings.envName);
    return [
      new iam.PolicyStatement({
        sid: 'StartMapChildren',
        actions: ['states:StartExecution'],
        resources: [scope.formatArn({ service: 'states', resource: 'stateMachine', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
      new iam.PolicyStatement({
        sid: 'FollowMapChildren',
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [scope.formatArn({ service: 'states', resource: 'execution', resourceName: `${name}/*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
    ];
  }

  /** Weekdays after the US close, New York time; `fibbars schedule enable|disable` toggles it. */
  private dailySchedule(): scheduler.CfnSchedule {
    const { scope, settings } = this.context;
    const schedulerRole = new iam.Role(scope, 'SchedulerRole', {
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
    return new scheduler.CfnSchedule(scope, 'DailySchedule', {
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
  }
}
