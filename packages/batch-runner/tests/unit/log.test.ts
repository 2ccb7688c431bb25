import { describe, expect, it } from '@jest/globals';
import { createLogger } from '../../src/log.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const log = createLogger({ write: (s: string) => out.push(s) }, { write: (s: string) => err.push(s) });
  return { log, out, err };
}

describe('createLogger', () => {
  it('writes each info record as one JSON line on stdout, BigInt counts as numbers', () => {
    const { log, out, err } = capture();
    log.info('progress', { stage: 'resample_5d', rows: 12n, partitions: ['year=2024'] });

    expect(out).toEqual(['{"level":"info","msg":"progress","stage":"resample_5d","rows":12,"partitions":["year=2024"]}\n']);
    expect(err).toEqual([]);
  });

  it('writes the error record with exactly level, error and message on stderr', () => {
    const { log, out, err } = capture();
    log.error('DataQualityError', 'session 2024-06-04: 40% rejected');

    expect(err.map((line) => JSON.parse(line) as unknown)).toEqual([{ level: 'error', error: 'DataQualityError', message: 'session 2024-06-04: 40% rejected' }]);
    expect(err[0]?.endsWith('\n')).toBe(true);
    expect(out).toEqual([]);
  });
});
