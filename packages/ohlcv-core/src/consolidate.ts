// Consolidation of raw sessions into the silver daily history. Pure: frames
// in, frames out; the lake job (jobs.ts) does the reading and committing.
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { SILVER_DAILY_SCHEMA, conform } from './schemas.js';
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

function distinctDates(df: DataFrame, col = 'date'): string[] {
  if (df.height === 0) return [];
  const s = df.select(pl.col(col)).filter(pl.col(col).isNotNull()).unique().select(pl.col(col).cast(pl.Utf8)).getColumn(col);
  return (s.toArray() as unknown as string[]).sort();
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

  const daily = (kept ? pl.concat([kept, incoming], { how: 'vertical' }) : incoming)
    .unique({ subset: ['ticker', 'date'], keep: 'first', maintainOrder: true })
    .sort(['ticker', 'date']);

  // Rows present on one side only (all columns compared, nulls equal): the
  // sessions holding them changed.
  let changedSessions = sessions;
  if (old) {
    const cols = Object.keys(SILVER_DAILY_SCHEMA);
    const diff = pl
      .concat([old.withColumns(pl.lit(1).alias('__side')), incoming.withColumns(pl.lit(2).alias('__side'))])
      .groupBy(cols)
      .agg(pl.col('__side').sum().alias('__sides'))
      .filter(pl.col('__sides').neq(3));
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
