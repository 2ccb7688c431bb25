// Every failure path of the pipeline, run through the golden definition on
// aws-local-stepfunctions, checked against what AWS documents (failures.ts has
// the URLs): a FAILED Batch job is `States.TaskFailed` with the job
// description as Cause, Batch re-runs the job per the job definition's
// retryStrategy (EXIT on exit codes 2 and 3, otherwise retry while attempts
// remain: consolidate 2, resample 1), a Lambda function error is its errorType
// with the runtime's error document, a function past its timeout is
// `Sandbox.Timedout`. The expected values are written from that contract, not
// computed by the engine's code.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SyntheticSource } from '@fibbars/fetchers';
import { InvalidResponseError, RateLimitedError } from '@fibbars/fetchers/errors';
import { createBatchRunnerBinding, runLocalPipeline, type Alert, type FetchHandler } from '../../src/local.js';
import { okFetch, sleep } from '../support/fakes.js';

let scratch: string;
let lake: string;
let job: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'fibbars-contract-'));
  job = path.join(scratch, 'job.mjs');
  // A stand-in for the batch-runner bundle: exits per EXIT_PLAN (one code per
  // attempt, "KILL" = SIGKILL itself), logging like batch-runner, counting runs.
  await writeFile(
    job,
    [
      "import { appendFileSync } from 'node:fs';",
      'const command = process.argv[2];',
      'const attempt = Number(process.env.AWS_BATCH_JOB_ATTEMPT);',
      'const plan = JSON.parse(process.env.EXIT_PLAN)[command] ?? [0];',
      'const code = plan[Math.min(attempt, plan.length) - 1];',
      'appendFileSync(process.env.RUNS_FILE, `${command} ${attempt} ${process.env.AWS_BATCH_JOB_ID}\\n`);',
      "if (code === 'KILL') process.kill(process.pid, 'SIGKILL');",
      "if (code !== 0) { console.error(JSON.stringify({ level: 'error', error: 'Planned', message: `planned exit ${code}` })); process.exit(code); }",
      "console.log(JSON.stringify({ msg: 'done', report: { command } }));",
    ].join('\n'),
  );
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});
beforeEach(async () => {
  lake = await mkdtemp(path.join(scratch, 'lake-'));
});

const source = new SyntheticSource({ tickers: 5 });
const CONTAINER_EXITED = 'Essential container in task exited';
const LAMBDA_LOGS = 'logs: stderr of fibbars-ohlcv or stderr of fibbars-meta';

async function run(options: { plan?: Record<string, (number | 'KILL')[]>; ohlcv?: FetchHandler; lambdaTimeoutSeconds?: number }) {
  const runsFile = path.join(lake, '..', `${path.basename(lake)}.runs`);
  await writeFile(runsFile, '');
  const alerts: Alert[] = [];
  const record = await runLocalPipeline({
    lake,
    source,
    intervals: [3],
    retryWaitScale: 0.001,
    ...(options.lambdaTimeoutSeconds === undefined ? {} : { lambdaTimeoutSeconds: options.lambdaTimeoutSeconds }),
    bindings: {
      ohlcv: options.ohlcv ?? okFetch('ohlcv'),
      meta: okFetch('meta'),
      batch: createBatchRunnerBinding({ bundle: job, extraEnv: { EXIT_PLAN: JSON.stringify(options.plan ?? {}), RUNS_FILE: runsFile } }),
      alert: (a) => void alerts.push(a),
    },
  });
  const processes = (await readFile(runsFile, 'utf8')).split('\n').filter((l) => l !== '');
  return { record, alerts, processes };
}

