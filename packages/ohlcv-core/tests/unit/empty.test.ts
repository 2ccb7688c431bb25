import { describe, expect, it } from '@jest/globals';
import {
  BAR_SCHEMA,
  RAW_DAILY_SCHEMA,
  SILVER_DAILY_SCHEMA,
  consolidate,
  emptyFrame,
  hasSchema,
  resample,
  resampleMany,
  validateDaily,
} from '../../src/index.js';

describe('empty input', () => {
  it('validates, consolidates and resamples zero rows into empty frames with the right schemas', async () => {
    const raw = emptyFrame(RAW_DAILY_SCHEMA);
    const v = validateDaily(raw);
    expect(v.accepted.height).toBe(0);
    expect(v.counts).toEqual({ sessions: [], totals: { received: 0, accepted: 0, collapsed: 0, quarantined: 0, superseded: 0 } });
    const c = consolidate(null, raw);
    expect(hasSchema(c.daily, SILVER_DAILY_SCHEMA)).toBe(true);
    expect(c.report.changedSessions).toEqual([]);
    const bars = resample(c.daily, { days: 5 });
    expect(hasSchema(bars, BAR_SCHEMA)).toBe(true);
    expect(bars.height).toBe(0);
    const many = await resampleMany(c.daily, { intervals: [3, 34], anchor: 'ticker' });
    expect([...many.values()].map((b) => b.height)).toEqual([0, 0]);
  });
});
