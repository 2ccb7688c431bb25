import '../../src/polyfill.js';
import { describe, expect, it } from '@jest/globals';
import { StateMachine } from 'aws-local-stepfunctions';
import { readGoldenDefinition, substitute, ALERT_SUBJECT, type Substitutions } from '../../src/index.js';
import { LOCAL_ARNS } from '../../src/local.js';

/**
 * Runs the golden definition's own failure path (<Stage>Failed -> ShapeAlert ->
 * NotifyFailure -> PipelineFailed) on a caught error of a given shape.
 */
async function renderAlert(stage: string, error: unknown) {
  const golden = readGoldenDefinition();
  const chain = [`${stage}Failed`, 'ShapeAlert', 'NotifyFailure', 'PipelineFailed'];
  const partial = { StartAt: chain[0], States: Object.fromEntries(chain.map((name) => [name, golden.States[name]])) };
  const values: Substitutions = { ...LOCAL_ARNS, LakeUri: '/tmp/lake' };
  const definition = JSON.parse(substitute(JSON.stringify(partial), values));
  const published: unknown[] = [];
  const execution = new StateMachine(definition).run(
    { fetch: { ohlcv: { sessions: ['2024-03-08'] } }, error } as never,
    {
      overrides: {
        taskResourceLocalHandlers: {
          NotifyFailure: (input) => {
            published.push(input);
            return { MessageId: 'm-1' };
          },
        },
      },
      context: { Execution: { Name: 'exec-42' } },
    },
  );
  const outcome = await execution.result.then(
    () => ({ failed: false as const }),
    (e: { cause?: { name: string; message: string } }) => ({ failed: true as const, name: e.cause?.name, cause: e.cause?.message }),
  );
  return { published, outcome };
}

describe('the failure path of the definition', () => {
  it.each([
    ['a plain string cause', 'Consolidate', { Error: 'DataQualityError', Cause: 'session 2024-03-08 rejected 3% of rows' }, 'DataQualityError', 'session 2024-03-08 rejected 3% of rows'],
    [
      'a JSON cause, as Lambda reports a function error',
      'FetchAll',
      { Error: 'RateLimitedError', Cause: '{"errorType":"RateLimitedError","errorMessage":"429 after 5 tries"}' },
      'RateLimitedError',
      '{"errorType":"RateLimitedError","errorMessage":"429 after 5 tries"}',
    ],
    ['a missing cause', 'Resample', { Error: 'States.Timeout' }, 'States.Timeout', 'no cause was given'],
    ['a missing error and cause', 'Consolidate', {}, 'States.Unknown', 'no cause was given'],
    [
      'a cause with quotes, braces and new lines',
      'Resample',
      { Error: 'States.TaskFailed', Cause: 'exit 1: {} \'x\' "y"\nnext line' },
      'States.TaskFailed',
      'exit 1: {} \'x\' "y"\nnext line',
    ],
  ])('renders the message for %s and fails the execution with the original error', async (_shape, stage, error, name, cause) => {
    const { published, outcome } = await renderAlert(stage, error);
    expect(published).toEqual([
      {
        TopicArn: LOCAL_ARNS.AlertTopicArn,
        Subject: ALERT_SUBJECT,
        Message: `fibbars execution exec-42 failed in state ${stage}: ${name}: ${cause}`,
      },
    ]);
    expect(outcome).toEqual({ failed: true, name, cause });
  });

  // A divergence of the local engine, pinned so that a library change is noticed:
  // aws-local-stepfunctions 3.0.0 removes every backslash from the string an
  // intrinsic function returns (AWS keeps them). The execution error keeps the exact cause.
  it('drops backslashes from the local alert text only, keeping the exact cause as the execution error', async () => {
    const cause = 'lake C:\\data\\lake: {"path":"a\\"b"}';
    const { published, outcome } = await renderAlert('Consolidate', { Error: 'ConfigError', Cause: cause });
    expect((published[0] as { Message: string }).Message).toBe(
      `fibbars execution exec-42 failed in state Consolidate: ConfigError: ${cause.replaceAll('\\', '')}`,
    );
    expect(outcome).toEqual({ failed: true, name: 'ConfigError', cause });
  });

  it('still ends PipelineFailed when publishing the alert fails', async () => {
    const golden = readGoldenDefinition();
    const chain = ['ConsolidateFailed', 'ShapeAlert', 'NotifyFailure', 'PipelineFailed'];
    const partial = { StartAt: chain[0], States: Object.fromEntries(chain.map((n) => [n, golden.States[n]])) };
    const definition = JSON.parse(substitute(JSON.stringify(partial), { ...LOCAL_ARNS, LakeUri: '/tmp/lake' }));
    let tries = 0;
    const execution = new StateMachine(definition).run({ error: { Error: 'DataQualityError', Cause: 'bad' } } as never, {
      overrides: {
        taskResourceLocalHandlers: {
          NotifyFailure: () => {
            tries += 1;
            throw Object.assign(new Error('topic does not exist'), { name: 'SNS.NotFoundException' });
          },
        },
        retryIntervalOverrides: { NotifyFailure: 1 },
      },
      context: { Execution: { Name: 'exec-43' } },
    });
    await expect(execution.result).rejects.toMatchObject({ cause: { name: 'DataQualityError', message: 'bad' } });
    expect(tries).toBe(4);
  });
});