describe('a failed Batch job, as Step Functions and AWS Batch report it', () => {
  it.each([
    // [row, stage, state, plan, processes (Batch attempts), detail of the alert]
    ['exit 2 (ConfigError): no retry', 'Consolidate', 'Consolidate', { consolidate: [2] }, 1, 'fibbars-consolidate', 'exited with code 2 (ConfigError) after 1 attempt(s)'],
    ['exit 3 (DataQualityError): no retry', 'Consolidate', 'Consolidate', { consolidate: [3] }, 1, 'fibbars-consolidate', 'exited with code 3 (DataQualityError) after 1 attempt(s)'],
    ['exit 4 (CommitConflictError) twice: one retry', 'Consolidate', 'Consolidate', { consolidate: [4, 4] }, 2, 'fibbars-consolidate', 'exited with code 4 (CommitConflictError) after 2 attempt(s)'],
    ['exit 1 (any other error) twice: one retry', 'Consolidate', 'Consolidate', { consolidate: [1, 1] }, 2, 'fibbars-consolidate', 'exited with code 1 (Error) after 2 attempt(s)'],
    ['killed by SIGKILL twice: one retry', 'Consolidate', 'Consolidate', { consolidate: ['KILL', 'KILL'] }, 2, 'fibbars-consolidate', 'exited with code 137 (killed by signal 9) after 2 attempt(s)'],
    ['a resampler, exit 1: one attempt only', 'Resample', 'Resample3d', { resample: [1] }, 1, 'fibbars-resample-3d', 'exited with code 1 (Error) after 1 attempt(s)'],
    ['a resampler, exit 3', 'Resample', 'Resample3d', { resample: [3] }, 1, 'fibbars-resample-3d', 'exited with code 3 (DataQualityError) after 1 attempt(s)'],
  ] as const)('%s', async (_row, stage, stateName, plan, processes, jobName, phrase) => {
    const { record, alerts, processes: all } = await run({ plan: plan as unknown as Record<string, (number | 'KILL')[]> });
    expect(record.status).toBe('FAILED');
    // The runs of the failing job (a resampler runs after a successful consolidation).
    const runs = all.filter((l) => l.startsWith(stage === 'Consolidate' ? 'consolidate ' : 'resample '));
    expect(runs).toHaveLength(processes);
    // Batch re-runs the same job: one job id, attempts 1..n.
    expect(runs.map((l) => l.split(' ')[1])).toEqual(Array.from({ length: processes }, (_, i) => String(i + 1)));
    expect(new Set(runs.map((l) => l.split(' ')[2])).size).toBe(1);

    const state = record.states.find((s) => s.name === stateName);
    // One task attempt in the state machine: its Retry does not match States.TaskFailed.
    expect(state).toMatchObject({ attempts: 1, error: { name: 'States.TaskFailed' } });
    expect(record.error?.name).toBe('States.TaskFailed');
    const cause = JSON.parse(record.error?.cause ?? '{}');
    const exitCodes = (plan as unknown as Record<string, (number | 'KILL')[]>)[stage === 'Consolidate' ? 'consolidate' : 'resample']?.map((c) => (c === 'KILL' ? 137 : c));
    expect(cause).toMatchObject({
      JobId: runs[0]?.split(' ')[2],
      JobName: jobName,
      Status: 'FAILED',
      StatusReason: CONTAINER_EXITED,
      Container: { ExitCode: exitCodes?.[processes - 1], LogStreamName: expect.stringMatching(/^(consolidate|resample)\/default\/[0-9a-f]{32}$/) },
    });
    expect(cause.Attempts.map((a: { Container: { ExitCode: number } }) => a.Container.ExitCode)).toEqual(exitCodes?.slice(0, processes));
    expect(cause.Attempts.every((a: { StatusReason: string }) => a.StatusReason === CONTAINER_EXITED)).toBe(true);

    expect(alerts.map((a) => a.message)).toEqual([
      `fibbars execution ${record.runId} failed in state ${stage}: States.TaskFailed: batch job ${cause.JobId} (${jobName}) ${phrase}: ` +
        `${CONTAINER_EXITED}; logs: run record ${record.runId} ${cause.Container.LogStreamName}`,
    ]);
    // The job's log (its stderr) is in the run record, one entry per attempt.
    expect(state?.batchAttempts?.map((a) => a.logStreamName)).toEqual(cause.Attempts.map((a: { Container: { LogStreamName: string } }) => a.Container.LogStreamName));
  });

  it('exit 4 then success: Batch retries, the pipeline goes on', async () => {
    const { record, alerts, processes } = await run({ plan: { consolidate: [4, 0] } });
    expect(record.status).toBe('SUCCEEDED');
    expect(processes.filter((l) => l.startsWith('consolidate'))).toHaveLength(2);
    expect(record.states.find((s) => s.name === 'Consolidate')).toMatchObject({ attempts: 1, status: 'succeeded' });
    expect(alerts).toEqual([]);
  });
});

describe('a failed fetcher Lambda, as Step Functions reports lambda:invoke', () => {
  it('a named error: Error = errorType, Cause = the runtime error document, no retry for InvalidResponseError', async () => {
    let calls = 0;
    const { record, alerts } = await run({
      ohlcv: async () => {
        calls += 1;
        throw new InvalidResponseError('results is not an array');
      },
    });
    expect(calls).toBe(1);
    expect(record.error?.name).toBe('InvalidResponseError');
    const doc = JSON.parse(record.error?.cause ?? '{}');
    expect(doc).toMatchObject({ errorType: 'InvalidResponseError', errorMessage: 'results is not an array' });
    expect(doc.trace[0]).toBe('InvalidResponseError: results is not an array');
    expect(alerts.map((a) => a.message)).toEqual([
      `fibbars execution ${record.runId} failed in state FetchAll: InvalidResponseError: results is not an array; ${LAMBDA_LOGS}`,
    ]);
  });

  it('RateLimitedError: retried twice by the state machine (3 invocations), then alerted', async () => {
    let calls = 0;
    const { record, alerts } = await run({
      ohlcv: async () => {
        calls += 1;
        throw new RateLimitedError(`429 (call ${calls})`);
      },
    });
    expect(calls).toBe(3);
    expect(record.states.find((s) => s.name === 'FetchOhlcv')).toMatchObject({ attempts: 3, error: { name: 'RateLimitedError' } });
    expect(alerts.map((a) => a.message)).toEqual([`fibbars execution ${record.runId} failed in state FetchAll: RateLimitedError: 429 (call 3); ${LAMBDA_LOGS}`]);
  });

  it('a timeout: Sandbox.Timedout with the request id, not retried', async () => {
    let calls = 0;
    const { record, alerts } = await run({
      lambdaTimeoutSeconds: 0.2,
      ohlcv: async () => {
        calls += 1;
        await sleep(1_000);
        throw new Error('never seen: Lambda ended the function');
      },
    });
    expect(calls).toBe(1);
    expect(record.error?.name).toBe('Sandbox.Timedout');
    const doc = JSON.parse(record.error?.cause ?? '{}');
    expect(doc).toEqual({ errorType: 'Sandbox.Timedout', errorMessage: expect.stringMatching(/^RequestId: [0-9a-f-]{36} Error: Task timed out after 0\.20 seconds$/) });
    expect(alerts.map((a) => a.message)).toEqual([`fibbars execution ${record.runId} failed in state FetchAll: Sandbox.Timedout: ${doc.errorMessage}; ${LAMBDA_LOGS}`]);
  });
});
