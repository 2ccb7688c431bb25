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
import type { DataFrame, Expr, LazyDataFrame } from 'nodejs-polars';
import { DataQualityError } from './errors.js';
import { QUARANTINE_SCHEMA, RAW_DAILY_SCHEMA, conform } from './schemas.js';
import { recordDateToIso } from './dates.js';
import { once } from './memo.js';

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

/**
 * Keep only the latest fetch of each session: the greatest `fetched_at`, then
 * the greatest `fetch_id` (ids sort by fetch time). Rows without a date are
 * kept so validation can quarantine them.
 */
function latestFetch(lf: LazyDataFrame): LazyDataFrame {
  const e = once('validate:latest', () => {
    const session = pl.col('date');
    return {
      at: pl.col('fetched_at').max().over(session).alias('__latest_at'),
      atKeep: pl.col('fetched_at').eq(pl.col('__latest_at')).or(pl.col('__latest_at').isNull()).or(session.isNull()),
      id: pl.col('fetch_id').max().over(session).alias('__latest_id'),
      idKeep: pl.col('fetch_id').eq(pl.col('__latest_id')).or(pl.col('__latest_id').isNull()).or(session.isNull()),
    };
  });
  return lf.withColumns(e.at).filter(e.atKeep).withColumns(e.id).filter(e.idKeep).drop('__latest_at', '__latest_id');
}

const STATUS = '__status';

/** Status of rows sharing a (ticker, date): collapsed, accepted winner, or conflict. */
function resolveDuplicates(df: DataFrame): DataFrame {
  const valid = pl.col('reason').isNull();
  // Identical rows share every value column; the first of them survives. An
  // invalid row can never be identical to a valid one, so one window serves both.
  const firstIdentical = pl.col(ROW).eq(pl.col(ROW).min().over('ticker', 'date', ...VALUE_COLUMNS));
  const candidate = pl.col('__candidate');
  // Windows are computed in separate steps: a window nested in another is quadratic.
  return df
    .lazy()
    .withColumns(valid.and(firstIdentical).alias('__candidate'))
    .withColumns(pl.when(candidate).then(pl.col('volume')).otherwise(pl.lit(null)).max().over('ticker', 'date').alias('__maxvol'))
    .withColumns(
      pl.when(candidate.and(pl.col('volume').eq(pl.col('__maxvol'))))
        .then(pl.col(ROW))
        .otherwise(pl.lit(null))
        .min()
        .over('ticker', 'date')
        .alias('__winner'),
    )
    .withColumns(
      pl.when(valid.not())
        .then(pl.lit('quarantined'))
        .when(candidate.not())
        .then(pl.lit('collapsed'))
        .when(pl.col(ROW).eq(pl.col('__winner')))
        .then(pl.lit('accepted'))
        .otherwise(pl.lit('conflict'))
        .alias(STATUS),
    )
    .withColumns(
      pl.when(pl.col(STATUS).eq(pl.lit('conflict')))
        .then(pl.lit(REJECT_REASONS.conflictingDuplicate))
        .otherwise(pl.col('reason'))
        .alias('reason'),
    )
    .collectSync();
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
  const checked = latestFetch(input.lazy().withRowIndex(ROW)).withColumns(once('validate:reason', reasonExpr)).collectSync();
  const columns = [...checked.columns, STATUS];
  const simple = (df: DataFrame) =>
    df.withColumns(once('validate:simple', () => pl.when(pl.col('reason').isNull()).then(pl.lit('accepted')).otherwise(pl.lit('quarantined')).alias(STATUS)));

  // Most sessions hold no duplicate keys at all: only rows whose (ticker,
  // date) occurs more than once go through the duplicate windows.
  const dup = once('validate:dup', () => ({ n: pl.len().alias('__n'), many: pl.col('__n').gt(1) }));
  const dupKeys = checked.lazy().groupBy(['ticker', 'date'], false).agg(dup.n).filter(dup.many).select('ticker', 'date').collectSync();
  let st: DataFrame;
  if (dupKeys.height === 0) st = simple(checked);
  else {
    const dupRows = checked.join(dupKeys, { on: ['ticker', 'date'], how: 'semi' });
    const rest = checked.join(dupKeys, { on: ['ticker', 'date'], how: 'anti' });
    st = pl.concat([simple(rest).select(...columns), resolveDuplicates(dupRows).select(...columns)]);
  }

  const is = once('validate:status', () => ({
    accepted: pl.col(STATUS).eq(pl.lit('accepted')),
    rejected: pl.col(STATUS).eq(pl.lit('quarantined')).or(pl.col(STATUS).eq(pl.lit('conflict'))),
  }));
  const accepted = st
    .filter(is.accepted)
    .sort(KEY)
    .select(...Object.keys(RAW_DAILY_SCHEMA));
  const quarantined = st
    .filter(is.rejected)
    .sort(ROW)
    .select(...Object.keys(QUARANTINE_SCHEMA));
  return { accepted, quarantined, counts: countSessions(input, st) };
}

function countSessions(input: DataFrame, st: DataFrame): ValidationCounts {
  // Row counts per (session, status) and per session of the input, tallied in JS
  // from the records of a handful of group rows: one expression instead of a few
  // dozen, and no Series (nodejs-polars spends about a millisecond building each
  // expression or Series object, pola-rs/nodejs-polars#265).
  const n = once('validate:count', () => pl.len().alias('__n'));
  type Tally = { received: number; accepted: number; collapsed: number; quarantined: number; all: number };
  const tallies = new Map<string | null, Tally>();
  const tally = (session: string | null): Tally => {
    let t = tallies.get(session);
    if (t === undefined) tallies.set(session, (t = { received: 0, accepted: 0, collapsed: 0, quarantined: 0, all: 0 }));
    return t;
  };
  for (const r of st.groupBy(['date', STATUS]).agg(n).toRecords()) {
    const t = tally(recordDateToIso(r['date']));
    const count = Number(r['__n']);
    t.received += count;
    const status = r[STATUS];
    if (status === 'accepted') t.accepted += count;
    else if (status === 'collapsed') t.collapsed += count;
    else t.quarantined += count; // quarantined, conflict
  }
  for (const r of input.groupBy('date').agg(n).toRecords()) tally(recordDateToIso(r['date'])).all += Number(r['__n']);

  const totals = { received: 0, accepted: 0, collapsed: 0, quarantined: 0, superseded: 0 };
  const sessions: SessionCounts[] = [];
  for (const [session, { all, ...t }] of tallies) {
    const c = { ...t, superseded: all - t.received };
    totals.received += c.received;
    totals.accepted += c.accepted;
    totals.collapsed += c.collapsed;
    totals.quarantined += c.quarantined;
    totals.superseded += c.superseded;
    // Rows without a date cannot be attributed to a session: totals only.
    if (session !== null) sessions.push({ session, ...c });
  }
  sessions.sort((a, b) => (a.session < b.session ? -1 : a.session > b.session ? 1 : 0));
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
