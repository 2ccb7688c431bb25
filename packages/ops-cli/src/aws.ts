/** AWS clients for the `--aws` paths, built from the resolved configuration. */
import { SFNClient } from '@aws-sdk/client-sfn';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { Config } from './config.js';
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
      '--aws needs the state machine ARN: pass --state-machine-arn arn:aws:states:<region>:<account>:stateMachine:<name> or set FIBBARS_STATE_MACHINE_ARN (stack output StateMachineArn)',
    );
  }
  const m = ARN.exec(arn);
  if (!m) {
    throw new UsageError(`"${arn}" is not a state machine ARN: expected arn:aws:states:<region>:<account>:stateMachine:<name>`);
  }
  return { arn, region: m[1] as string, account: m[2] as string, name: m[3] as string, partition: arn.split(':')[1] as string };
}

export function executionArn(sm: StateMachineRef, name: string): string {
  return `arn:${sm.partition}:states:${sm.region}:${sm.account}:execution:${sm.name}:${name}`;
}

export function sfnClient(cfg: Config, sm?: StateMachineRef): SFNClient {
  return new SFNClient({ region: cfg.awsRegion ?? sm?.region });
}

export function requireRegion(cfg: Config): string {
  if (!cfg.awsRegion) throw new UsageError('AWS_REGION is not set: export AWS_REGION=<region of the stack>, e.g. us-east-1');
  return cfg.awsRegion;
}

export function schedulerClient(cfg: Config): SchedulerClient {
  return new SchedulerClient({ region: requireRegion(cfg) });
}

/** Execution names Step Functions accepts: 1-80 of letters, digits, - and _. */
export function checkExecutionName(name: string): string {
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
    throw new UsageError(`execution name "${name}" is not valid: use 1-80 letters, digits, "-" or "_", e.g. --name daily-2026-11-25-rerun`);
  }
  return name;
}
