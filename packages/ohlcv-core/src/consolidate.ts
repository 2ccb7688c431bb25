// Consolidation of raw sessions into the silver daily history. Pure: frames
// in, frames out; the lake job (jobs.ts) does the reading and committing.
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { SILVER_DAILY_SCHEMA, conform } from './schemas.js';
import { recordDateToIso } from './dates.js';
import { once } from './memo.js';
import { checkQuality, validateDaily } from './validate.js';
import type { QualityOptions, ValidationCounts } from './validate.js';

/** Options of `consolidate`. */
export interface ConsolidateOptions extends QualityOptions {
  /** Skip the data quality gate (counts are still reported). Default false. */
  skipQualityGate?: boolean;
}

/** What changed, for run records and idempotent commits. */
export interface ConsolidateReport {
  /** Sessions present in the incoming raw rows: each one replaced whole. */
  sessions: string[];
  /** Of those, the sessions whose rows differ from the existing history. */
  changedSessions: string[];
  /** Years (partitions) holding a changed session. */
  changedYears: number[];
  rowsBefore: number;
  rowsAfter: number;
  counts: ValidationCounts;
}

/** What `consolidate` returns. */
export interface ConsolidateResult {
  /** The new daily history: silver schema, one row per (ticker, date), sorted. */
  daily: DataFrame;
  /** Rejected raw rows with their `reason`. */
  quarantined: DataFrame;
  report: ConsolidateReport;
}

/** Whether a frame sorted by (ticker, date) holds a key twice (repeats are neighbours). */
function hasRepeatedKeys(sorted: DataFrame): boolean {
  if (sorted.height < 2) return false;
  const repeated = once('consolidate:repeated', () =>
    pl.col('ticker').eq(pl.col('ticker').shift(1)).and(pl.col('date').eq(pl.col('date').shift(1))).any().alias('repeated'),
  );
  return sorted.select(repeated).toRecords()[0]?.['repeated'] === true;
}

/** The distinct non-null dates of a Date column, as sorted ISO strings (frame operations and records: no expressions, no Series). */
function distinctDates(df: DataFrame, col = 'date'): string[] {
  if (df.height === 0) return [];
  const dates: unknown[] = df.select(col).unique().toRecords().map((r) => r[col]);
  return dates.flatMap((d) => recordDateToIso(d) ?? []).sort();
}

/**
 * Merge raw rows into the daily history: validate them (latest fetch of a
 * session wins, invalid rows quarantined, duplicates resolved), run the
 * quality gate, then replace every session present in `raw` whole (a refetch
 * with corrected data replaces that session and nothing else). The result
 * has exactly one row per (ticker, date), sorted by (ticker, date), in the
 * silver daily schema. Consolidating the same raw twice changes nothing.
 *
 * @param existing the current daily history, or null for an empty lake
 * @param raw raw daily rows (see `parseGroupedDaily`), any number of sessions and fetches
 * @example
 * import { consolidate, parseGroupedDaily } from '@fibbars/ohlcv-core';
 * const raw = parseGroupedDaily(pages, '2024-06-04', fetchedAt, fetchId);
 * const { daily, quarantined, report } = consolidate(previousDaily, raw, { maxRejectedShare: 0.01 });
 * console.log(report.changedSessions, report.counts.totals);
 */
export function consolidate(existing: DataFrame | null, raw: DataFrame, opts: ConsolidateOptions = {}): ConsolidateResult {
  const { accepted, quarantined, counts } = validateDaily(raw);
  if (!opts.skipQualityGate) checkQuality(counts, opts);

  const sessions = counts.sessions.map((s) => s.session);
  const incoming = accepted.select(...Object.keys(SILVER_DAILY_SCHEMA));
  const before = existing ? conform(existing, SILVER_DAILY_SCHEMA, { fillMissing: ['vwap', 'transactions'] }) : null;

  // implode(): a Series of the column's own dtype passed to isIn is deprecated
  // in Polars (and prints a notice on stderr for every call).
  const replaced = pl.Series('s', sessions, pl.Utf8).cast(pl.Date).implode();
  const inSessions = pl.col('date').isIn(replaced);
  const kept = before ? before.filter(inSessions.not()) : null;
  const old = before ? before.filter(inSessions) : null;

  // `incoming` holds one row per (ticker, date) (validateDaily) and `kept` none of its
  // sessions, so the union repeats a key only when `existing` itself did. Sorting first
  // and checking neighbours costs a third of a `unique()` over the whole union
  // (about 110 ms for a daily run's two months at 10,000 tickers): only a history
  // with repeated keys pays for the dedup, with the same keep-first rule as before.
  const stacked = kept ? pl.concat([kept, incoming], { how: 'vertical' }) : incoming;
  const sorted = stacked.sort(['ticker', 'date']);
  const daily = hasRepeatedKeys(sorted)
    ? stacked.unique({ subset: ['ticker', 'date'], keep: 'first', maintainOrder: true }).sort(['ticker', 'date'])
    : sorted;

  // Rows present on one side only (all columns compared, nulls equal): the
  // sessions holding them changed.
  let changedSessions = sessions;
  if (old) {
    const cols = Object.keys(SILVER_DAILY_SCHEMA);
    const e = once('consolidate:diff', () => ({ sides: pl.col('__side').sum().alias('__sides'), oneSide: pl.col('__sides').neq(3) }));
    const side = (df: DataFrame, value: number) => df.withColumns(pl.Series('__side', new Int8Array(df.height).fill(value), pl.Int8));
    const diff = pl.concat([side(old, 1), side(incoming, 2)]).groupBy(cols).agg(e.sides).filter(e.oneSide);
    changedSessions = distinctDates(diff);
  }
  return {
    daily,
    quarantined,
    report: {
      sessions,
      changedSessions,
      changedYears: [...new Set(changedSessions.map((s) => Number(s.slice(0, 4))))],
      rowsBefore: before?.height ?? 0,
      rowsAfter: daily.height,
      counts,
    },
  };
}
