import { GetScheduleCommand, ResourceNotFoundException, UpdateScheduleCommand, type GetScheduleCommandOutput } from '@aws-sdk/client-scheduler';
import type { Command } from 'commander';
import type { Ctx } from '../context.js';
import { schedulerClient } from '../aws.js';
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
    .option('--schedule-name <name>', 'schedule name (env FIBBARS_SCHEDULE_NAME, default fibbars-<FIBBARS_ENV or prod>-daily)')
    .option('--group <name>', 'schedule group', 'default');
  jsonOption(cmd);
  example(cmd, 'fibbars schedule status --aws', 'fibbars schedule disable --aws --schedule-name fibbars-dev-daily');
  cmd.action(async (action: string, opts: { aws?: boolean; scheduleName?: string; group: string; json?: boolean }) => {
    if (!['enable', 'disable', 'status'].includes(action)) {
      throw new UsageError(`unknown schedule action "${action}": use enable, disable or status`);
    }
    if (!opts.aws) {
      throw new UsageError('the schedule only exists on AWS: add --aws (and set AWS_REGION), e.g. fibbars schedule status --aws');
    }
    const cfg = ctx.config({ scheduleName: opts.scheduleName });
    const client = schedulerClient(cfg);
    let current: GetScheduleCommandOutput;
    try {
      current = await client.send(new GetScheduleCommand({ Name: cfg.scheduleName, GroupName: opts.group }));
    } catch (err) {
      if (err instanceof ResourceNotFoundException || (err as Error).name === 'ResourceNotFoundException') {
        throw new UsageError(
          `no schedule ${cfg.scheduleName} in group ${opts.group}: pass --schedule-name (stack output ScheduleName) or set FIBBARS_SCHEDULE_NAME`,
          { cause: err },
        );
      }
      throw err;
    }
    const act = action as Action;
    let changed = false;
    if (act !== 'status') {
      const want = act === 'enable' ? 'ENABLED' : 'DISABLED';
      if (current.State !== want) {
        if (!current.ScheduleExpression || !current.Target || !current.FlexibleTimeWindow) {
          throw new UsageError(`schedule ${cfg.scheduleName} lacks an expression, target or time window: fix it in the stack`);
        }
        // UpdateSchedule replaces the whole schedule: send back everything it had.
        await client.send(
          new UpdateScheduleCommand({
            Name: current.Name ?? cfg.scheduleName,
            GroupName: current.GroupName ?? opts.group,
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
