// Bad configuration, through the built bundle: exit code 2, one JSON error
// line naming the setting, and nothing read or written.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lakeFiles } from './support/lake-files.js';
import { syntheticMarket } from '@fibbars/testing/market';
import { lastSessions, writeRawSessions } from './support/market.js';
import { runBundle } from './support/run-bundle.js';

describe('batch-runner bundle with a bad configuration', () => {
  let work: string;
  let lake: string;
  let before: Map<string, string>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'batch-runner-config-'));
    lake = join(work, 'lake');
    await writeRawSessions(lake, syntheticMarket(lastSessions('2024-03-28', 2), 5));
    before = lakeFiles(lake);
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each([
    ['an interval that is not a number', ['resample'], { RESAMPLE_DAYS: 'five' }, /^RESAMPLE_DAYS must be/],
    ['no interval at all', ['resample'], {}, /RESAMPLE_DAYS/],
    ['a rejected share above 1', ['consolidate'], { MAX_REJECTED_SHARE: '2' }, /^MAX_REJECTED_SHARE must be a number between 0 and 1/],
    ['a session date that does not exist', ['consolidate', '--date', '2024-02-30'], {}, /^--date holds a date that is not a calendar date/],
    ['an unknown flag', ['consolidate', '--force'], {}, /unknown option '--force'/],
    ['an unsupported lake scheme', ['consolidate', '--lake', 'gs://bucket/lake'], {}, /^--lake is not a lake URI/],
  ])('exits 2 on %s and writes nothing', async (_case, args, env, message) => {
    const result = await runBundle(args, { cwd: work, env: { FIBBARS_LAKE: lake, ...env } });

    expect(result.code).toBe(2);
    expect(result.errors).toEqual([{ level: 'error', error: 'ConfigError', message: expect.stringMatching(message) }]);
    expect(result.lines).toEqual([]);
    expect(lakeFiles(lake)).toEqual(before);
  });

  it('exits 2 without creating a lake when no lake is configured', async () => {
    const result = await runBundle(['consolidate'], { cwd: work });

    expect(result.code).toBe(2);
    expect(result.errors).toEqual([{ level: 'error', error: 'ConfigError', message: expect.stringContaining('FIBBARS_LAKE') }]);
    expect(lakeFiles(join(work, 'lake'))).toEqual(before);
  });
});
