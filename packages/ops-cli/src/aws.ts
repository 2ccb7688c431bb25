/** AWS clients for the `--aws` paths, built from the resolved configuration. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { STSClient } from '@aws-sdk/client-sts';
import { withOneLineErrors } from '@fibbars/asl-definition/aws-errors';
import type { Config } from './config.js';
import { resolveDeployment } from './deployment.js';
import { UsageError } from './errors.js';

const ARN = /^arn:aws[a-zA-Z-]*:states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]{1,80})$/;

export interface StateMachineRef {
  arn: string;
  region: string;
  account: string;
  name: string;
  partition: string;
}

export function requireStateMachine(cfg: Config): StateMachineRef {
  const arn = cfg.stateMachineArn;
  if (!arn) {
    throw new UsageError(
      '--aws needs the state machine: pass --env dev|prod to read it from the stack, or --state-machine-arn arn:aws:states:<region>:<account>:stateMachine:<name> (env FIBBARS_STATE_MACHINE_ARN)',
    );
  }
  const m = ARN.exec(arn);
  if (!m) {
    throw new UsageError(`"${arn}" is not a state machine ARN: expected arn:aws:states:<region>:<account>:stateMachine:<name>`);
  }
  return { arn, region: m[1] as string, account: m[2] as string, name: m[3] as string, partition: arn.split(':')[1] as string };
}

/**
 * The state machine an `--aws` command acts on: `--state-machine-arn` /
 * FIBBARS_STATE_MACHINE_ARN when given, else the output StateMachineArn of
 * the stack of `--env` (`deployment.ts`).
 */
export async function stateMachineOf(cfg: Config): Promise<StateMachineRef> {
  const deployment = await resolveDeployment(cfg, { stateMachine: true });
  return requireStateMachine({ ...cfg, stateMachineArn: deployment.stateMachineArn });
}

/** The state machine of an `--aws` command and a Step Functions client in its region. */
export async function stepFunctionsOf(cfg: Config): Promise<{ sm: StateMachineRef; client: SFNClient }> {
  const sm = await stateMachineOf(cfg);
  return { sm, client: sfnClient(cfg, sm) };
}

export function executionArn(sm: StateMachineRef, name: string): string {
  return `arn:${sm.partition}:states:${sm.region}:${sm.account}:execution:${sm.name}:${name}`;
}

/** Step Functions in the state machine's region (its ARN names it). Failures of the setup are one line (`aws-errors.ts`). */
export function sfnClient(cfg: Config, sm?: StateMachineRef): SFNClient {
  return withOneLineErrors(new SFNClient({ region: sm?.region ?? cfg.awsRegion }));
}

/** EventBridge Scheduler; without AWS_REGION the SDK reads the profile's region, and says so in one line when there is none. */
export function schedulerClient(cfg: Config): SchedulerClient {
  return withOneLineErrors(new SchedulerClient({ region: cfg.awsRegion }));
}

/** Execution names Step Functions accepts: 1-80 of letters, digits, - and _. */
export function checkExecutionName(name: string): string {
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
    throw new UsageError(`execution name "${name}" is not valid: use 1-80 letters, digits, "-" or "_", e.g. --name daily-2026-11-25-rerun`);
  }
  return name;
}

/** STS, for GetCallerIdentity: which account and principal the credentials are. */
export function stsClient(cfg: Config): STSClient {
  return withOneLineErrors(new STSClient({ region: cfg.awsRegion }));
}
