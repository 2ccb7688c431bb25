import { describe, it, expect } from '@jest/globals';
import { DEFAULT_LOOKBACK_SESSIONS, MAX_LOOKBACK_SESSIONS, readConfig } from '@fibbars/fetchers';
import {
  ENVIRONMENT_NAMES,
  LOOKBACK_SESSIONS,
  namePrefix,
  resolveSettings,
  scheduleName,
  selectedEnvironments,
  stackName,
  stateMachineName,
} from '../../src/settings.js';

const context =
  (values: Record<string, unknown>) =>
  (key: string): unknown =>
    values[key];

describe('selectedEnvironments', () => {
  it('selects every environment when context env is absent', () => {
    expect(selectedEnvironments(context({}))).toEqual([...ENVIRONMENT_NAMES]);
  });

  it('selects the one named by context env', () => {
    expect(selectedEnvironments(context({ env: 'prod' }))).toEqual(['prod']);
  });

  it('rejects an unknown environment with a one-line error naming the key', () => {
    expect(() => selectedEnvironments(context({ env: 'staging' }))).toThrow(
      'context env must be one of dev, prod, got "staging"',
    );
  });
});

describe('resolveSettings', () => {
  it('starts the Batch jobs at 2 vCPU / 8 GiB until measured, in both environments', () => {
    for (const env of ENVIRONMENT_NAMES) {
      const s = resolveSettings(env, context({}));
      expect(s.consolidate).toMatchObject({ vcpus: 2, memoryGiB: 8 });
      expect(s.resample).toMatchObject({ vcpus: 2, memoryGiB: 8 });
    }
  });

  it('keeps prod logs and versions longer than dev and enables only the prod schedule', () => {
    const dev = resolveSettings('dev', context({}));
    const prod = resolveSettings('prod', context({}));
    expect(prod.logRetentionDays).toBeGreaterThan(dev.logRetentionDays);
    expect(prod.noncurrentVersionDays).toBeGreaterThan(dev.noncurrentVersionDays);
    expect([dev.scheduleEnabled, prod.scheduleEnabled]).toEqual([false, true]);
  });

  it('reads alertEmail and scheduleEnabled, with <env>: keys winning over the plain ones', () => {
    const ctx = context({ alertEmail: 'all@example.com', 'prod:alertEmail': 'prod@example.com', 'dev:scheduleEnabled': true });
    expect(resolveSettings('dev', ctx)).toMatchObject({ alertEmail: 'all@example.com', scheduleEnabled: true });
    expect(resolveSettings('prod', ctx)).toMatchObject({ alertEmail: 'prod@example.com', scheduleEnabled: true });
    expect(resolveSettings('prod', context({})).alertEmail).toBeUndefined();
  });

  it('rejects a malformed email and a non-boolean scheduleEnabled, naming the key', () => {
    expect(() => resolveSettings('prod', context({ 'prod:alertEmail': 'not-an-address' }))).toThrow(
      'context prod:alertEmail must be an email address, got "not-an-address"',
    );
    expect(() => resolveSettings('dev', context({ scheduleEnabled: 'yes' }))).toThrow(
      'context scheduleEnabled must be true or false, got "yes"',
    );
  });
});

describe('lookbackSessions', () => {
  it('defaults to the fetchers\' default and takes a per-environment context value', () => {
    expect(LOOKBACK_SESSIONS.default).toBe(DEFAULT_LOOKBACK_SESSIONS);
    expect(LOOKBACK_SESSIONS.max).toBe(MAX_LOOKBACK_SESSIONS);
    expect(resolveSettings('prod', context({})).lookbackSessions).toBe(20);
    expect(resolveSettings('prod', context({ 'prod:lookbackSessions': '60', lookbackSessions: 5 })).lookbackSessions).toBe(60);
  });

  it('refuses what the fetchers would refuse, naming the key', () => {
    for (const bad of [0, 1001, 2.5, 'soon']) {
      expect(() => resolveSettings('dev', context({ 'dev:lookbackSessions': bad }))).toThrow(
        `context dev:lookbackSessions must be a whole number of sessions from 1 to 1000, got ${JSON.stringify(bad)}`,
      );
    }
  });

  it('the bounds are the ones the fetchers accept', () => {
    const env = (v: string) => ({ FIBBARS_LAKE: '/tmp/lake', FIBBARS_LOOKBACK_SESSIONS: v });
    expect(() => readConfig(env(String(LOOKBACK_SESSIONS.max)))).not.toThrow();
    expect(() => readConfig(env(String(LOOKBACK_SESSIONS.min)))).not.toThrow();
    expect(() => readConfig(env(String(LOOKBACK_SESSIONS.max + 1)))).toThrow();
    expect(() => readConfig(env(String(LOOKBACK_SESSIONS.min - 1)))).toThrow();
  });
});

describe('names', () => {
  it('prefix every name with the environment', () => {
    expect([namePrefix('dev'), stackName('prod'), stateMachineName('prod'), scheduleName('dev')]).toEqual([
      'dev-fibbars',
      'prod-fibbars',
      'prod-fibbars-daily-pipeline',
      'dev-fibbars-daily',
    ]);
  });
});
