import { describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import { nyse } from '../../src/calendar.js';
import { findGaps, findGapsInFrame } from '../../src/gaps.js';

describe('findGaps', () => {
  const week = nyse.sessionsBetween('2026-11-16', '2026-11-25');

  it('reports a session missing for every ticker as a lake gap, not as holes', () => {
    const present = week.filter((s) => s !== '2026-11-19');
    const tickers = [...present.map(() => 'AAA'), ...present.map(() => 'BBB')];
    const r = findGaps(tickers, [...present, ...present]);
    expect(r.missingSessions).toEqual(['2026-11-19']);
    expect(r.expectedSessions).toBe(week.length);
    expect(r.presentSessions).toBe(week.length - 1);
    expect(r.tickerHoles).toEqual([]);
  });

  it('reports a ticker hole only inside the ticker\'s own first..last range', () => {
    const late = week.slice(3); // listed later: not a hole before its first row
    const holed = week.filter((s) => s !== week[5]);
    const r = findGaps([...week.map(() => 'AAA'), ...late.map(() => 'NEW'), ...holed.map(() => 'HOL')], [...week, ...late, ...holed]);
    expect(r.missingSessions).toEqual([]);
    expect(r.tickerHoles).toEqual([{ ticker: 'HOL', first: week[0], last: week[week.length - 1], missing: [week[5]] }]);
    expect([r.tickers, r.tickersWithHoles, r.holes]).toEqual([3, 1, 1]);
  });

  it('gives the same report from a Polars frame, where tickers without holes are never read row by row', async () => {
    const late = week.slice(3);
    const holed = week.filter((s) => s !== week[5] && s !== week[6]);
    const missingDay = week.filter((s) => s !== '2026-11-17');
    const tickers = [...missingDay.map(() => 'AAA'), ...late.filter((s) => s !== '2026-11-17').map(() => 'NEW'), ...holed.filter((s) => s !== '2026-11-17').map(() => 'HOL')];
    const dates = [...missingDay, ...late.filter((s) => s !== '2026-11-17'), ...holed.filter((s) => s !== '2026-11-17')];
    const frame = pl.DataFrame({ ticker: tickers, date: dates }).withColumns(pl.col('date').str.strptime(pl.Date, '%Y-%m-%d'));
    const reference = findGaps(tickers, dates);
    expect(reference.missingSessions).toEqual(['2026-11-17']);
    expect(reference.tickerHoles.map((h) => h.ticker)).toEqual(['HOL']);
    expect(await findGapsInFrame(frame)).toEqual(reference);
  });

  it('handles an empty history', () => {
    expect(findGaps([], [])).toMatchObject({ from: null, to: null, expectedSessions: 0, holes: 0 });
  });
});
