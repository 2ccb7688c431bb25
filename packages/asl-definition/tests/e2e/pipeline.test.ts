// The whole pipeline with the real parts: the golden definition run by
// aws-local-stepfunctions, the fetcher handlers in process on the synthetic
// market, and the batch-runner bundle in child processes, on a temp lake.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SyntheticSource, RateLimitedError, type MarketSource } from '@fibbars/fetchers';
import { openLake, resample } from '@fibbars/ohlcv-core';
import { batchRunnerBundlePath, createBatchRunnerBinding, getRun, runLocalPipeline, type Alert, type LocalEvent } from '../../src/local.js';
import { DEFAULT_INTERVALS } from '../../src/index.js';

const SESSION = '2024-03-08';
let lake: string;

beforeAll(() => {
  const bundle = batchRunnerBundlePath();
  if (!existsSync(bundle)) {
    throw new Error(`batch-runner bundle missing at ${bundle}: run \`nx run batch-runner:bundle\` (the nx test target does it)`);
  }
});
beforeEach(async () => {
  lake = await mkdtemp(path.join(tmpdir(), 'fibbars-e2e-'));
});
afterEach(async () => {
  await rm(lake, { recursive: true, force: true });
});

const market = () => new SyntheticSource({ seed: 7, tickers: 40 });

/** The synthetic market, answering RateLimitedError to the first `failures` daily-bar requests. */
function rateLimitedMarket(failures: number): MarketSource & { calls: number } {
  const inner = market();
  const source = {
    name: inner.name,
    calls: 0,
    async groupedDaily(session: string) {
      source.calls += 1;
      if (source.calls <= failures) throw new RateLimitedError(`vendor answered 429 (request ${source.calls})`);
      return inner.groupedDaily(session);
    },
    tickers: (asOf?: string) => inner.tickers(asOf),
    splits: (session: string) => inner.splits(session),
    dividends: (from: string, to?: string) => inner.dividends(from, to),
    tickerEvents: async () => ({ pages: [], requests: [], rows: 0 }),
  };
  return source;
}

const sortRows = (rows: Record<string, unknown>[]) => [...rows].sort((a, b) => String(a.ticker).localeCompare(String(b.ticker)));

