import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '@fibbars/ohlcv-core/errors';
import { InvalidResponseError } from '@fibbars/fetchers/errors';
import { SyntheticSource } from '@fibbars/fetchers';
import { getRun, listRuns, runLocalPipeline, type Alert, type FetchEvent, type LocalEvent } from '../../src/local.js';
import { DEFAULT_INTERVALS } from '../../src/index.js';
import { flakyFetch, okFetch, recordingBatch, type JobLogEntry } from '../support/fakes.js';

let lake: string;
beforeEach(async () => {
  lake = await mkdtemp(path.join(tmpdir(), 'fibbars-engine-'));
});
afterEach(async () => {
  await rm(lake, { recursive: true, force: true });
});

// Bound fetchers replace the real ones here; the source only names the market in the record.
const source = new SyntheticSource({ tickers: 10 });

describe('runLocalPipeline with test bindings', () => {
  it('runs fetch, consolidate and every resampler, concurrently where the definition is parallel, and records the run', async () => {
    const ohlcvCalls: FetchEvent[] = [];
    const metaCalls: FetchEvent[] = [];
    const jobs: JobLogEntry[] = [];
    const events: LocalEvent[] = [];
    const record = await runLocalPipeline({
      lake,
      date: '2024-03-08',
      source,
      onEvent: (e) => events.push(e),
      bindings: { ohlcv: okFetch('ohlcv', ohlcvCalls), meta: okFetch('meta', metaCalls), batch: recordingBatch(jobs, { ms: 150 }), alert: () => {} },
    });

    expect(record.status).toBe('SUCCEEDED');
    expect(record.finalState).toBe('PipelineSucceeded');
    expect(ohlcvCalls).toEqual([{ date: '2024-03-08', lake }]);
    expect(metaCalls).toEqual([{ date: '2024-03-08', lake }]);

    const consolidate = jobs.find((j) => j.job.state === 'Consolidate');
    expect(consolidate?.job.command).toEqual(['consolidate']);
    expect(consolidate?.job.environment).toEqual({ FIBBARS_LAKE: lake, FIBBARS_RUN_ID: record.runId, FIBBARS_SESSIONS: '["2024-03-08"]' });
    const resamplers = jobs.filter((j) => j.job.state.startsWith('Resample'));
    expect(resamplers.map((j) => j.job.command).sort()).toEqual(DEFAULT_INTERVALS.map((d) => ['resample', '--days', String(d)]).sort());
    // Every resampler started before the first one finished: the branches ran together.
    const firstEnd = Math.min(...resamplers.map((j) => j.end));
    expect(resamplers.every((j) => j.start < firstEnd)).toBe(true);
    expect(resamplers.every((j) => consolidate !== undefined && j.start >= consolidate.end)).toBe(true);

    const names = record.states.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['FetchAll', 'FetchOhlcv', 'FetchMeta', 'Consolidate', 'Resample', 'Resample34d', 'PipelineSucceeded']));
    expect(record.states.every((s) => s.status === 'succeeded' && s.attempts === 1 && s.endedAt !== undefined)).toBe(true);
    expect(record.states.find((s) => s.name === 'FetchOhlcv')).toMatchObject({ parent: 'FetchAll', output: { status: 'ok', rows: 300 } });
    expect(record.states.find((s) => s.name === 'Resample8d')?.output).toMatchObject({ exitCode: 0 });

    const stored = JSON.parse(await readFile(path.join(lake, '_runs', `${record.runId}.json`), 'utf8'));
    expect(stored).toEqual(JSON.parse(JSON.stringify(record)));
    expect(events[0]).toMatchObject({ type: 'execution-started', state: 'FetchAll' });
    expect(events.at(-1)).toMatchObject({ type: 'execution-succeeded', state: 'PipelineSucceeded' });
    expect(events.filter((e) => e.type === 'state-succeeded').map((e) => e.state)).toEqual(expect.arrayContaining(names));
  });

  it('lets the fetchers pick the session when no date is given', async () => {
    const calls: FetchEvent[] = [];
    const record = await runLocalPipeline({ lake, source, bindings: { ohlcv: okFetch('ohlcv', calls), meta: okFetch('meta'), batch: recordingBatch([]) } });
    expect(record.status).toBe('SUCCEEDED');
    expect(record.input).toEqual({});
    expect(calls).toEqual([{ lake }]);
  });

  it('retries a fetcher that throws RateLimitedError twice, then succeeds, and shows both retries', async () => {
    const ohlcv = flakyFetch(2);
    const events: LocalEvent[] = [];
    const record = await runLocalPipeline({
      lake,
      source,
      retryWaitScale: 0.01,
      onEvent: (e) => events.push(e),
      bindings: { ohlcv, meta: okFetch('meta'), batch: recordingBatch([], { ms: 5 }) },
    });
    expect(record.status).toBe('SUCCEEDED');
    expect(ohlcv.calls).toBe(3);
    const fetch = record.states.find((s) => s.name === 'FetchOhlcv');
    expect(fetch).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(fetch?.retries.map((r) => r.error.name)).toEqual(['RateLimitedError', 'RateLimitedError']);
    expect(JSON.parse(fetch?.retries[0]?.error.cause ?? '')).toMatchObject({ errorType: 'RateLimitedError', errorMessage: '429 from vendor (try 1)' });
    expect(events.filter((e) => e.type === 'state-retried').map((e) => [e.state, e.attempt])).toEqual([
      ['FetchOhlcv', 2],
      ['FetchOhlcv', 3],
    ]);
  });

  it('gives up after two retries of a rate-limited fetcher and alerts', async () => {
    const ohlcv = flakyFetch(10);
    const record = await runLocalPipeline({ lake, source, retryWaitScale: 0.01, bindings: { ohlcv, meta: okFetch('meta'), batch: recordingBatch([]), alert: () => {} } });
    expect(ohlcv.calls).toBe(3);
    expect(record.status).toBe('FAILED');
    expect(record.error?.name).toBe('RateLimitedError');
    expect(record.alert?.message).toMatch(/failed in state FetchAll: RateLimitedError: /);
  });

  it('alerts without retrying when a fetcher reports an invalid response, with the Lambda-shaped JSON cause as text', async () => {
    const alerts: Alert[] = [];
    const jobs: JobLogEntry[] = [];
    const record = await runLocalPipeline({
      lake,
      source,
      runId: 'run-invalid',
      bindings: {
        ohlcv: async () => {
          throw new InvalidResponseError('results is not an array');
        },
        meta: okFetch('meta'),
        batch: recordingBatch(jobs),
        alert: (a) => {
          alerts.push(a);
        },
      },
    });
    expect(record.status).toBe('FAILED');
    expect(record.finalState).toBe('PipelineFailed');
    expect(jobs).toEqual([]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.message).toBe(
      'fibbars execution run-invalid failed in state FetchAll: InvalidResponseError: results is not an array; logs: stderr of fibbars-ohlcv or stderr of fibbars-meta',
    );
    expect(record.states.find((s) => s.name === 'FetchOhlcv')).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('alerts with the error name and cause when the consolidator fails on data quality, without retrying it', async () => {
    const alerts: Alert[] = [];
    const jobs: JobLogEntry[] = [];
    const events: LocalEvent[] = [];
    const record = await runLocalPipeline({
      lake,
      source,
      retryWaitScale: 0.001,
      onEvent: (e) => events.push(e),
      bindings: {
        ohlcv: okFetch('ohlcv'),
        meta: okFetch('meta'),
        batch: recordingBatch(jobs, {
          fail: (job) => (job.state === 'Consolidate' ? 3 : undefined),
        }),
        alert: (a) => {
          alerts.push(a);
        },
      },
    });
    expect(record.status).toBe('FAILED');
    expect(record.finalState).toBe('PipelineFailed');
    // AWS's contract: States.TaskFailed with the job description; exit 3 ends the job at once (retryStrategy EXIT).
    expect(record.error?.name).toBe('States.TaskFailed');
    const job = JSON.parse(record.error?.cause ?? '{}');
    expect(job).toMatchObject({ Status: 'FAILED', JobName: 'fibbars-consolidate', Container: { ExitCode: 3 } });
    expect(jobs.map((j) => j.job.state)).toEqual(['Consolidate']);
    const expected =
      `fibbars execution ${record.runId} failed in state Consolidate: States.TaskFailed: batch job ${job.JobId} (fibbars-consolidate) ` +
      `exited with code 3 (DataQualityError) after 1 attempt(s): Essential container in task exited; logs: run record ${record.runId} ${job.Container.LogStreamName}`;
    expect(alerts.map((a) => a.message)).toEqual([expected]);
    expect(record.alert).toMatchObject({ message: expected, subject: 'fibbars daily pipeline failed' });
    expect(record.states.find((s) => s.name === 'Consolidate')).toMatchObject({ status: 'caught', attempts: 1, error: { name: 'States.TaskFailed' } });
    expect(record.states.some((s) => s.name === 'Resample')).toBe(false);
    expect(events.at(-1)).toMatchObject({ type: 'execution-failed', state: 'PipelineFailed', error: { name: 'States.TaskFailed' } });
    const stored = await getRun(lake, record.runId);
    expect(stored?.alert?.message).toBe(expected);
  });

  it('runs the consolidator job a second time on a commit conflict (Batch retryStrategy), then goes on', async () => {
    const jobs: JobLogEntry[] = [];
    const record = await runLocalPipeline({
      lake,
      source,
      retryWaitScale: 0.001,
      bindings: {
        ohlcv: okFetch('ohlcv'),
        meta: okFetch('meta'),
        batch: recordingBatch(jobs, {
          ms: 5,
          fail: (job, attempt) => (job.state === 'Consolidate' && attempt === 1 ? 4 : undefined),
        }),
      },
    });
    expect(record.status).toBe('SUCCEEDED');
    const consolidate = jobs.filter((j) => j.job.state === 'Consolidate');
    expect(consolidate.map((j) => j.job.attempt)).toEqual([1, 2]);
    expect(new Set(consolidate.map((j) => j.job.jobId)).size).toBe(1);
    // One task attempt in the state machine; the second run is Batch's.
    expect(record.states.find((s) => s.name === 'Consolidate')).toMatchObject({ attempts: 1, status: 'succeeded', output: { attempts: 2 } });
    expect(record.states.find((s) => s.name === 'Consolidate')?.batchAttempts?.map((a) => a.exitCode)).toEqual([4, 0]);
  });

  it('alerts naming the Resample stage when one resampler branch fails, and stops the other jobs', async () => {
    const alerts: Alert[] = [];
    const jobs: JobLogEntry[] = [];
    const record = await runLocalPipeline({
      lake,
      source,
      bindings: {
        ohlcv: okFetch('ohlcv'),
        meta: okFetch('meta'),
        batch: recordingBatch(jobs, {
          slow: (job) => (job.state === 'Resample13d' ? 20 : job.state === 'Consolidate' ? 5 : 5_000),
          fail: (job) => (job.state === 'Resample13d' ? 2 : undefined),
        }),
        alert: (a) => {
          alerts.push(a);
        },
      },
    });
    expect(record.status).toBe('FAILED');
    expect(record.finalState).toBe('PipelineFailed');
    const job = JSON.parse(record.error?.cause ?? '{}');
    expect(alerts.map((a) => a.message)).toEqual([
      `fibbars execution ${record.runId} failed in state Resample: States.TaskFailed: batch job ${job.JobId} (fibbars-resample-13d) ` +
        `exited with code 2 (ConfigError) after 1 attempt(s): Essential container in task exited; logs: run record ${record.runId} ${job.Container.LogStreamName}`,
    ]);
    expect(record.states.find((s) => s.name === 'Resample13d')).toMatchObject({ status: 'failed', error: { name: 'States.TaskFailed' } });
    const others = jobs.filter((j) => j.job.state.startsWith('Resample') && j.job.state !== 'Resample13d');
    expect(others).toHaveLength(DEFAULT_INTERVALS.length - 1);
    expect(others.every((j) => j.aborted)).toBe(true);
    expect(record.states.filter((s) => s.status === 'aborted').map((s) => s.name).sort()).toEqual(others.map((j) => j.job.state).sort());
  });

  it('keeps running when the event listener throws', async () => {
    let calls = 0;
    const record = await runLocalPipeline({
      lake,
      source,
      onEvent: () => {
        calls += 1;
        throw new Error('display broke');
      },
      bindings: { ohlcv: okFetch('ohlcv'), meta: okFetch('meta'), batch: recordingBatch([], { ms: 1 }) },
    });
    expect(record.status).toBe('SUCCEEDED');
    expect(calls).toBeGreaterThan(10);
  });

  it('resamples exactly the intervals asked for', async () => {
    const jobs: JobLogEntry[] = [];
    const record = await runLocalPipeline({ lake, source, intervals: [2, 4], bindings: { ohlcv: okFetch('ohlcv'), meta: okFetch('meta'), batch: recordingBatch(jobs, { ms: 5 }) } });
    expect(record.intervals).toEqual([2, 4]);
    expect(jobs.map((j) => j.job.command.join(' ')).sort()).toEqual(['consolidate', 'resample --days 2', 'resample --days 4']);
  });
});

