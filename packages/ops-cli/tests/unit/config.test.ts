import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { formatDuration, normaliseLakeUri, parseDuration, positiveInt, resolveConfig } from '../../src/config.js';
import { exitCodeOf, LakeNotFoundError, oneLine } from '../../src/errors.js';

describe('resolveConfig', () => {
  it('takes flags over the environment over defaults', () => {
    const env = { FIBBARS_LAKE: 's3://env-bucket/lake', FIBBARS_STATE_MACHINE_ARN: 'arn:env', AWS_REGION: 'eu-west-1' };
    expect(resolveConfig({}, {}, '/home/analyst')).toMatchObject({
      lake: path.resolve('/home/analyst', 'lake'),
      lakeInput: './lake',
      polygonBaseUrl: 'https://api.polygon.io',
      scheduleName: undefined,
      deployEnv: 'prod',
      polygonApiKey: undefined,
    });
    expect(resolveConfig({}, env, '/home/analyst')).toMatchObject({ lake: 's3://env-bucket/lake', stateMachineArn: 'arn:env', awsRegion: 'eu-west-1' });
    expect(resolveConfig({ lake: 'data/lake', stateMachineArn: 'arn:flag' }, env, '/home/analyst')).toMatchObject({
      lake: '/home/analyst/data/lake',
      stateMachineArn: 'arn:flag',
    });
  });

  it('treats empty variables as unset', () => {
    expect(resolveConfig({}, { POLYGON_API_KEY: '  ', FIBBARS_LAKE: '' }, '/w')).toMatchObject({ polygonApiKey: undefined, lakeInput: './lake' });
  });

  it('names the variable when POLYGON_BASE_URL is not a URL', () => {
    expect(() => resolveConfig({}, { POLYGON_BASE_URL: 'ftp://x' }, '/w')).toThrow(/^POLYGON_BASE_URL "ftp:\/\/x" is not an http\(s\) URL/);
  });
});

describe('normaliseLakeUri', () => {
  it.each([
    ['s3://my-bucket', 's3://my-bucket'],
    ['s3://my-bucket/', 's3://my-bucket'],
    ['s3://my-bucket/a/b/', 's3://my-bucket/a/b'],
    ['file:///srv/lake', '/srv/lake'],
    ['./lake', '/cwd/lake'],
    ['/abs/lake', '/abs/lake'],
  ])('accepts %s', (input, want) => {
    expect(normaliseLakeUri(input, '/cwd')).toBe(want);
  });

  it.each(['s3://', 's3://UPPER', 's3://a', 's3://bad_bucket/x', 's3://b..x/y', 's3://bucket/../x', 'http://host/lake', 'gs://bucket/lake', 's3:/bucket'])(
    'refuses %s with the fix',
    (input) => {
      expect(() => normaliseLakeUri(input, '/cwd')).toThrow(/^malformed lake URI .*pass --lake \.\/lake \(a folder\) or --lake s3:\/\/bucket\/prefix$/);
    },
  );
});

describe('a lake path that is a file', () => {
  it('is refused, whether the path or one of its parents is the file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fibbars-config-'));
    try {
      writeFileSync(path.join(dir, 'notes.txt'), 'x');
      expect(() => normaliseLakeUri('notes.txt', dir)).toThrow(/^lake path "notes\.txt" is a file, not a folder: pass --lake with a folder/);
      expect(() => normaliseLakeUri('notes.txt/lake', dir)).toThrow(/^lake path "notes\.txt\/lake" is under .*notes\.txt, which is a file: /);
      expect(normaliseLakeUri('new/lake', dir)).toBe(path.join(dir, 'new', 'lake'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('positiveInt', () => {
  it('parses whole numbers in range and names the flag otherwise', () => {
    expect(positiveInt('--days', '21')).toBe(21);
    expect(() => positiveInt('--days', '2.5')).toThrow('--days must be a whole number, got "2.5": e.g. --days 5');
    expect(() => positiveInt('--last', '0')).toThrow(/^--last must be at least 1, got 0: e\.g\. --last 5$/);
    expect(() => positiveInt('--days', '20000', { max: 10_000 })).toThrow(/^--days must be at most 10000, got 20000: e\.g\. --days 5$/);
  });
});

describe('exit codes', () => {
  it('maps domain errors by class and contract errors by name', () => {
    const named = (name: string) => Object.assign(new Error('x'), { name });
    expect(exitCodeOf(new LakeNotFoundError('x'))).toBe(2);
    expect(exitCodeOf(named('ConfigError'))).toBe(2);
    expect(exitCodeOf(named('DataQualityError'))).toBe(3);
    expect(exitCodeOf(named('CommitConflictError'))).toBe(4);
    expect(exitCodeOf(named('UpstreamUnavailableError'))).toBe(1);
    expect(exitCodeOf('boom')).toBe(1);
  });

  it('keeps messages to one line, prefixed by the contract name', () => {
    expect(oneLine(Object.assign(new Error('\nfirst\nsecond'), { name: 'RateLimitedError' }))).toBe('RateLimitedError: first');
    expect(oneLine(new LakeNotFoundError('lake x missing'))).toBe('lake x missing');
  });
});

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['0s', 0],
    ['1h', 3_600_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['90s', 90_000],
    ['250ms', 250],
    ['2d', 172_800_000],
    [' 1H ', 3_600_000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration('--grace', text)).toBe(ms);
  });

  it.each(['10', '', 'h', '1x', '-1h', '1h 30m', '1e3s', '1hh'])('refuses %j naming the flag and an example', (text) => {
    expect(() => parseDuration('--grace', text)).toThrow(/^--grace ".*" (has no unit|is not a duration).*e\.g\. --grace 1h/);
  });

  it('formats durations back in the same units', () => {
    expect([0, 3_600_000, 1_800_000, 90_000, 250, 86_400_000].map(formatDuration)).toEqual(['0', '1h', '30m', '90s', '250ms', '1d']);
    for (const ms of [0, 3_600_000, 5_400_000, 1500]) expect(parseDuration('--grace', formatDuration(ms))).toBe(ms);
  });
});