describe('the local pipeline with the real handlers and the real batch-runner', () => {
  it('fetches, consolidates and resamples a session into the lake, and records every state', async () => {
    const events: LocalEvent[] = [];
    const record = await runLocalPipeline({ lake, date: SESSION, source: market(), onEvent: (e) => events.push(e) });

    expect(record.error).toBeUndefined();
    expect(record.status).toBe('SUCCEEDED');
    expect(record.source).toBe('synthetic');
    expect(record.states.filter((s) => s.status !== 'succeeded')).toEqual([]);
    const fetched = record.states.find((s) => s.name === 'FetchOhlcv')?.output as { sessions: string[]; caughtUp: string[]; rawKeys: string[]; rows: number };
    expect(fetched.sessions).toEqual([SESSION]);
    // The run record says which sessions were fetched late (none here: no hole in the lookback window).
    expect(fetched.caughtUp).toEqual([]);
    for (const key of fetched.rawKeys) expect(existsSync(path.join(lake, key))).toBe(true);

    const store = openLake(lake);
    const daily = await store.read('ohlcv_1d');
    const consolidated = (record.states.find((s) => s.name === 'Consolidate')?.output as { report: { consolidate: { rows: { accepted: number } } } })
      .report.consolidate;
    expect(daily.height).toBe(consolidated.rows.accepted);
    expect(daily.height).toBeGreaterThan(0);
    expect(daily.height).toBeLessThanOrEqual(fetched.rows);

    for (const days of DEFAULT_INTERVALS) {
      expect(await store.head(`ohlcv_${days}d`)).not.toBeNull();
    }
    // The bars the Batch job committed are the bars ohlcv-core computes from the committed daily history.
    const bars = await store.read('ohlcv_3d');
    const reference = resample(daily, { days: 3 });
    const pick = (df: typeof bars) => sortRows(df.select('ticker', 'start_date', 'close', 'volume', 'n_days').toRecords() as Record<string, unknown>[]);
    expect(pick(bars)).toEqual(pick(reference));

    expect(await getRun(lake, record.runId)).toEqual(JSON.parse(JSON.stringify(record)));
    expect(events.at(-1)).toMatchObject({ type: 'execution-succeeded', state: 'PipelineSucceeded' });
  });

  it('succeeds on a non-trading day: the fetchers report no-session and the jobs commit nothing', async () => {
    const saturday = '2024-03-09';
    const record = await runLocalPipeline({ lake, date: saturday, source: market(), intervals: [3] });
    expect(record.status).toBe('SUCCEEDED');
    expect(record.states.find((s) => s.name === 'FetchOhlcv')?.output).toMatchObject({ status: 'no-session', sessions: [] });
    const consolidate = record.states.find((s) => s.name === 'Consolidate')?.output as { report: { consolidate: { status: string } } };
    expect(consolidate.report.consolidate.status).toBe('no-change');
    expect(await openLake(lake).head('ohlcv_1d')).toBeNull();
  });

  it('retries the real ohlcv handler through two RateLimitedErrors, then succeeds', async () => {
    const source = rateLimitedMarket(2);
    const logged: string[] = [];
    const logger = { info: () => {}, warn: () => {}, error: (_m: string, e?: Record<string, unknown>) => void logged.push(String(e?.error)) };
    const record = await runLocalPipeline({ lake, date: SESSION, source, logger, intervals: [3], retryWaitScale: 0.01 });
    expect(logged).toEqual(['RateLimitedError', 'RateLimitedError']);
    expect(record.status).toBe('SUCCEEDED');
    expect(source.calls).toBe(3);
    const fetch = record.states.find((s) => s.name === 'FetchOhlcv');
    expect(fetch?.attempts).toBe(3);
    expect(fetch?.retries.map((r) => r.error.name)).toEqual(['RateLimitedError', 'RateLimitedError']);
    // Each attempt is a new invocation: the message names the function and its own request id.
    const messages = fetch?.retries.map((r) => JSON.parse(r.error.cause).errorMessage as string) ?? [];
    expect(messages).toEqual([
      expect.stringMatching(/^vendor answered 429 \(request 1\) \(function fibbars-ohlcv, request [0-9a-f-]{36}\)$/),
      expect.stringMatching(/^vendor answered 429 \(request 2\) \(function fibbars-ohlcv, request [0-9a-f-]{36}\)$/),
    ]);
    expect(new Set(messages.map((m) => m.slice(-37))).size).toBe(2);
    expect(await openLake(lake).head('ohlcv_3d')).not.toBeNull();
  });

  it('alerts with the error name and cause when the real consolidator fails, and ends PipelineFailed', async () => {
    const alerts: Alert[] = [];
    const record = await runLocalPipeline({
      lake,
      date: SESSION,
      source: market(),
      intervals: [3],
      retryWaitScale: 0.001,
      batchEnv: { MAX_REJECTED_SHARE: 'a lot' },
      bindings: { alert: (a) => void alerts.push(a) },
    });
    expect(record.status).toBe('FAILED');
    expect(record.finalState).toBe('PipelineFailed');
    const consolidate = record.states.find((s) => s.name === 'Consolidate');
    // As AWS reports a FAILED job: States.TaskFailed, the job description as the cause;
    // exit code 2 (ConfigError) is not retried by the job definition's retryStrategy.
    expect(consolidate).toMatchObject({ status: 'caught', attempts: 1, error: { name: 'States.TaskFailed' } });
    const job = JSON.parse(consolidate?.error?.cause ?? '{}');
    expect(job).toMatchObject({ Status: 'FAILED', JobName: 'fibbars-consolidate', Container: { ExitCode: 2 } });
    expect(job.Attempts).toHaveLength(1);
    expect(consolidate?.batchAttempts?.map((a) => a.exitCode)).toEqual([2]);
    // The job's own error line stays in its log, as on CloudWatch.
    expect(consolidate?.batchAttempts?.[0]?.logTail.join('\n')).toMatch(/ConfigError.*MAX_REJECTED_SHARE/);
    expect(record.error).toEqual(consolidate?.error);
    expect(alerts.map((a) => a.message)).toEqual([
      `fibbars execution ${record.runId} failed in state Consolidate: States.TaskFailed: batch job ${job.JobId} (fibbars-consolidate) ` +
        `exited with code 2 (ConfigError) after 1 attempt(s): Essential container in task exited; ` +
        `logs: run record ${record.runId} ${job.Container.LogStreamName}`,
    ]);
    expect(record.alert?.message).toBe(alerts[0]?.message);
    expect(record.states.some((s) => s.name.startsWith('Resample'))).toBe(false);
    expect(await openLake(lake).head('ohlcv_1d')).toBeNull();
  });

  it('alerts naming the Resample stage when one real resampler fails', async () => {
    // Block the 5-day commit log with a plain file: that job, and only that one, cannot commit.
    await mkdir(path.join(lake, '_commits'), { recursive: true });
    await writeFile(path.join(lake, '_commits', 'ohlcv_5d'), 'not a folder');
    const alerts: Alert[] = [];
    const record = await runLocalPipeline({
      lake,
      date: SESSION,
      source: market(),
      intervals: [3, 5],
      bindings: { alert: (a) => void alerts.push(a) },
    });
    expect(record.status).toBe('FAILED');
    expect(record.finalState).toBe('PipelineFailed');
    const failed = record.states.find((s) => s.name === 'Resample5d');
    expect(failed?.status).toBe('failed');
    expect(failed?.error?.name).toBe('States.TaskFailed');
    const job = JSON.parse(failed?.error?.cause ?? '{}');
    expect(job).toMatchObject({ Status: 'FAILED', JobName: 'fibbars-resample-5d', Container: { ExitCode: 1 } });
    expect(failed?.batchAttempts?.[0]?.logTail.join('\n')).toMatch(/EEXIST.*_commits\/ohlcv_5d/);
    expect(record.error).toEqual(failed?.error);
    expect(alerts.map((a) => a.message)).toEqual([
      `fibbars execution ${record.runId} failed in state Resample: States.TaskFailed: batch job ${job.JobId} (fibbars-resample-5d) ` +
        `exited with code 1 (Error) after 1 attempt(s): Essential container in task exited; logs: run record ${record.runId} ${job.Container.LogStreamName}`,
    ]);
    expect(record.states.find((s) => s.name === 'Consolidate')?.status).toBe('succeeded');
  });

  it('runs the partitioned definition (P = 4): every interval a Distributed Map of partition jobs and a fan-in commit, equal to P = 1', async () => {
    const single = await mkdtemp(path.join(tmpdir(), 'fibbars-e2e-p1-'));
    try {
      const one = await runLocalPipeline({ lake: single, date: SESSION, source: market(), intervals: [3, 5] });
      const four = await runLocalPipeline({ lake, date: SESSION, source: market(), intervals: [3, 5], partitions: 4, maxConcurrency: 2 });
      expect([one.status, four.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
      // Then daily runs, incremental on both lakes (the synthetic market's splits included).
      for (const date of ['2024-03-11', '2024-03-12', '2024-03-13']) {
        const [a, b] = [
          await runLocalPipeline({ lake: single, date, source: market(), intervals: [3, 5] }),
          await runLocalPipeline({ lake, date, source: market(), intervals: [3, 5], partitions: 4, maxConcurrency: 2 }),
        ];
        expect([date, a.status, b.status]).toEqual([date, 'SUCCEEDED', 'SUCCEEDED']);
      }
      expect((await openLake(lake).read('splits')).height).toBe((await openLake(single).read('splits')).height);
      expect(four.partitions).toBe(4);
      const names = four.states.map((s) => s.name);
      for (const i of [0, 1, 2, 3]) expect(names).toContain(`Resample3dPartition#${i}`);
      expect(four.states.find((s) => s.name === 'Commit5dPartitions')?.status).toBe('succeeded');
      for (const days of [3, 5]) {
        const a = await openLake(single).read(`ohlcv_${days}d`);
        const b = await openLake(lake).read(`ohlcv_${days}d`);
        expect(b.height).toBeGreaterThan(0);
        expect(sortRows(b.toRecords())).toEqual(sortRows(a.toRecords()));
        expect((await openLake(lake).head(`ohlcv_${days}d`))?.meta.partitions).toBe(4);
      }
    } finally {
      await rm(single, { recursive: true, force: true });
    }
  });

  it('alerts once with the Map Run error when one partition job is killed, publishes no version of its interval, and the re-run repairs', async () => {
    const real = createBatchRunnerBinding();
    // Partition 2/4 of the 3-session bars is killed (SIGKILL) shortly after it starts; every other job runs as it would.
    const batch: typeof real = (job, signal) => {
      if (job.command.join(' ') !== 'resample --days 3 --partition 2/4') return real(job, signal);
      const kill = new AbortController();
      setTimeout(() => kill.abort(), 150);
      return real(job, AbortSignal.any([signal, kill.signal]));
    };
    const alerts: Alert[] = [];
    const failed = await runLocalPipeline({ lake, date: SESSION, source: market(), intervals: [3], partitions: 4, bindings: { batch, alert: (a) => void alerts.push(a) } });
    expect(failed.status).toBe('FAILED');
    expect(failed.error?.name).toBe('States.ExceedToleratedFailureThreshold');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.message).toContain(`fibbars execution ${failed.runId} failed in state Resample: States.ExceedToleratedFailureThreshold: `);
    expect(await openLake(lake).head('ohlcv_3d')).toBeNull();

    const again = await runLocalPipeline({ lake, date: SESSION, source: market(), intervals: [3], partitions: 4 });
    expect(again.status).toBe('SUCCEEDED');
    const daily = await openLake(lake).read('ohlcv_1d');
    const bars = await openLake(lake).read('ohlcv_3d');
    expect(bars.height).toBe(new Set(daily.getColumn('ticker').toArray()).size);
    expect(await openLake(lake).store.list('_staging/')).toEqual([]);
  });

  it('alerts once and publishes no version when a partition job fails with each named error (exit codes 1 to 4)', async () => {
    const real = createBatchRunnerBinding();
    for (const [exitCode, name] of [[1, 'Error'], [2, 'ConfigError'], [3, 'DataQualityError'], [4, 'CommitConflictError']] as const) {
      const dir = await mkdtemp(path.join(tmpdir(), `fibbars-e2e-exit${exitCode}-`));
      try {
        // Partition 1/4 ends as a container that exited with this code (its JSON error line on stderr); the rest are the real jobs.
        const batch: typeof real = async (job, signal) =>
          job.command.join(' ') === 'resample --days 3 --partition 1/4'
            ? { exitCode, logTail: [JSON.stringify({ level: 'error', error: name, message: `injected ${name}` })] }
            : real(job, signal);
        const alerts: Alert[] = [];
        const record = await runLocalPipeline({ lake: dir, date: SESSION, source: market(), intervals: [3], partitions: 4, bindings: { batch, alert: (a) => void alerts.push(a) } });
        expect({ exitCode, status: record.status, error: record.error?.name, alerts: alerts.length }).toEqual({
          exitCode,
          status: 'FAILED',
          error: 'States.ExceedToleratedFailureThreshold',
          alerts: 1,
        });
        expect(record.states.find((s) => s.name === 'Commit3dPartitions')).toBeUndefined();
        expect(await openLake(dir).head('ohlcv_3d')).toBeNull();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });
});
