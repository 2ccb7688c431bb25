// The CLI edge in-process: argument parsing, the order of validation and work,
// the log lines and the mapping of errors to exit codes. The core jobs are
// replaced by recording functions here; tests/integration runs the real ones
// through the built bundle.
import { describe, expect, it } from '@jest/globals';
import { CommitConflictError, ConfigError, DataQualityError } from '@fibbars/ohlcv-core/errors';
import { main, type MainDeps } from '../../src/main.js';
import type { ConsolidateJobOptions, ConsolidateReport, CoreJobs, Lake, ResampleJobOptions, ResampleReport } from '../../src/jobs.js';

interface Recorded {
  calls: string[];
  consolidate: ConsolidateJobOptions[];
  resample: ResampleJobOptions[];
}

function consolidateReport(runId: string): ConsolidateReport {
  return {
    runId,
    status: 'committed',
    sessions: ['2024-01-02'],
    skippedSessions: [],
    rows: { received: 10, accepted: 10, collapsed: 0, quarantined: 0, superseded: 0 },
    partitionsWritten: ['year=2024'],
    quarantineFiles: 0,
    splitsAdded: 0,
    splitsWithdrawn: 0,
    dividendsAdded: 0,
    dividendsWithdrawn: 0,
    withdrawalsRefused: [],
    tickersRows: null,
    tickerHistoryRows: null,
    versions: {
      ohlcv_1d: { version: 1, committed: true },
      splits: { version: null, committed: false },
      dividends: { version: null, committed: false },
      tickers: { version: null, committed: false },
      ticker_history: { version: null, committed: false },
    },
    latestSession: '2024-01-02',
    gcDeleted: 0,
  };
}

function resampleReport(runId: string, list: readonly number[]): ResampleReport {
  return {
    runId,
    status: 'committed',
    intervals: list.map((days) => (
      {
        days,
        dataset: `ohlcv_${days}d`,
        mode: 'full',
        sourceVersion: 1,
        version: 1,
        committed: true,
        bucketsRecomputed: 0,
        tickersRecomputed: [],
        partitionsWritten: ['year=2024'],
        barsWritten: days * 10,
        bytesWritten: days * 1000,
      }
    )),
    gcDeleted: 0,
  };
}

function harness(behaviour: { consolidate?: () => Promise<ConsolidateReport>; resample?: (days: readonly number[]) => Promise<ResampleReport> } = {}) {
  const recorded: Recorded = { calls: [], consolidate: [], resample: [] };
  const out: string[] = [];
  const err: string[] = [];
  const jobs: CoreJobs = {
    openLake(uri) {
      recorded.calls.push(`openLake ${uri}`);
      return { uri } as unknown as Lake;
    },
    async consolidateLake(_lake, options) {
      recorded.calls.push('consolidateLake');
      recorded.consolidate.push(options);
      return behaviour.consolidate ? behaviour.consolidate() : consolidateReport(options.runId);
    },
    async resampleLake(_lake, options) {
      recorded.calls.push(`resampleLake ${options.days}`);
      recorded.resample.push(options);
      return behaviour.resample ? behaviour.resample(options.days) : resampleReport(options.runId, options.days);
    },
    async commitPartitions(_lake, options) {
      recorded.calls.push(`commitPartitions ${options.days} ${options.partitions}`);
      return resampleReport(options.runId, options.days);
    },
  };
  const deps: MainDeps = { jobs, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
  const lines = (chunks: string[]) =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { recorded, deps, out, err, stdoutLines: () => lines(out), stderrLines: () => lines(err) };
}

const ENV = { FIBBARS_LAKE: '/data/lake', FIBBARS_RUN_ID: 'run-7', FIBBARS_HEARTBEAT_MS: '0' };

describe('main consolidate', () => {
  it('passes the run id and threshold to consolidateLake and ends stdout with the report', async () => {
    const h = harness();
    const code = await main(['consolidate', '--date', '2024-01-02'], { ...ENV, MAX_REJECTED_SHARE: '0.02' }, h.deps);

    expect(code).toBe(0);
    expect(h.recorded.calls).toEqual(['openLake /data/lake', 'consolidateLake']);
    expect(h.recorded.consolidate).toEqual([{ runId: 'run-7', maxRejectedShare: 0.02 }]);
    const lines = h.stdoutLines();
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'start', command: 'consolidate', lake: '/data/lake', runId: 'run-7' });
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'progress', stage: 'consolidate', status: 'finished', sessions: 1, rows: expect.objectContaining({ accepted: 10 }), partitions: ['year=2024'] }),
    );
    expect(lines.at(-1)).toMatchObject({
      level: 'info',
      msg: 'done',
      report: { command: 'consolidate', runId: 'run-7', sessions: ['2024-01-02'], status: 'committed', consolidate: consolidateReport('run-7') },
    });
    expect(h.err).toEqual([]);
  });
});

