import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { ConfigError } from '@fibbars/ohlcv-core/errors';
import { generateRunId, loadConfig } from '../../src/config.js';
import { VERSION } from '../../src/main.js';

const NOW = new Date('2026-11-26T21:30:00.123Z');

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('reads the lake, intervals and run id from the environment', () => {
    const config = loadConfig('resample', {}, { FIBBARS_LAKE: 's3://bucket/prefix', RESAMPLE_DAYS: '3,5,8', FIBBARS_RUN_ID: 'run-1' }, NOW);
    expect(config).toEqual({ command: 'resample', lake: 's3://bucket/prefix', runId: 'run-1', heartbeatMs: 15_000, days: [3, 5, 8] });
  });

  it('lets flags win over the environment', () => {
    const config = loadConfig(
      'consolidate',
      { lake: './other', runId: 'flag-run', maxRejectedShare: '0.05', date: '2024-03-01' },
      { FIBBARS_LAKE: './lake', FIBBARS_RUN_ID: 'env-run', MAX_REJECTED_SHARE: '0.5', FIBBARS_SESSIONS: '["2024-02-29"]' },
      NOW,
    );
    expect(config).toEqual({ command: 'consolidate', lake: './other', runId: 'flag-run', heartbeatMs: 15_000, maxRejectedShare: 0.05, sessions: ['2024-03-01'] });
  });

  it('drops repeated intervals and keeps the given order', () => {
    const config = loadConfig('resample', { days: '8, 3,8,5' }, { FIBBARS_LAKE: 'lake' }, NOW);
    expect(config.command === 'resample' && config.days).toEqual([8, 3, 5]);
  });

  it('reads the sessions as the state machine passes them (a JSON array) or as a comma list', () => {
    expect(loadConfig('resample', { days: '5' }, { FIBBARS_LAKE: 'lake', FIBBARS_SESSIONS: '["2024-06-04","2024-06-03"]' }, NOW).sessions).toEqual(['2024-06-03', '2024-06-04']);
    expect(loadConfig('consolidate', { sessions: '2024-06-03, 2024-06-04' }, { FIBBARS_LAKE: 'lake' }, NOW).sessions).toEqual(['2024-06-03', '2024-06-04']);
    expect(loadConfig('consolidate', {}, { FIBBARS_LAKE: 'lake', FIBBARS_SESSIONS: '[]' }, NOW).sessions).toEqual([]);
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig('consolidate', {}, { FIBBARS_LAKE: 'lake', MAX_REJECTED_SHARE: '', FIBBARS_RUN_ID: '' }, NOW);
    expect(config).not.toHaveProperty('maxRejectedShare');
    expect(config.runId).toMatch(/^batch-20261126T213000123Z-[0-9a-f]{8}$/);
  });

  it('falls back to the Batch job id as run id', () => {
    const config = loadConfig('consolidate', {}, { FIBBARS_LAKE: 'lake', AWS_BATCH_JOB_ID: '4c8e0d2a-1b2c-4d5e-8f90-123456789abc' }, NOW);
    expect(config.runId).toBe('4c8e0d2a-1b2c-4d5e-8f90-123456789abc');
  });

  it.each([
    ['no lake', 'consolidate', {}, {}, /FIBBARS_LAKE/],
    ['an unknown URI scheme', 'consolidate', {}, { FIBBARS_LAKE: 'gs://bucket/x' }, /^FIBBARS_LAKE is not a lake URI: .*unsupported scheme/],
    ['an invalid bucket name', 'consolidate', { lake: 's3://Bad_Bucket/x' }, {}, /^--lake is not a lake URI: .*invalid S3 bucket name/],
    ['no interval', 'resample', {}, { FIBBARS_LAKE: 'lake' }, /--days N\[,M\.\.\.\] or set RESAMPLE_DAYS/],
    ['a non-numeric interval', 'resample', { days: '3,x' }, { FIBBARS_LAKE: 'lake' }, /^--days must be .* \(bad item "x"\)/],
    ['a one-session interval', 'resample', {}, { FIBBARS_LAKE: 'lake', RESAMPLE_DAYS: '1' }, /^RESAMPLE_DAYS must be/],
    ['a share above 1', 'consolidate', {}, { FIBBARS_LAKE: 'lake', MAX_REJECTED_SHARE: '5' }, /^MAX_REJECTED_SHARE must be a number between 0 and 1 \(got "5"\)/],
    ['a share that is not a number', 'consolidate', { maxRejectedShare: '1%' }, { FIBBARS_LAKE: 'lake' }, /^--max-rejected-share must be a number/],
    ['an impossible date', 'consolidate', { date: '2023-02-29' }, { FIBBARS_LAKE: 'lake' }, /^--date holds a date that is not a calendar date/],
    ['sessions that are not JSON', 'consolidate', {}, { FIBBARS_LAKE: 'lake', FIBBARS_SESSIONS: '["2024-06-04"' }, /^FIBBARS_SESSIONS must be a JSON array or a comma-separated list/],
    ['sessions that are not dates', 'resample', { days: '5' }, { FIBBARS_LAKE: 'lake', FIBBARS_SESSIONS: '[20240604]' }, /^FIBBARS_SESSIONS must hold ISO dates YYYY-MM-DD/],
    ['a month 13', 'consolidate', {}, { FIBBARS_LAKE: 'lake', FIBBARS_SESSIONS: '["2024-13-01"]' }, /^FIBBARS_SESSIONS holds a date that is not a calendar date/],
    ['a word for a session', 'consolidate', { sessions: 'today' }, { FIBBARS_LAKE: 'lake' }, /^--sessions must hold ISO dates YYYY-MM-DD/],
    ['a run id with a slash', 'consolidate', { runId: '../x' }, { FIBBARS_LAKE: 'lake' }, /^--run-id must be/],
    ['a heartbeat that is not a number', 'consolidate', {}, { FIBBARS_LAKE: 'lake', FIBBARS_HEARTBEAT_MS: 'soon' }, /^FIBBARS_HEARTBEAT_MS/],
  ] as const)('rejects %s with a ConfigError naming the setting', (_case, command, flags, env, pattern) => {
    const error = configError(() => loadConfig(command, flags, env, NOW));
    expect(error.name).toBe('ConfigError');
    expect(error.message).toMatch(pattern);
    expect(error.message).not.toContain('\n');
  });
});

describe('generateRunId', () => {
  it('sorts by time and differs between calls at the same instant', () => {
    const a = generateRunId(NOW);
    const b = generateRunId(NOW);
    expect(a).not.toBe(b);
    expect(generateRunId(new Date('2026-11-27T00:00:00Z')) > a).toBe(true);
  });
});

describe('VERSION', () => {
  it('is the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});
