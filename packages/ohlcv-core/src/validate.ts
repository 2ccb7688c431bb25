// Validation and quarantine of raw daily rows (DESIGN §3.3), all in Polars
// expressions: no per-row JS.
//
// Order matters and is fixed:
//   1. per session, only the latest fetch is kept, whole (older fetches are
//      "superseded": neither accepted nor quarantined);
//   2. each row is validated; failures go to quarantine with a `reason`;
//   3. among valid rows of one (ticker, date), identical rows collapse to one
//      ("collapsed", a repair), and conflicting rows keep the largest volume
//      (the first one on a tie), quarantining the others as
//      `conflicting-duplicate`.
import pl from 'nodejs-polars';
import type { DataFrame, Expr } from 'nodejs-polars';
import { DataQualityError } from './errors.js';
import { QUARANTINE_SCHEMA, RAW_DAILY_SCHEMA, conform } from './schemas.js';

/** Reasons written to the `reason` column of quarantined rows. */
export const REJECT_REASONS = {
  missingTicker: 'missing-ticker',
  missingDate: 'missing-date',
  missingPrice: 'missing-price',
  nonFinitePrice: 'non-finite-price',
  nonPositivePrice: 'non-positive-price',
  missingVolume: 'missing-volume',
  nonFiniteVolume: 'non-finite-volume',
  negativeVolume: 'negative-volume',
  ohlcInconsistent: 'ohlc-inconsistent',
  conflictingDuplicate: 'conflicting-duplicate',
} as const;

export type RejectReason = (typeof REJECT_REASONS)[keyof typeof REJECT_REASONS];

/** Row counts of one session. `received = accepted + collapsed + quarantined`. */
export interface SessionCounts {
  session: string;
  /** Rows of the session's latest fetch. */
  received: number;
  accepted: number;
  /** Identical duplicates collapsed into one accepted row (repaired). */
  collapsed: number;
  quarantined: number;
  /** Rows of older fetches of the session, replaced by the latest fetch. */
  superseded: number;
}

/** Per-session counts (sorted by session) plus totals. */
export interface ValidationCounts {
  sessions: SessionCounts[];
  totals: Omit<SessionCounts, 'session'>;
}

/** What `validateDaily` returns. */
export interface ValidationResult {
  /** Valid rows, one per (ticker, date), raw schema, sorted by (ticker, date). */
  accepted: DataFrame;
  /** Rejected rows with their `reason` (raw schema plus `reason`). */
  quarantined: DataFrame;
  counts: ValidationCounts;
}

const PRICES = ['open', 'high', 'low', 'close'] as const;
const VALUE_COLUMNS = ['open', 'high', 'low', 'close', 'volume', 'vwap', 'transactions'] as const;
const ROW = '__row';
const KEY = ['ticker', 'date'];

function anyOf(exprs: Expr[]): Expr {
  return exprs.reduce((a, b) => a.or(b));
}

/** The first failing rule of a row as a reason, or null when the row is valid. */
function reasonExpr(): Expr {
  const R = REJECT_REASONS;
  const price = PRICES.map((c) => pl.col(c));
  const vol = pl.col('volume');
  const lo = pl.minHorizontal([pl.col('open'), pl.col('close')]);
  const hi = pl.maxHorizontal([pl.col('open'), pl.col('close')]);
  return pl
    .when(pl.col('ticker').isNull().or(pl.col('ticker').str.lengths().eq(0)))
    .then(pl.lit(R.missingTicker))
    .when(pl.col('date').isNull())
    .then(pl.lit(R.missingDate))
    .when(anyOf(price.map((p) => p.isNull())))
    .then(pl.lit(R.missingPrice))
    .when(anyOf(price.map((p) => p.isFinite().not())))
    .then(pl.lit(R.nonFinitePrice))
    .when(anyOf(price.map((p) => p.ltEq(0))))
    .then(pl.lit(R.nonPositivePrice))
    .when(vol.isNull())
    .then(pl.lit(R.missingVolume))
    .when(vol.isFinite().not())
    .then(pl.lit(R.nonFiniteVolume))
    .when(vol.lt(0))
    .then(pl.lit(R.negativeVolume))
    .when(pl.col('low').gt(lo).or(hi.gt(pl.col('high'))))
    .then(pl.lit(R.ohlcInconsistent))
    .otherwise(pl.lit(null).cast(pl.Utf8))
    .alias('reason');
}

