import { GetScheduleCommand, ResourceNotFoundException, UpdateScheduleCommand, type GetScheduleCommandOutput } from '@aws-sdk/client-scheduler';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { schedulerClient } from '../aws.js';
import { resolveDeployment } from '../deployment.js';
import { UsageError } from '../errors.js';
import { example, jsonOption } from '../options.js';

type Action = 'enable' | 'disable' | 'status';

function view(s: GetScheduleCommandOutput) {
  return {
    name: s.Name,
    group: s.GroupName,
    state: s.State,
    expression: s.ScheduleExpression,
    timezone: s.ScheduleExpressionTimezone,
    target: s.Target?.Arn,
  };
}

export function registerSchedule(program: Command, ctx: Ctx): void {
  const cmd = program
    .command('schedule')
    .description('the daily schedule on AWS (EventBridge Scheduler): enable, disable or show it')
    .argument('<action>', 'enable | disable | status')
    .option('--aws', 'required: the schedule only exists on AWS')
    .option('--env <name>', 'deployment environment, dev or prod: the stack <env>-fibbars whose outputs name the schedule (env FIBBARS_ENV, default prod)')
    .option('--schedule-name <name>', 'schedule name, instead of reading it from the stack (env FIBBARS_SCHEDULE_NAME)')
    .option('--group <name>', 'schedule group (default: the stack output ScheduleGroupName, else default)');
  jsonOption(cmd);
  example(cmd, 'fibbars schedule status --aws', 'fibbars schedule disable --aws --env dev', 'fibbars schedule enable --aws --schedule-name prod-fibbars-daily');
  cmd.action(async (action: string, opts: { aws?: boolean; env?: string; scheduleName?: string; group?: string; json?: boolean }) => {
    if (!['enable', 'disable', 'status'].includes(action)) {
      throw new UsageError(`unknown schedule action "${action}": use enable, disable or status`);
    }
    if (!opts.aws) {
      throw new UsageError('the schedule only exists on AWS: add --aws (and set AWS_REGION), e.g. fibbars schedule status --aws');
    }
    const cfg = ctx.config({ scheduleName: opts.scheduleName, env: opts.env });
    const deployment = await resolveDeployment(cfg, { schedule: true });
    const name = deployment.scheduleName;
    const group = opts.group ?? deployment.scheduleGroup;
    const client = schedulerClient(cfg);
    let current: GetScheduleCommandOutput;
    try {
      current = await client.send(new GetScheduleCommand({ Name: name, GroupName: group }));
    } catch (err) {
      if (err instanceof ResourceNotFoundException || (err as Error).name === 'ResourceNotFoundException') {
        const from = deployment.source === 'stack outputs' ? `named by stack ${deployment.stack}` : 'given by --schedule-name or FIBBARS_SCHEDULE_NAME';
        throw new UsageError(`no schedule ${name} in group ${group} (${from}): check --env, --schedule-name and --group`, { cause: err });
      }
      throw err;
    }
    const act = action as Action;
    let changed = false;
    if (act !== 'status') {
      const want = act === 'enable' ? 'ENABLED' : 'DISABLED';
      if (current.State !== want) {
        if (!current.ScheduleExpression || !current.Target || !current.FlexibleTimeWindow) {
          throw new UsageError(`schedule ${name} lacks an expression, target or time window: fix it in the stack`);
        }
        // UpdateSchedule replaces the whole schedule: send back everything it had.
        await client.send(
          new UpdateScheduleCommand({
            Name: current.Name ?? name,
            GroupName: current.GroupName ?? group,
            ScheduleExpression: current.ScheduleExpression,
            ScheduleExpressionTimezone: current.ScheduleExpressionTimezone,
            StartDate: current.StartDate,
            EndDate: current.EndDate,
            Description: current.Description,
            FlexibleTimeWindow: current.FlexibleTimeWindow,
            Target: current.Target,
            KmsKeyArn: current.KmsKeyArn,
            ActionAfterCompletion: current.ActionAfterCompletion,
            State: want,
          }),
        );
        current = { ...current, State: want };
        changed = true;
      }
    }
    const result = { ...view(current), changed };
    if (opts.json) {
      ctx.log.json(result);
      return;
    }
    const verb = act === 'status' ? 'is' : changed ? 'is now' : 'was already';
    ctx.log.out(`schedule ${result.name} ${verb} ${result.state}: ${result.expression ?? '?'}${result.timezone ? ` (${result.timezone})` : ''}`);
    if (result.target) ctx.log.out(`  target ${result.target}`);
  });
}
