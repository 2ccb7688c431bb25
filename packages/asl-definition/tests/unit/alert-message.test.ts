import '../../src/polyfill.js';
import { describe, expect, it } from '@jest/globals';
import { StateMachine } from 'aws-local-stepfunctions';
import { readGoldenDefinition, substitute, explainFailure, ALERT_SUBJECT, type LogLocations, type Substitutions } from '../../src/index.js';
import { LOCAL_ARNS } from '../../src/local.js';

const LOGS: LogLocations = { jobLogGroup: '/aws/batch/prod-fibbars', functionLogGroups: ['/aws/lambda/prod-fibbars-ohlcv', '/aws/lambda/prod-fibbars-meta'] };
const VALUES: Substitutions = {
  ...LOCAL_ARNS,
  LakeUri: '/tmp/lake',
  JobLogGroupName: LOGS.jobLogGroup,
  OhlcvLogGroupName: LOGS.functionLogGroups[0],
  MetaLogGroupName: LOGS.functionLogGroups[1],
};
const STAGE_STATES = new Set(['FetchAll', 'Consolidate', 'Resample', 'PipelineSucceeded']);

/** The golden definition's failure path from `<stage>Failed` on: every state that is not a stage. */
function failurePath(stage: string) {
  const golden = readGoldenDefinition();
  const names = Object.keys(golden.States).filter((n) => !STAGE_STATES.has(n) && !(n.endsWith('Failed') && n !== `${stage}Failed` && n !== 'PipelineFailed'));
  const partial = { StartAt: `${stage}Failed`, States: Object.fromEntries(names.map((name) => [name, golden.States[name]])) };
  return JSON.parse(substitute(JSON.stringify(partial), VALUES));
}

/**
 * Runs the golden definition's own failure path (<Stage>Failed -> ShapeAlert ->
 * NotifyFailure -> PipelineFailed) on a caught error of a given shape.
 */
async function renderAlert(stage: string, error: unknown) {
  const definition = failurePath(stage);
  const published: unknown[] = [];
  const execution = new StateMachine(definition, { validationOptions: { noValidate: true } }).run(
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

// A failed job's Cause as Step Functions sends it (States.TaskFailed): the Batch
// job description with PascalCase keys, shaped after causes seen in real
// execution histories (Attempts[].Container.ExitCode/LogStreamName, top-level Container).
const jobCause = (container: Record<string, unknown>, attempts = 1) =>
  JSON.stringify({
    Attempts: Array.from({ length: attempts }, () => ({ Container: container, StartedAt: 1, StatusReason: 'Essential container in task exited', StoppedAt: 2 })),
    Container: { Command: ['consolidate'], ...container },
    JobId: '4c1b2c1e-1111-4222-8333-944445555666',
    JobName: 'fibbars-consolidate',
    Status: 'FAILED',
    StatusReason: 'Essential container in task exited',
  });
const stream = { LogStreamName: 'consolidate/default/0abee2be68b14d15a86297ede019db95' };
const JOB = 'batch job 4c1b2c1e-1111-4222-8333-944445555666 (fibbars-consolidate)';
const JOB_LOGS = 'logs: /aws/batch/prod-fibbars consolidate/default/0abee2be68b14d15a86297ede019db95';
const FN_LOGS = 'logs: /aws/lambda/prod-fibbars-ohlcv or /aws/lambda/prod-fibbars-meta';

describe('the failure path of the definition', () => {
  it.each([
    ['a plain string cause', 'Consolidate', { Error: 'Batch.ServerException', Cause: 'Service unavailable' }, 'Batch.ServerException', 'Service unavailable'],
    [
      'a failed job, exit code 3',
      'Consolidate',
      { Error: 'States.TaskFailed', Cause: jobCause({ ExitCode: 3, ...stream }) },
      'States.TaskFailed',
      `${JOB} exited with code 3 (DataQualityError) after 1 attempt(s): Essential container in task exited; ${JOB_LOGS}`,
    ],
    [
      'a failed job, exit code 4 twice',
      'Consolidate',
      { Error: 'States.TaskFailed', Cause: jobCause({ ExitCode: 4, ...stream }, 2) },
      'States.TaskFailed',
      `${JOB} exited with code 4 (CommitConflictError) after 2 attempt(s): Essential container in task exited; ${JOB_LOGS}`,
    ],
    [
      'a job killed by SIGKILL',
      'Resample',
      { Error: 'States.TaskFailed', Cause: jobCause({ ExitCode: 137, Reason: 'OutOfMemoryError: Container killed due to memory usage', ...stream }) },
      'States.TaskFailed',
      `${JOB} exited with code 137 (killed by signal 9) after 1 attempt(s): Essential container in task exited; ${JOB_LOGS}`,
    ],
    [
      'a job whose container never exited',
      'Consolidate',
      { Error: 'States.TaskFailed', Cause: jobCause({ Reason: 'CannotPullContainerError: pull access denied' }) },
      'States.TaskFailed',
      `${JOB} stopped without an exit code (CannotPullContainerError: pull access denied) after 1 attempt(s): Essential container in task exited; logs: /aws/batch/prod-fibbars no log stream`,
    ],
    [
      'a job description with almost nothing in it',
      'Consolidate',
      { Error: 'States.TaskFailed', Cause: '{"Status":"FAILED"}' },
      'States.TaskFailed',
      'batch job - (-) stopped without an exit code (no reason given) after 0 attempt(s): no status reason; logs: /aws/batch/prod-fibbars no log stream',
    ],
    [
      'a function error, as the Node.js runtime reports it',
      'FetchAll',
      { Error: 'RateLimitedError', Cause: '{"errorType":"RateLimitedError","errorMessage":"429 after 5 tries","trace":["RateLimitedError: 429 after 5 tries","    at x (/var/task/index.mjs:1:1)"]}' },
      'RateLimitedError',
      `429 after 5 tries; ${FN_LOGS}`,
    ],
    [
      'a function timeout',
      'FetchAll',
      { Error: 'Sandbox.Timedout', Cause: '{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: 6c14aac6-b810-49ce-9c6c-50104412d524 Error: Task timed out after 600.00 seconds"}' },
      'Sandbox.Timedout',
      `RequestId: 6c14aac6-b810-49ce-9c6c-50104412d524 Error: Task timed out after 600.00 seconds; ${FN_LOGS}`,
    ],
    [
      'Lambda.Unknown, whose cause is not JSON',
      'FetchAll',
      { Error: 'Lambda.Unknown', Cause: 'The cause could not be determined because Lambda did not return an error type.' },
      'Lambda.Unknown',
      'The cause could not be determined because Lambda did not return an error type.',
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
  ])('renders the message for %s, as explainFailure does, and fails the execution with the original error', async (_shape, stage, error, name, detail) => {
    const { published, outcome } = await renderAlert(stage, error);
    expect(published).toEqual([
      {
        TopicArn: LOCAL_ARNS.AlertTopicArn,
        Subject: ALERT_SUBJECT,
        Message: `fibbars execution exec-42 failed in state ${stage}: ${name}: ${detail}`,
      },
    ]);
    const cause = (error as { Cause?: string }).Cause ?? 'no cause was given';
    expect(explainFailure(stage, name, cause, LOGS)).toBe(detail);
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
    const definition = failurePath('Consolidate');
    let tries = 0;
    const execution = new StateMachine(definition, { validationOptions: { noValidate: true } }).run({ error: { Error: 'DataQualityError', Cause: 'bad' } } as never, {
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
