/**
 * The local stand-ins for the deployment's resources: the pseudo-ARNs the
 * engine fills the definition's placeholders with, the retry strategy of each
 * local job definition, and the error a binding throws to fail a task.
 */
import { JOB_RETRY_STRATEGIES, type JobRetryStrategy } from '../failures.js';

const LOCAL_ACCOUNT = 'arn:aws:lambda:local:000000000000';

/** Pseudo-ARNs the local engine substitutes for the deployment's resources. */
export const LOCAL_ARNS = Object.freeze({
  OhlcvFunctionArn: `${LOCAL_ACCOUNT}:function:fibbars-ohlcv`,
  MetaFunctionArn: `${LOCAL_ACCOUNT}:function:fibbars-meta`,
  JobQueueArn: 'arn:aws:batch:local:000000000000:job-queue/fibbars-local',
  ConsolidateJobDefinitionArn: 'arn:aws:batch:local:000000000000:job-definition/fibbars-consolidate',
  ResampleJobDefinitionArn: 'arn:aws:batch:local:000000000000:job-definition/fibbars-resample',
  AlertTopicArn: 'arn:aws:sns:local:000000000000:fibbars-alerts',
});

/** An error carrying the name a task reported, so Retry and Catch match it (its message is the Cause). */
export class TaskError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The retry strategy of each local job definition: the deployed ones. */
export const LOCAL_JOB_RETRY_STRATEGIES: Readonly<Record<string, JobRetryStrategy>> = Object.freeze({
  [LOCAL_ARNS.ConsolidateJobDefinitionArn]: JOB_RETRY_STRATEGIES.consolidate,
  [LOCAL_ARNS.ResampleJobDefinitionArn]: JOB_RETRY_STRATEGIES.resample,
});
