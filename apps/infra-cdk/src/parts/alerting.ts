/**
 * Alerting: the SNS topic the state machine publishes failures to, encrypted
 * with a rotated KMS key that CloudWatch alarms may use too, and the optional
 * email subscription. The failure alarm that notifies it is in monitoring.ts.
 */
import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { PartContext } from './context.js';

export class Alerting {
  readonly alertKey: kms.Key;
  readonly alertTopic: sns.Topic;

  constructor({ scope, settings, prefix }: PartContext) {
    this.alertKey = new kms.Key(scope, 'AlertKey', {
      alias: `alias/${prefix}-alerts`,
      description: 'Encrypts the fibbars alert topic; CloudWatch alarms may use it to publish',
      enableKeyRotation: true,
    });
    this.alertKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    this.alertTopic = new sns.Topic(scope, 'AlertTopic', {
      topicName: `${prefix}-alerts`,
      displayName: `fibbars ${settings.envName} alerts`,
      masterKey: this.alertKey,
      enforceSSL: true,
    });
    if (settings.alertEmail !== undefined) {
      this.alertTopic.addSubscription(new subscriptions.EmailSubscription(settings.alertEmail));
    }
  }
}
