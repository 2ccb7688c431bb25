/**
 * Execution control of the local engine: the lease that tells a dead run from
 * a live one, stop requests, and redrive (a new attempt of the same execution
 * from the state that did not succeed).
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '@fibbars/ohlcv-core/errors';
import { InvalidResponseError } from '@fibbars/fetchers/errors';
import { SyntheticSource } from '@fibbars/fetchers';
import { openStore, RunStore } from '@fibbars/ohlcv-core/storage';
import { getRun, listRuns, runLocalPipeline, type FetchEvent, type FetchHandler, type PipelineRunRecord } from '../../src/local.js';
import { deadRunReason, reconcileRun, stopRun } from '../../src/runs.js';
import { okFetch, recordingBatch, sleep, type JobLogEntry } from '../support/fakes.js';

let lake: string;
let runs: RunStore;
beforeEach(async () => {
  lake = await mkdtemp(path.join(tmpdir(), 'fibbars-control-'));
  runs = new RunStore(openStore(lake));
});
afterEach(async () => {
  await rm(lake, { recursive: true, force: true });
});

const source = new SyntheticSource({ tickers: 10 });

/** The pid of a real process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid as number;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function runningRecord(lease: Record<string, unknown> | undefined): PipelineRunRecord {
  const t = '2026-11-20T21:30:00.000Z';
  return {
    runId: '20261120T213000000Z-deadbeef',
    engine: 'local',
    stateMachine: 'fibbars-daily-pipeline',
    input: { date: '2026-11-20' },
    lake,
    source: 'synthetic',
    intervals: [3],
    status: 'RUNNING',
    startedAt: t,
    ...(lease ? { lease: lease as never } : {}),
    states: [
      { name: 'FetchAll', type: 'Parallel', startedAt: t, endedAt: '2026-11-20T21:30:02.000Z', attempts: 1, status: 'succeeded', retries: [] },
      { name: 'Consolidate', type: 'Task', startedAt: '2026-11-20T21:30:02.000Z', attempts: 1, status: 'running', retries: [] },
    ],
  };
}

describe('the lease of a local run', () => {
  it('marks a RUNNING record whose process on this host is gone ABORTED, in the state it was in, and writes it back', async () => {
    const pid = await deadPid();
    const beat = '2026-11-20T21:30:05.000Z';
    const record = runningRecord({ host: hostname(), pid, heartbeatAt: beat, expiresAt: '2099-01-01T00:00:00.000Z' });
    await runs.put(record);

    const [listed] = await listRuns(lake);
    expect(listed).toMatchObject({ status: 'ABORTED', finalState: 'Consolidate', endedAt: beat, durationMs: 5000 });
    expect(listed?.abort).toMatchObject({ reason: 'process-exited', state: 'Consolidate', at: beat });
    expect(listed?.abort?.cause).toContain(`pid ${pid}`);
    expect(listed?.states.map((s) => [s.name, s.status])).toEqual([
      ['FetchAll', 'succeeded'],
      ['Consolidate', 'aborted'],
    ]);
    // Written back: the next reader sees it as it is, without deciding again.
    expect((await runs.get(record.runId))?.status).toBe('ABORTED');
  });

  it('ends the aborted state no earlier than it started when the process died before its next heartbeat', async () => {
    const pid = await deadPid();
    // Last beat at the start; Consolidate entered 2 s later; killed before the next beat.
    const record = runningRecord({ host: hostname(), pid, heartbeatAt: '2026-11-20T21:30:00.000Z', expiresAt: '2099-01-01T00:00:00.000Z' });
    const [listed] = await (async () => {
      await runs.put(record);
      return listRuns(lake);
    })();
    const consolidate = listed?.states.find((s) => s.name === 'Consolidate');
    expect(consolidate).toMatchObject({ status: 'aborted', endedAt: '2026-11-20T21:30:02.000Z' });
    expect(listed?.durationMs).toBe(2000);
  });

  it('keeps a run of a live process RUNNING until its lease expires, then aborts it', async () => {
    const live = { host: 'another-host', pid: 4242, heartbeatAt: '2026-11-20T21:30:05.000Z', expiresAt: '2026-11-20T21:30:35.000Z' };
    const record = runningRecord(live);
    await runs.put(record);
    expect(deadRunReason(record, new Date('2026-11-20T21:30:30.000Z'))).toBeNull();
    expect((await reconcileRun(runs, record, new Date('2026-11-20T21:30:30.000Z'))).status).toBe('RUNNING');
    const after = await reconcileRun(runs, record, new Date('2026-11-20T21:30:36.000Z'));
    expect(after).toMatchObject({ status: 'ABORTED', abort: { reason: 'lease-expired', state: 'Consolidate' } });
  });

  it('gives a lease-less RUNNING record (an older version) an hour of silence before aborting it', () => {
    const record = runningRecord(undefined);
    expect(deadRunReason(record, new Date('2026-11-20T22:00:00.000Z'))).toBeNull();
    expect(deadRunReason(record, new Date('2026-11-20T22:31:00.000Z'))).toMatchObject({ reason: 'lease-expired', at: '2026-11-20T21:30:02.000Z' });
  });

  it('renews the lease while the run is alive and drops it when the run ends', async () => {
    const jobs: JobLogEntry[] = [];
    const pending = runLocalPipeline({
      lake,
      date: '2024-03-08',
      source,
      heartbeatMs: 40,
      leaseMs: 400,
      bindings: { ohlcv: okFetch('ohlcv'), meta: okFetch('meta'), batch: recordingBatch(jobs, { ms: 400 }), alert: () => {} },
    });
    const first = await waitFor('a lease', async () => (await listRuns(lake))[0]?.lease);
    expect(first).toMatchObject({ host: hostname(), pid: process.pid });
    const later = await waitFor('a renewed lease', async () => {
      const lease = (await listRuns(lake))[0]?.lease;
      return lease && lease.heartbeatAt > first.heartbeatAt ? lease : undefined;
    });
    expect(Date.parse(later.expiresAt) - Date.parse(later.heartbeatAt)).toBe(400);
    const record = await pending;
    expect(record.status).toBe('SUCCEEDED');
    expect((await getRun(lake, record.runId))?.lease).toBeUndefined();
  });
});

describe('stopping a local run', () => {
  it('ends a running run ABORTED in the state it was in, stops its job, and clears the request', async () => {
    const jobs: JobLogEntry[] = [];
    const pending = runLocalPipeline({
      lake,
      date: '2024-03-08',
      source,
      heartbeatMs: 30,
      bindings: {
        ohlcv: okFetch('ohlcv'),
        meta: okFetch('meta'),
        batch: recordingBatch(jobs, { slow: (job) => (job.state === 'Consolidate' ? 20_000 : 10) }),
        alert: () => {},
      },
    });
    const running = await waitFor('Consolidate running', async () => {
      const r = (await listRuns(lake))[0];
      return r?.states.some((s) => s.name === 'Consolidate' && s.status === 'running') ? r : undefined;
    });
    const stopped = await stopRun(runs, running, { error: 'Operator', cause: 'wrong session' });
    expect(stopped).toMatchObject({ status: 'ABORTED', finalState: 'Consolidate', error: { name: 'Operator', cause: 'wrong session' } });
    expect(stopped.abort).toMatchObject({ reason: 'stopped', state: 'Consolidate', error: 'Operator', cause: 'wrong session' });
    const record = await pending;
    expect(record.status).toBe('ABORTED');
    expect(record.states.find((s) => s.name === 'Consolidate')?.status).toBe('aborted');
    expect(record.states.some((s) => s.name.startsWith('Resample'))).toBe(false);
    expect(jobs.find((j) => j.job.state === 'Consolidate')?.aborted).toBe(true);
    expect(await runs.stopRequest(record.runId)).toBeNull();
  });

  it('ends ABORTED when the stop is requested while its last job finishes, before any poll read it', async () => {
    // A heartbeat (and so a poll) of a minute never fires in this run: only the last
    // look before the record ends can see the request, made from inside the last job.
    const ok = recordingBatch([]);
    let requested = 0;
    const record = await runLocalPipeline({
      lake,
      date: '2024-03-08',
      source,
      heartbeatMs: 60_000,
      intervals: [3],
      bindings: {
        ohlcv: okFetch('ohlcv'),
        meta: okFetch('meta'),
        batch: async (job, signal) => {
          if (job.state.startsWith('Resample')) {
            const running = (await listRuns(lake))[0] as PipelineRunRecord;
            await runs.requestStop(running.runId, { runId: running.runId, at: new Date().toISOString(), redriveCount: 0, cause: 'late stop', by: { host: hostname(), pid: process.pid } });
            requested++;
          }
          return ok(job, signal);
        },
        alert: () => {},
      },
    });
    expect(requested).toBeGreaterThan(0);
    expect(record).toMatchObject({ status: 'ABORTED', abort: { reason: 'stopped', cause: 'late stop' } });
    expect(record.states.filter((s) => s.parent === undefined).every((s) => s.status === 'succeeded')).toBe(true);
    expect(await runs.stopRequest(record.runId)).toBeNull();
    expect((await listRuns(lake))[0]).toMatchObject({ runId: record.runId, status: 'ABORTED' });
  });

  it('refuses a stop poll that is not a positive number, before writing anything', async () => {
    await expect(runLocalPipeline({ lake, date: '2024-03-08', source, stopPollMs: 0 })).rejects.toThrow(/stopPollMs 0 must be > 0/);
    expect(await listRuns(lake)).toEqual([]);
  });

  it('ends the run ABORTED when the caller aborts its signal (Ctrl-C)', async () => {
    const controller = new AbortController();
    const pending = runLocalPipeline({
      lake,
      date: '2024-03-08',
      source,
      signal: controller.signal,
      bindings: { ohlcv: okFetch('ohlcv'), meta: okFetch('meta'), batch: recordingBatch([], { ms: 20_000 }), alert: () => {} },
    });
    await waitFor('Consolidate running', async () => ((await listRuns(lake))[0]?.states.some((s) => s.name === 'Consolidate') ? true : undefined));
    controller.abort('interrupted (SIGINT)');
    const record = await pending;
    expect(record).toMatchObject({ status: 'ABORTED', finalState: 'Consolidate', abort: { reason: 'stopped', cause: 'interrupted (SIGINT)' } });
  });
});

describe('redriving a local run', () => {
  it('re-runs a FAILED run from the failed state as a new attempt of the same execution', async () => {
    const ohlcvCalls: FetchEvent[] = [];
    const failedJobs: JobLogEntry[] = [];
    const failed = await runLocalPipeline({
      lake,
      date: '2024-03-08',
      source,
      retryWaitScale: 0.001,
      bindings: {
        ohlcv: okFetch('ohlcv', ohlcvCalls),
        meta: okFetch('meta'),
        // Exit 3 (DataQualityError): not retried by the job definition, then once by the state's Retry.
        batch: recordingBatch(failedJobs, { fail: (job) => (job.state === 'Consolidate' ? 3 : undefined) }),
        alert: () => {},
      },
    });
    expect(failed.status).toBe('FAILED');
    const before = failed.states.length;

    const jobs: JobLogEntry[] = [];
    const redriven = await runLocalPipeline({
      lake,
      redrive: failed,
      bindings: { ohlcv: okFetch('ohlcv', ohlcvCalls), meta: okFetch('meta'), batch: recordingBatch(jobs), alert: () => {} },
    });
    expect(redriven).toMatchObject({ runId: failed.runId, status: 'SUCCEEDED', redriveCount: 1, redriveFrom: 'Consolidate', startedAt: failed.startedAt });
    expect(redriven.finalState).toBe('PipelineSucceeded');
    expect(redriven.error).toBeUndefined();
    // The fetch succeeded the first time: not run again.
    expect(ohlcvCalls).toHaveLength(1);
    expect(jobs.map((j) => j.job.state).sort()).toEqual(['Consolidate', ...[13, 21, 3, 34, 5, 8].map((d) => `Resample${d}d`)].sort());
    // Consolidate gets the sessions the first attempt fetched, from its recorded input.
    expect(jobs.find((j) => j.job.state === 'Consolidate')?.job.environment.FIBBARS_SESSIONS).toBe('["2024-03-08"]');
    // The first attempt stays in the record as history; the new states carry the attempt.
    expect(redriven.states.slice(0, before)).toEqual(JSON.parse(JSON.stringify(failed.states)));
    expect(redriven.states.slice(before).every((s) => s.redrive === 1)).toBe(true);
    expect(redriven.states.slice(before)[0]).toMatchObject({ name: 'Consolidate', status: 'succeeded' });
    expect(await getRun(lake, failed.runId)).toEqual(JSON.parse(JSON.stringify(redriven)));
  });

  it('redrives only the branch of a Parallel state that failed, keeping the output of the one that succeeded', async () => {
    const ohlcvCalls: FetchEvent[] = [];
    const metaCalls: FetchEvent[] = [];
    // Fails after the daily bars were fetched (a sibling still running would be aborted, and redriven too).
    const badMeta: FetchHandler = async () => {
      await sleep(100);
      throw new InvalidResponseError('results is not an array');
    };
    const failed = await runLocalPipeline({
      lake,
      date: '2024-03-08',
      source,
      retryWaitScale: 0.001,
      bindings: { ohlcv: okFetch('ohlcv', ohlcvCalls), meta: badMeta, batch: recordingBatch([]), alert: () => {} },
    });
    expect(failed.status).toBe('FAILED');
    expect(failed.states.find((s) => s.name === 'FetchOhlcv')?.status).toBe('succeeded');
    const jobs: JobLogEntry[] = [];
    const redriven = await runLocalPipeline({
      lake,
      redrive: failed,
      bindings: { ohlcv: okFetch('ohlcv', ohlcvCalls), meta: okFetch('meta', metaCalls), batch: recordingBatch(jobs), alert: () => {} },
    });
    expect(redriven).toMatchObject({ status: 'SUCCEEDED', redriveFrom: 'FetchAll', redriveCount: 1 });
    expect(ohlcvCalls).toHaveLength(1);
    expect(metaCalls).toEqual([{ date: '2024-03-08', lake }]);
    const own = redriven.states.filter((s) => s.redrive === 1).map((s) => s.name);
    expect(own).toContain('FetchMeta');
    expect(own).not.toContain('FetchOhlcv');
    // The kept branch's output reached the next state.
    expect(jobs.find((j) => j.job.state === 'Consolidate')?.job.environment.FIBBARS_SESSIONS).toBe('["2024-03-08"]');
  });

  it('refuses to redrive a run that succeeded, before writing anything', async () => {
    const ok = await runLocalPipeline({
      lake,
      date: '2024-03-08',
      source,
      bindings: { ohlcv: okFetch('ohlcv'), meta: okFetch('meta'), batch: recordingBatch([]), alert: () => {} },
    });
    const stored = await getRun(lake, ok.runId);
    await expect(runLocalPipeline({ lake, redrive: ok })).rejects.toThrow(ConfigError);
    await expect(runLocalPipeline({ lake, redrive: ok })).rejects.toThrow(/is SUCCEEDED: only a FAILED, ABORTED or TIMED_OUT run can be redriven/);
    expect(await getRun(lake, ok.runId)).toEqual(stored);
  });

  it('redrives an ABORTED run from the state it was stopped in', async () => {
    const controller = new AbortController();
    const pending = runLocalPipeline({
      lake,
      date: '2024-03-08',
      source,
      signal: controller.signal,
      bindings: { ohlcv: okFetch('ohlcv'), meta: okFetch('meta'), batch: recordingBatch([], { ms: 20_000 }), alert: () => {} },
    });
    await waitFor('Consolidate running', async () => ((await listRuns(lake))[0]?.states.some((s) => s.name === 'Consolidate') ? true : undefined));
    controller.abort();
    const aborted = await pending;
    expect(aborted.status).toBe('ABORTED');
    const redriven = await runLocalPipeline({
      lake,
      redrive: aborted,
      bindings: { ohlcv: okFetch('ohlcv'), meta: okFetch('meta'), batch: recordingBatch([]), alert: () => {} },
    });
    expect(redriven).toMatchObject({ status: 'SUCCEEDED', redriveFrom: 'Consolidate', redriveCount: 1 });
    expect(redriven.abort).toBeUndefined();
  });
});
