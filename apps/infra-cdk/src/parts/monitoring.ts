/**
 * Monitoring: the alarm on failed or timed-out executions, which notifies the
 * alert topic, and the pipeline dashboard.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Alerting } from './alerting.js';
import type { PartContext } from './context.js';
import type { Fetchers } from './fetchers.js';

export interface MonitoringProps {
  readonly stateMachine: sfn.StateMachine;
  readonly fetchers: Fetchers;
  readonly alerting: Alerting;
}

export class Monitoring {
  readonly failureAlarm: cloudwatch.Alarm;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(
    private readonly context: PartContext,
    private readonly props: MonitoringProps,
  ) {
    this.failureAlarm = this.executionFailuresAlarm();
    this.dashboard = this.pipelineDashboard();
  }

  private executionFailuresAlarm(): cloudwatch.Alarm {
    const { scope, prefix } = this.context;
    const { stateMachine, alerting } = this.props;
    const period = Duration.minutes(5);
    const failures = new cloudwatch.MathExpression({
      expression: 'FILL(failed, 0) + FILL(timedOut, 0)',
      usingMetrics: {
        failed: stateMachine.metricFailed({ period, statistic: 'Sum' }),
        timedOut: stateMachine.metricTimedOut({ period, statistic: 'Sum' }),
      },
      period,
      label: 'failed + timed-out executions',
    });
    const alarm = new cloudwatch.Alarm(scope, 'ExecutionFailuresAlarm', {
      alarmName: `${prefix}-pipeline-failures`,
      alarmDescription: 'A fibbars daily pipeline execution failed or timed out',
      metric: failures,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(alerting.alertTopic));
    return alarm;
  }

  private pipelineDashboard(): cloudwatch.Dashboard {
    const { stateMachine, fetchers } = this.props;
    const ohlcv = fetchers.ohlcv.function;
    const meta = fetchers.meta.function;
    const hourly = { period: Duration.hours(1), statistic: 'Sum' };
    return new cloudwatch.Dashboard(this.context.scope, 'Dashboard', {
      dashboardName: `${this.context.prefix}-pipeline`,
      defaultInterval: Duration.days(14),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Executions',
            left: [
              stateMachine.metricStarted(hourly),
              stateMachine.metricSucceeded(hourly),
              stateMachine.metricFailed(hourly),
              stateMachine.metricTimedOut(hourly),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'Execution duration (ms)',
            left: [
              stateMachine.metricTime({ period: Duration.hours(1), statistic: 'Average' }),
              stateMachine.metricTime({ period: Duration.hours(1), statistic: 'Maximum' }),
            ],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Lambda errors and throttles',
            left: [ohlcv.metricErrors(hourly), meta.metricErrors(hourly), ohlcv.metricThrottles(hourly), meta.metricThrottles(hourly)],
          }),
          new cloudwatch.GraphWidget({
            title: 'Batch jobs failed / timed out',
            left: [batchIntegrationMetric('ServiceIntegrationsFailed'), batchIntegrationMetric('ServiceIntegrationsTimedOut')],
          }),
          new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [this.failureAlarm] }),
        ],
      ],
    });
  }
}

/** A Step Functions service-integration metric of `batch:submitJob.sync`, hourly sums. */
function batchIntegrationMetric(metricName: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/States',
    metricName,
    dimensionsMap: { ServiceIntegrationResourceArn: `arn:${Aws.PARTITION}:states:::batch:submitJob.sync` },
    statistic: 'Sum',
    period: Duration.hours(1),
  });
}