function countBySession(df: DataFrame, name: string): Map<string, number> {
  const out = new Map<string, number>();
  if (df.height === 0) return out;
  const g = df
    .filter(pl.col('date').isNotNull())
    .groupBy('date')
    .agg(pl.len().alias(name))
    .select(pl.col('date').cast(pl.Utf8), pl.col(name));
  const dates = g.getColumn('date').toArray() as unknown as string[];
  const ns = g.getColumn(name).toArray() as unknown as number[];
  dates.forEach((d, i) => out.set(d, Number(ns[i])));
  return out;
}

/**
 * Keep only the latest fetch of each session: the greatest `fetched_at`, then
 * the greatest `fetch_id` (ids sort by fetch time). Rows without a date are
 * kept so validation can quarantine them.
 */
function latestFetch(df: DataFrame): DataFrame {
  const session = pl.col('date');
  const latestAt = pl.col('fetched_at').max().over(session);
  const atLatest = df.filter(pl.col('fetched_at').eq(latestAt).or(latestAt.isNull()).or(session.isNull()));
  const latestId = pl.col('fetch_id').max().over(session);
  return atLatest.filter(pl.col('fetch_id').eq(latestId).or(latestId.isNull()).or(session.isNull()));
}

/**
 * Validate raw daily rows (DESIGN §3.3): the latest fetch of each session
 * wins whole; rows failing a price, volume or OHLC rule are quarantined with
 * a reason; identical duplicates collapse; conflicting duplicates keep the
 * largest volume (first on a tie) and quarantine the rest.
 *
 * The input needs `ticker, date, open, high, low, close, volume`; `vwap`,
 * `transactions`, `fetched_at` and `fetch_id` are optional.
 *
 * @example
 * import { parseGroupedDaily, validateDaily } from '@fibbars/ohlcv-core';
 * const raw = parseGroupedDaily(pages, '2024-06-04', fetchedAt, fetchId);
 * const { accepted, quarantined, counts } = validateDaily(raw);
 * console.log(counts.totals); // { received, accepted, collapsed, quarantined, superseded }
 */
export function validateDaily(raw: DataFrame): ValidationResult {
  const input = conform(raw, RAW_DAILY_SCHEMA, { fillMissing: ['vwap', 'transactions', 'fetched_at', 'fetch_id'] });
  const latest = latestFetch(input.withRowIndex(ROW));

  const checked = latest.withColumns(reasonExpr());
  const invalid = checked.filter(pl.col('reason').isNotNull());
  const valid = checked.filter(pl.col('reason').isNull());

  // Identical rows: the first of each group of identical values survives.
  const distinct = valid.filter(pl.col(ROW).eq(pl.col(ROW).min().over('ticker', 'date', ...VALUE_COLUMNS)));
  const collapsed = valid.height - distinct.height;

  // Conflicting rows: the largest volume wins, the earliest row on a tie.
  const maxVol = pl.col('volume').max().over('ticker', 'date');
  const winnerRow = pl.when(pl.col('volume').eq(maxVol)).then(pl.col(ROW)).otherwise(pl.lit(null)).min().over('ticker', 'date');
  const marked = distinct.withColumns(pl.col(ROW).eq(winnerRow).alias('__win'));
  const accepted = marked
    .filter(pl.col('__win'))
    .sort(KEY)
    .select(...Object.keys(RAW_DAILY_SCHEMA));
  const conflicts = marked
    .filter(pl.col('__win').not())
    .withColumns(pl.lit(REJECT_REASONS.conflictingDuplicate).alias('reason'));

  const quarantined = pl
    .concat([invalid.select(ROW, ...Object.keys(QUARANTINE_SCHEMA)), conflicts.select(ROW, ...Object.keys(QUARANTINE_SCHEMA))])
    .sort(ROW)
    .select(...Object.keys(QUARANTINE_SCHEMA));

  const counts = buildCounts({
    all: countBySession(input, 'n'),
    received: countBySession(latest, 'n'),
    accepted: countBySession(accepted, 'n'),
    distinct: countBySession(distinct, 'n'),
    valid: countBySession(valid, 'n'),
    quarantined: countBySession(quarantined, 'n'),
  });
  // Rows without a date cannot be attributed to a session: count them in the totals only.
  const undated = input.filter(pl.col('date').isNull()).height;
  counts.totals.received += undated;
  counts.totals.quarantined += undated;
  if (counts.totals.collapsed !== collapsed) {
    throw new Error(`validateDaily: internal count mismatch (${counts.totals.collapsed} != ${collapsed})`);
  }
  return { accepted, quarantined, counts };
}