describe('main with ticker partitions', () => {
  it('passes --partition i/P to resampleLake, and commit-partitions --partitions P to commitPartitions', async () => {
    const h = harness();
    expect(await main(['resample', '--days', '3,5', '--partition', '1/4'], ENV, h.deps)).toBe(0);
    expect(h.recorded.resample.map((o) => o.partition)).toEqual([{ index: 1, count: 4 }]);
    expect(await main(['commit-partitions', '--days', '3,5', '--partitions', '4'], ENV, h.deps)).toBe(0);
    expect(h.recorded.calls.at(-1)).toBe('commitPartitions 3,5 4');
    const env = await main(['resample', '--days', '3'], { ...ENV, FIBBARS_PARTITION: '3/4' }, h.deps);
    expect(env).toBe(0);
    expect(h.recorded.resample.at(-1)?.partition).toEqual({ index: 3, count: 4 });
  });

  it('rejects a bad partition or partition count with exit 2 and one line naming the flag, before the lake is opened', async () => {
    for (const [argv, text] of [
      [['resample', '--days', '3', '--partition', '4/4'], '--partition must be i/P'],
      [['resample', '--days', '3', '--partition', 'two'], '--partition must be i/P'],
      [['commit-partitions', '--days', '3', '--partitions', '1'], '--partitions must be a whole number of partitions from 2'],
      [['commit-partitions', '--days', '3'], 'no partition count given'],
    ] as const) {
      const h = harness();
      expect(await main([...argv], ENV, h.deps)).toBe(2);
      expect(h.recorded.calls).toEqual([]);
      expect(h.stderrLines()).toEqual([expect.objectContaining({ level: 'error', error: 'ConfigError', message: expect.stringContaining(text) })]);
    }
  });
});

describe('main resample', () => {
  it('resamples the listed intervals in one pass and reports each', async () => {
    const h = harness();
    const code = await main(['resample', '--days', '8,3'], { ...ENV, RESAMPLE_DAYS: '5' }, h.deps);

    expect(code).toBe(0);
    expect(h.recorded.calls).toEqual(['openLake /data/lake', 'resampleLake 8,3']);
    const done = h.stdoutLines().at(-1);
    expect(done).toMatchObject({ msg: 'done', report: { command: 'resample', status: 'committed', resample: [{ days: 8, barsWritten: 80 }, { days: 3, barsWritten: 30 }] } });
    expect((done?.['report'] as { maxRssMiB: number }).maxRssMiB).toBeGreaterThan(0);
  });

  it('takes the intervals from RESAMPLE_DAYS when no flag is given', async () => {
    const h = harness();
    expect(await main(['resample'], { ...ENV, RESAMPLE_DAYS: '13' }, h.deps)).toBe(0);
    expect(h.recorded.resample.map((o) => o.days)).toEqual([[13]]);
  });

  it('reports a failure of the pass with the exit code of its error', async () => {
    const h = harness({
      resample: async () => {
        throw new CommitConflictError('ohlcv_5d version 4 was published by another writer');
      },
    });
    expect(await main(['resample', '--days', '3,5,8'], ENV, h.deps)).toBe(4);
    expect(h.recorded.calls).toEqual(['openLake /data/lake', 'resampleLake 3,5,8']);
  });
});