describe('runLocalPipeline input checks', () => {
  const bindings = { ohlcv: okFetch('ohlcv'), meta: okFetch('meta'), batch: recordingBatch([]) };

  it.each([
    [{ date: '2024-02-30' }, 'date "2024-02-30" is not a calendar date YYYY-MM-DD'],
    [{ date: 'yesterday' }, 'date "yesterday" is not a calendar date YYYY-MM-DD'],
    [{ intervals: [3, 3] }, 'intervals: 3 is listed twice'],
    [{ retryWaitScale: -1 }, 'retryWaitScale -1 must be a finite number >= 0'],
  ])('refuses %j with a ConfigError and writes nothing', async (bad, message) => {
    const run = runLocalPipeline({ lake, source, bindings, ...bad });
    await expect(run).rejects.toThrow(ConfigError);
    await expect(run).rejects.toThrow(message);
    expect(await readdir(lake)).toEqual([]);
  });

  it('refuses a run id that cannot name a file, before writing anything', async () => {
    await expect(runLocalPipeline({ lake, source, bindings, runId: '../escape' })).rejects.toThrow(ConfigError);
    expect(await readdir(lake)).toEqual([]);
  });

  it('refuses an unsupported lake URI', async () => {
    await expect(runLocalPipeline({ lake: 'ftp://host/lake', source, bindings })).rejects.toThrow(/unsupported scheme/);
  });
});

describe('listRuns and getRun', () => {
  it('list the runs newest first and read one back; an unknown id is null', async () => {
    const bindings = { ohlcv: okFetch('ohlcv'), meta: okFetch('meta'), batch: recordingBatch([], { ms: 1 }) };
    const first = await runLocalPipeline({ lake, source, bindings });
    const second = await runLocalPipeline({
      lake,
      source,
      bindings: { ...bindings, batch: recordingBatch([], { ms: 1, fail: () => 3 }), alert: () => {} },
    });
    const runs = await listRuns(lake);
    expect(runs.map((r) => [r.runId, r.status])).toEqual([
      [second.runId, 'FAILED'],
      [first.runId, 'SUCCEEDED'],
    ]);
    expect((await getRun(lake, first.runId))?.states).toEqual(JSON.parse(JSON.stringify(first.states)));
    expect(await getRun(lake, 'no-such-run')).toBeNull();
    expect(existsSync(path.join(lake, '_runs'))).toBe(true);
  });
});
