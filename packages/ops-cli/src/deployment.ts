/**
 * Finds the deployed pipeline for the `--aws` commands: the stack of the
 * environment (`--env` / FIBBARS_ENV, stack `<env>-fibbars`) and its outputs
 * (CloudFormation DescribeStacks), so an operator needs no ARN by hand.
 * Names and output keys come from `@fibbars/asl-definition/names`, the module
 * the CDK stack names its resources with.
 *
 * A flag or variable still wins (`--state-machine-arn`, FIBBARS_STATE_MACHINE_ARN,
 * `--schedule-name`, FIBBARS_SCHEDULE_NAME); when it gives all a command
 * needs, no CloudFormation call is made.
 *
 * DescribeStacks answers `ValidationError` when the stack does not exist
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html).
 */
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { ENVIRONMENT_NAMES, OUTPUT_KEYS, SCHEDULE_GROUP, stackName, type EnvironmentName } from '@fibbars/asl-definition/names';
import { withOneLineErrors } from '@fibbars/asl-definition/aws-errors';
import type { Config } from './config.js';
import { CommandFailedError, UsageError } from './errors.js';

export interface Deployment {
  env: EnvironmentName;
  stack: string;
  stateMachineArn: string;
  scheduleName: string;
  scheduleGroup: string;
  /** FIBBARS_LAKE of the environment, when read from the stack. */
  lakeUri: string | undefined;
  /** Where the names came from, for messages and `doctor`. */
  source: 'stack outputs' | 'flags and environment';
}

/** The deployment environment, checked: only the ones the CDK app synthesizes. */
export function deploymentEnv(cfg: Config): EnvironmentName {
  if ((ENVIRONMENT_NAMES as readonly string[]).includes(cfg.deployEnv)) return cfg.deployEnv as EnvironmentName;
  const from = cfg.deployEnvSource === '--env' ? '--env' : 'FIBBARS_ENV';
  throw new UsageError(`${from} "${cfg.deployEnv}" is not a deployment environment: use ${ENVIRONMENT_NAMES.join(' or ')} (the stack is <env>-fibbars)`);
}

export function cloudFormationClient(cfg: Config): CloudFormationClient {
  return withOneLineErrors(new CloudFormationClient({ region: cfg.awsRegion }));
}

/**
 * What a command needs of the deployment. `needs` names the parts the
 * command uses; only when the flags and variables lack one of them is the
 * stack read.
 */
export async function resolveDeployment(cfg: Config, needs: { stateMachine?: boolean; schedule?: boolean }): Promise<Deployment> {
  const env = deploymentEnv(cfg);
  const stack = stackName(env);
  const given = (!needs.stateMachine || cfg.stateMachineArn !== undefined) && (!needs.schedule || cfg.scheduleName !== undefined);
  if (given) {
    return {
      env,
      stack,
      stateMachineArn: cfg.stateMachineArn ?? '',
      scheduleName: cfg.scheduleName ?? '',
      scheduleGroup: SCHEDULE_GROUP,
      lakeUri: undefined,
      source: 'flags and environment',
    };
  }
  const outputs = await stackOutputs(cfg, env, stack);
  const output = (key: string): string => {
    const value = outputs.find((o) => o.OutputKey === key)?.OutputValue;
    if (!value) {
      throw new CommandFailedError(
        `stack ${stack} has no output ${key}: deploy the current stack (nx run infra:deploy -- --env ${env}) or pass the name by flag`,
      );
    }
    return value;
  };
  return {
    env,
    stack,
    stateMachineArn: cfg.stateMachineArn ?? (needs.stateMachine ? output(OUTPUT_KEYS.stateMachineArn) : ''),
    scheduleName: cfg.scheduleName ?? (needs.schedule ? output(OUTPUT_KEYS.scheduleName) : ''),
    scheduleGroup: outputs.find((o) => o.OutputKey === OUTPUT_KEYS.scheduleGroupName)?.OutputValue ?? SCHEDULE_GROUP,
    lakeUri: outputs.find((o) => o.OutputKey === OUTPUT_KEYS.lakeUri)?.OutputValue,
    source: 'stack outputs',
  };
}

async function stackOutputs(cfg: Config, env: EnvironmentName, stack: string): Promise<Output[]> {
  try {
    const out = await cloudFormationClient(cfg).send(new DescribeStacksCommand({ StackName: stack }));
    const found = out.Stacks?.[0];
    if (!found) throw new CommandFailedError(`CloudFormation DescribeStacks answered no stack for ${stack}`);
    return found.Outputs ?? [];
  } catch (err) {
    if ((err as Error).name === 'ValidationError' && /does not exist/i.test((err as Error).message)) {
      const where = cfg.awsRegion ? ` in ${cfg.awsRegion}` : '';
      throw new UsageError(
        `no stack ${stack}${where} (environment ${env}): deploy it (nx run infra:deploy -- --env ${env}), choose another with --env, or pass --state-machine-arn`,
        { cause: err },
      );
    }
    throw err;
  }
}