describe('main exit codes', () => {
  it.each([
    ['DataQualityError', new DataQualityError('2024-01-02: 40% of rows rejected (max 1%)'), 3],
    ['CommitConflictError', new CommitConflictError('ohlcv_1d version 3 exists'), 4],
    ['ConfigError', new ConfigError('lake folder is a file'), 2],
    ['TypeError', new TypeError('boom'), 1],
  ] as const)('exits with the code of a %s thrown by the job and logs one error line', async (name, error, expected) => {
    const h = harness({ consolidate: () => Promise.reject(error) });
    const code = await main(['consolidate'], ENV, h.deps);

    expect(code).toBe(expected);
    expect(h.stderrLines()).toEqual([{ level: 'error', error: name, message: error.message }]);
    expect(h.stdoutLines().map((l) => l['msg'])).not.toContain('done');
  });

  it('puts a multi-line message and its cause on one line', async () => {
    const cause = new Error('ECONNRESET\nsocket hang up');
    const h = harness({ consolidate: () => Promise.reject(new Error('reading raw/ohlcv failed', { cause })) });
    expect(await main(['consolidate'], ENV, h.deps)).toBe(1);
    expect(h.err).toHaveLength(1);
    expect(h.stderrLines()).toEqual([{ level: 'error', error: 'Error', message: 'reading raw/ohlcv failed: ECONNRESET socket hang up' }]);
  });

  it.each([
    ['no command', [], {}],
    ['an unknown command', ['rebuild'], ENV],
    ['an unknown option', ['consolidate', '--dry-run'], ENV],
    ['a missing option value', ['resample', '--days'], ENV],
    ['no lake', ['consolidate'], { FIBBARS_HEARTBEAT_MS: '0' }],
    ['a bad interval', ['resample', '--days', '0'], ENV],
    ['a bad threshold', ['consolidate'], { ...ENV, MAX_REJECTED_SHARE: 'lots' }],
  ] as const)('exits 2 with a ConfigError before opening the lake on %s', async (_case, argv, env) => {
    const h = harness();
    const code = await main(argv, env, h.deps);

    expect(code).toBe(2);
    expect(h.recorded.calls).toEqual([]);
    expect(h.out).toEqual([]);
    const errors = h.stderrLines();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 'error', error: 'ConfigError' });
    expect(String(errors[0]?.['message'])).not.toMatch(/\n/);
  });

  it('prints help and exits 0 on --help', async () => {
    const h = harness();
    expect(await main(['resample', '--help'], {}, h.deps)).toBe(0);
    expect(h.out.join('')).toContain('--days <list>');
    expect(h.recorded.calls).toEqual([]);
  });

  it('prints help for a command and exits 0 on "help resample"', async () => {
    const h = harness();
    expect(await main(['help', 'resample'], {}, h.deps)).toBe(0);
    expect(h.out.join('')).toContain('--days <list>');
  });

  it('prints the version on --version', async () => {
    const h = harness();
    expect(await main(['--version'], {}, h.deps)).toBe(0);
    expect(h.out.join('').trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('main heartbeat', () => {
  it('logs the stage and memory while a job runs longer than the heartbeat interval', async () => {
    // The job ends only once two heartbeats were logged, so a loaded machine
    // that delays timers slows the test down but cannot make it fail.
    const beatsSoFar = () => h.stdoutLines().filter((l) => l['msg'] === 'heartbeat').length;
    const h = harness({
      consolidate: () =>
        new Promise((resolve) => {
          const poll = setInterval(() => {
            if (beatsSoFar() < 2) return;
            clearInterval(poll);
            resolve(consolidateReport('run-7'));
          }, 5);
        }),
    });
    expect(await main(['consolidate'], { ...ENV, FIBBARS_HEARTBEAT_MS: '20' }, h.deps)).toBe(0);
    const beats = h.stdoutLines().filter((l) => l['msg'] === 'heartbeat');
    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect(beats[0]).toMatchObject({ stage: 'consolidate' });
    expect(beats[0]?.['rssMiB']).toEqual(expect.any(Number));
  });
});