function buildCounts(m: Record<'all' | 'received' | 'accepted' | 'distinct' | 'valid' | 'quarantined', Map<string, number>>): ValidationCounts {
  const sessions = [...m.all.keys()].sort().map((session): SessionCounts => {
    const get = (k: keyof typeof m) => m[k].get(session) ?? 0;
    return {
      session,
      received: get('received'),
      accepted: get('accepted'),
      collapsed: get('valid') - get('distinct'),
      quarantined: get('quarantined'),
      superseded: get('all') - get('received'),
    };
  });
  const totals = { received: 0, accepted: 0, collapsed: 0, quarantined: 0, superseded: 0 };
  for (const s of sessions) {
    totals.received += s.received;
    totals.accepted += s.accepted;
    totals.collapsed += s.collapsed;
    totals.quarantined += s.quarantined;
    totals.superseded += s.superseded;
  }
  return { sessions, totals };
}

/** Options of the quality gate. */
export interface QualityOptions {
  /** Largest share of a session's received rows that may be quarantined (default 0.01). */
  maxRejectedShare?: number;
  /**
   * Median accepted row count of the trailing sessions already in the lake; a
   * session with fewer than half of it fails the gate.
   */
  trailingMedianRows?: number;
}

/**
 * The data quality gate of DESIGN §3.3: throws `DataQualityError` naming the
 * first failing session, its rejected share and the threshold, or its row
 * count against half the trailing median.
 *
 * @example
 * import { checkQuality, validateDaily } from '@fibbars/ohlcv-core';
 * const { counts } = validateDaily(raw);
 * checkQuality(counts, { maxRejectedShare: 0.01, trailingMedianRows: 10_000 });
 */
export function checkQuality(counts: ValidationCounts, opts: QualityOptions = {}): void {
  const max = opts.maxRejectedShare ?? 0.01;
  if (!(max >= 0 && max <= 1)) throw new RangeError(`maxRejectedShare must be within 0..1, got ${String(max)}`);
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  for (const s of counts.sessions) {
    const share = s.received === 0 ? 0 : s.quarantined / s.received;
    if (share > max) {
      throw new DataQualityError(
        `session ${s.session}: rejected share ${pct(share)} (${s.quarantined} of ${s.received} rows) exceeds the threshold ${pct(max)}`,
      );
    }
    const median = opts.trailingMedianRows;
    if (median !== undefined && median > 0 && s.accepted < median / 2) {
      throw new DataQualityError(
        `session ${s.session}: ${s.accepted} accepted rows is below half the trailing median of ${median} rows`,
      );
    }
  }
}

/**
 * Median of a list of numbers (the mean of the two middle values for an even
 * count), or undefined when empty. Helper for `trailingMedianRows`.
 *
 * @example
 * median([3, 1, 2]); // 2
 */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
