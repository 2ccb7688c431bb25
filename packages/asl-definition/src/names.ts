/**
 * Names and constants of a deployment, with no dependency: what the CDK
 * stack (`@fibbars/infra-cdk`) names its resources and outputs, and what the
 * `fibbars` command (`@fibbars/ops-cli`) derives to find them. One home for
 * both sides, here because the CLI is published and the CDK app is not.
 */

export type EnvironmentName = 'dev' | 'prod';

export const ENVIRONMENT_NAMES: readonly EnvironmentName[] = ['dev', 'prod'];

/** Name prefix of every named resource of one environment, e.g. `dev-fibbars`. */
export function namePrefix(envName: EnvironmentName): string {
  return `${envName}-fibbars`;
}

/** CloudFormation stack name of one environment. */
export function stackName(envName: EnvironmentName): string {
  return namePrefix(envName);
}

/** Name of the state machine of one environment. */
export function stateMachineName(envName: EnvironmentName): string {
  return `${namePrefix(envName)}-daily-pipeline`;
}

/** Name of the EventBridge Scheduler schedule (in the `default` group). */
export function scheduleName(envName: EnvironmentName): string {
  return `${namePrefix(envName)}-daily`;
}

/** Schedule group of the daily schedule. */
export const SCHEDULE_GROUP = 'default';

/** The daily trigger: Monday to Friday 16:30 New York time, DST-safe. */
export const SCHEDULE_EXPRESSION = 'cron(30 16 ? * MON-FRI *)';
export const SCHEDULE_TIME_ZONE = 'America/New_York';

/** Key prefix of the lake inside the bucket: `FIBBARS_LAKE=s3://<bucket>/lake`. */
export const LAKE_PREFIX = 'lake';

/** Keys of the stack outputs (CloudFormation DescribeStacks), also exported as `<stack>-<key>`. */
export const OUTPUT_KEYS = {
  stateMachineArn: 'StateMachineArn',
  scheduleName: 'ScheduleName',
  scheduleGroupName: 'ScheduleGroupName',
  lakeUri: 'LakeUri',
  lakeBucketName: 'LakeBucketName',
  alertTopicArn: 'AlertTopicArn',
  apiKeySecretArn: 'ApiKeySecretArn',
  jobQueueArn: 'JobQueueArn',
} as const;
