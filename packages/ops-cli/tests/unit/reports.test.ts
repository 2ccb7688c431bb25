import { describe, expect, it } from '@jest/globals';
import type { ConsolidateLakeReport } from '@fibbars/ohlcv-core';
import { describeConsolidate } from '../../src/reports.js';

function report(over: Partial<ConsolidateLakeReport>): ConsolidateLakeReport {
  const v = { version: 3, committed: true };
  return {
    runId: 'r',
    status: 'committed',
    sessions: ['2026-09-01'],
    skippedSessions: [],
    rows: { received: 10, accepted: 9, collapsed: 0, quarantined: 1, superseded: 0 },
    partitionsWritten: ['year=2026'],
    quarantineFiles: 1,
    splitsAdded: 0,
    splitsWithdrawn: 0,
    dividendsAdded: 0,
    dividendsWithdrawn: 0,
    withdrawalsRefused: [],
    tickersRows: null,
    tickerHistoryRows: null,
    versions: { ohlcv_1d: v, splits: v, dividends: v, tickers: v, ticker_history: v },
    latestSession: '2026-09-01',
    gcDeleted: 0,
    ...over,
  };
}

describe('describeConsolidate', () => {
  it('is one line when the vendor withdrew nothing', () => {
    expect(describeConsolidate(report({})).text).toBe('consolidated 1 session(s): 9 rows accepted, 0 collapsed, 1 quarantined (ohlcv_1d version 3)');
  });

  it("names the splits and dividends the vendor's newer listings withdrew, and warns of each refused withdrawal", () => {
    const text = describeConsolidate(
      report({
        splitsWithdrawn: 1,
        dividendsWithdrawn: 2,
        withdrawalsRefused: [{ dataset: 'splits', session: '2026-09-01', fetchId: '20260901T220000000Z-0a1b2c3d', rows: 400, of: 410 }],
      }),
    ).text.split('\n');
    expect(text.slice(1)).toEqual([
      "withdrawn by the vendor's newer listings: 1 split(s), 2 dividend(s)",
      'warning: splits fetch 20260901T220000000Z-0a1b2c3d (2026-09-01) lacks 400 of the 410 rows of its dates: not withdrawn (a lossy answer?); its rows were added. Refetch it to apply a real withdrawal',
    ]);
  });
});
