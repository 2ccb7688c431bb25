/**
 * The bar kernel: N-session bars from prepared daily rows in one linear scan
 * over typed arrays, every interval from the same arrays (LAKE.md, "One pass
 * for all intervals").
 *
 * Why not a Polars group-by: the rows arrive sorted by (ticker, date), so a
 * bar is a contiguous run of rows and its aggregates are a running first /
 * max / min / last / sum. Polars' order-keeping group-by on the run id
 * measured about 2.5 M rows/s per interval here (six intervals over 5 M rows:
 * 12 s, against DuckDB's 10 s); the same work over typed arrays is a few tens
 * of milliseconds per interval, and the columns move between Polars and
 * JavaScript without a copy of their values into JS objects
 * (`Series.toTypedArray`, `pl.Series(name, Float64Array)`: ~40 ms per 5 M
 * values). Polars still reads, adjusts, joins the calendar and writes.
 * @internal
 */
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { nyse } from './calendar.js';
import { BAR_SCHEMA } from './schemas.js';

/** How buckets are numbered (see `Anchor` in resample.ts). */
export type KernelAnchor = 'calendar' | 'ticker' | 'latest';

/** Buckets to keep: a contiguous range or a list. */
export type BucketSet = { lo: number; hi: number } | readonly number[];

/** The prepared daily rows as typed arrays, sorted by (ticker, date). */
export interface DailyArrays {
  n: number;
  /** Ticker run id: grows by one at each new ticker. */
  tid: Uint32Array;
  /** Session index (-1 off the calendar, possible under the ticker anchor only). */
  sidx: Int32Array;
  /** Epoch day. */
  date: Int32Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
  /** NaN where null. */
  vwap: Float64Array;
  /** transactions as floats (exact below 2^53), NaN where null. */
  tx: Float64Array;
  /** Cumulative split factor of each row (end-date basis), or null when no split applies. */
  factor: Float64Array | null;
  /** Largest session index in the rows (the default as-of of the calendar and latest anchors). */
  maxSidx: number;
  /** Whether the rows are sorted by (ticker, date), one per pair. */
  sorted: boolean;
  /** When not sorted only because two rows share a (ticker, date): the index of the second. */
  duplicateAt: number;
  /** The first row whose date is not an NYSE session, or -1. */
  offCalendarAt: number;
  /** The run buffers, shared by the intervals computed from these arrays. */
  scratch?: Runs;
  /** Ticker of each `tid` (`lakeArrays`): bars take their ticker from here, not from the rows. */
  tickerNames?: string[];
}

function floats(df: DataFrame, name: string): Float64Array {
  return df.getColumn(name).toTypedArray() as Float64Array;
}

let sessionLookup: { first: number; table: Int32Array } | undefined;
/** Epoch day -> session index (-1 on a non-session), as a table over the calendar's days. */
function sessionTable(): { first: number; table: Int32Array } {
  if (!sessionLookup) {
    const days = nyse.sessionEpochDays;
    const first = days[0]!;
    const table = new Int32Array(days[days.length - 1]! - first + 1).fill(-1);
    for (let i = 0; i < days.length; i++) table[days[i]! - first] = i;
    sessionLookup = { first, table };
  }
  return sessionLookup;
}

/** Session index of each date (-1 off the calendar); the first off-calendar row; the largest index. */
function sessionIndices(date: Int32Array): { sidx: Int32Array; offCalendarAt: number; maxSidx: number } {
  const { first, table } = sessionTable();
  const size = table.length;
  const sidx = new Int32Array(date.length);
  let off = -1;
  let max = -1;
  for (let i = 0; i < date.length; i++) {
    const k = date[i]! - first;
    const s = k >= 0 && k < size ? table[k]! : -1;
    sidx[i] = s;
    if (s > max) max = s;
    else if (s < 0 && off < 0) off = i;
  }
  return { sidx, offCalendarAt: off, maxSidx: max };
}

/** Whether dates grow strictly within each ticker run; else the first row where they do not (and why). */
function dateOrder(tid: Uint32Array, date: Int32Array): { sorted: boolean; duplicateAt: number } {
  let duplicateAt = -1;
  for (let i = 1; i < date.length; i++) {
    if (tid[i] !== tid[i - 1]) continue;
    const d = date[i]!;
    const p = date[i - 1]!;
    if (d < p) return { sorted: false, duplicateAt: -1 };
    if (d === p && duplicateAt < 0) duplicateAt = i;
  }
  return { sorted: duplicateAt < 0, duplicateAt };
}

/**
 * Whether the tickers of the runs come in ascending order: the rows are then
 * sorted by ticker. Compares the first ticker of each run (thousands of
 * strings), not every row's with the row before it (millions).
 */
function tickersAscending(rows: DataFrame, tid: Uint32Array): boolean {
  if (tid.length === 0) return true;
  const starts: number[] = [0];
  for (let i = 1; i < tid.length; i++) if (tid[i] !== tid[i - 1]) starts.push(i);
  if (starts.length === 1) return true;
  const names = rows.select(pl.col('ticker').gather(starts)).getColumn('ticker').toArray() as string[];
  for (let i = 1; i < names.length; i++) if (!(names[i - 1]! < names[i]!)) return false;
  return true;
}

let valueSelect: pl.Expr[] | undefined;
/** The value columns as the kernel reads them: floats, NaN where null. */
function values(): pl.Expr[] {
  valueSelect ??= (() => {
    const nan = pl.lit(Number.NaN);
    return [
      pl.col('date').cast(pl.Int32).alias('date'),
      ...['open', 'high', 'low', 'close', 'volume', 'vwap'].map((c) => pl.col(c).cast(pl.Float64).fillNull(nan).alias(c)),
      pl.col('transactions').cast(pl.Float64).fillNull(nan).alias('tx'),
    ];
  })();
  return valueSelect;
}

const VALUE_NAMES = ['open', 'high', 'low', 'close', 'volume', 'vwap', 'tx'] as const;

/**
 * The kernel's arrays for rows of the daily history as a lake scan yields
 * them (date-ordered files, so each ticker's rows in date order but the
 * tickers interleaved), ordered by (ticker, date) in JavaScript: a stable
 * counting sort on the ticker's rank, the value arrays permuted, split
 * factors (end-date basis) looked up per ticker, rows after `asOfDay`
 * dropped. Polars neither sorts the strings (1.4 s for 2.5 M rows here,
 * against ~0.1 s for a categorical cast and the counting sort) nor gathers
 * the frame. Returns null when some ticker's rows are not in date order (files
 * that overlap): the caller sorts instead.
 */
export async function lakeArrays(
  rows: DataFrame,
  asOfDay: number,
  factors: ReadonlyMap<string, { day: number[]; factor: number[] }> | null,
): Promise<DailyArrays | null> {
  const total = rows.height;
  // Columns come over one at a time, and each source array is dropped once permuted:
  // peak memory holds the permuted arrays plus one column, not two copies of the window.
  // Each is computed by an async collect on Polars' threads, not a DataFrame.select, which
  // blocks the event loop: a full build's other window runs its JavaScript meanwhile.
  const column = async (expr: pl.Expr): Promise<pl.Series> => (await rows.lazy().select(expr).collect()).getColumns()[0]!;
  const v = values();
  const codes = (await column(pl.col('ticker').cast(pl.Categorical).toPhysical().alias('code'))).toTypedArray() as Uint32Array;
  const date0 = (await column(v[0]!)).toTypedArray() as Int32Array;
  // Each code's first row, then the codes ranked by their ticker string.
  const firstRow = new Map<number, number>();
  for (let i = 0; i < total; i++) if (!firstRow.has(codes[i]!)) firstRow.set(codes[i]!, i);
  const distinct = [...firstRow.keys()];
  const names = distinct.length === 0 ? [] : (rows.select(pl.col('ticker').gather(distinct.map((c) => firstRow.get(c)!))).getColumn('ticker').toArray() as string[]);
  const byName = distinct.map((code, k) => ({ code, name: names[k]! })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Code -> rank as a table (codes are small: one per distinct string the process has cast).
  let maxCode = 0;
  for (const c of distinct) if (c > maxCode) maxCode = c;
  const rankOfCode = new Uint32Array(maxCode + 1);
  byName.forEach((x, r) => (rankOfCode[x.code] = r));
  const t = byName.length;
  // Counting sort of the rows on or before asOf.
  const rank = new Uint32Array(total);
  const count = new Uint32Array(t + 1);
  for (let i = 0; i < total; i++) {
    const r = rankOfCode[codes[i]!]!;
    rank[i] = r;
    if (date0[i]! <= asOfDay) count[r + 1]!++;
  }
  for (let r = 1; r <= t; r++) count[r]! += count[r - 1]!;
  const n = count[t]!;
  const begin = count.slice(0, t + 1);
  const perm = new Uint32Array(n);
  for (let i = 0; i < total; i++) if (date0[i]! <= asOfDay) perm[count[rank[i]!]!++] = i;
  const tid = new Uint32Array(n);
  const date = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const i = perm[j]!;
    tid[j] = rank[i]!;
    date[j] = date0[i]!;
  }
  const order = dateOrder(tid, date);
  if (!order.sorted) return null;
  const permuted = {} as Record<(typeof VALUE_NAMES)[number], Float64Array>;
  for (const [k, name] of VALUE_NAMES.entries()) {
    const src = (await column(v[k + 1]!)).toTypedArray() as Float64Array;
    const dst = new Float64Array(n);
    for (let j = 0; j < n; j++) dst[j] = src[perm[j]!]!;
    permuted[name] = dst;
  }
  // Factors: a row before a split's execution day takes the cumulative factor of the first such split.
  let factor: Float64Array | null = null;
  if (factors && factors.size > 0) {
    for (let r = 0; r < t; r++) {
      const f = factors.get(byName[r]!.name);
      if (!f || f.day.length === 0) continue;
      factor ??= new Float64Array(n).fill(1);
      let k = 0;
      for (let j = begin[r]!; j < begin[r + 1]!; j++) {
        while (k < f.day.length && f.day[k]! <= date[j]!) k++;
        if (k >= f.day.length) break;
        factor[j] = f.factor[k]!;
      }
    }
    if (factor && factor.every((x) => x === 1)) factor = null;
  }
  const { sidx, offCalendarAt, maxSidx } = sessionIndices(date);
  return {
    n,
    tid,
    sidx,
    date,
    ...permuted,
    factor,
    maxSidx,
    sorted: true,
    duplicateAt: -1,
    offCalendarAt,
    tickerNames: byName.map((x) => x.name),
  };
}

/** Run numbers from run-start flags: 1 for the first run, then one more at each flag. */
function runIds(starts: Uint8Array): Uint32Array {
  const tid = new Uint32Array(starts.length);
  let t = 0;
  for (let i = 0; i < starts.length; i++) {
    t += starts[i]!;
    tid[i] = t;
  }
  return tid;
}

let arraySelect: pl.Expr[] | undefined;
/**
 * The arrays the kernel reads, from daily rows (`ticker, date, open, high,
 * low, close, volume, vwap, transactions`, and `__f` on the end-date basis)
 * that should be sorted by (ticker, date): `sorted` says whether they are.
 * Tickers must not be null (`resample` refuses such frames).
 * Missing values become NaN, which the kernel skips as Polars skips nulls.
 * The session index comes from a table lookup, not a join.
 */
export function dailyArrays(rows: DataFrame): DailyArrays {
  const hasFactor = rows.columns.includes('__f');
  // A flag per row that starts a ticker run; the run numbers are counted in JS (Polars' cumSum
  // over 5 M rows took about twice as long as the comparison and the flags' transfer together).
  arraySelect ??= [pl.col('ticker').neq(pl.col('ticker').shift(1)).fillNull(true).cast(pl.UInt8).alias('run_start'), ...values()];
  const cols = rows.select(...arraySelect, ...(hasFactor ? [pl.col('__f').cast(pl.Float64).alias('factor')] : []));
  const n = rows.height;
  const tid = runIds(cols.getColumn('run_start').toTypedArray() as Uint8Array);
  const desc = !tickersAscending(rows, tid);
  const date = cols.getColumn('date').toTypedArray() as Int32Array;
  const order = desc ? { sorted: false, duplicateAt: -1 } : dateOrder(tid, date);
  const { sidx, offCalendarAt, maxSidx } = sessionIndices(date);
  let factor = hasFactor ? floats(cols, 'factor') : null;
  // A window no split reaches has every factor 1: skip the per-row division.
  if (factor && factor.every((f) => f === 1)) factor = null;
  return {
    n,
    tid,
    sidx,
    date,
    open: floats(cols, 'open'),
    high: floats(cols, 'high'),
    low: floats(cols, 'low'),
    close: floats(cols, 'close'),
    volume: floats(cols, 'volume'),
    vwap: floats(cols, 'vwap'),
    tx: floats(cols, 'tx'),
    factor,
    maxSidx,
    sorted: order.sorted,
    duplicateAt: order.duplicateAt,
    offCalendarAt,
  };
}

/**
 * One interval's bars from the arrays, as a frame in `BAR_SCHEMA` sorted by
 * (ticker, bucket). `rows` is the frame the arrays came from (each bar's
 * ticker is gathered from it at the bar's first row); arrays from
 * `lakeArrays` carry their tickers and need none. Only the buckets in
 * `buckets` are built (default: all). On the end-date basis (`a.factor`),
 * the rows of a bar are moved to the split basis of its last row first.
 */
export function kernelBars(rows: DataFrame | null, a: DailyArrays, days: number, anchor: KernelAnchor, asOfIdx: number | undefined, buckets?: BucketSet): DataFrame {
  const last = asOfIdx ?? a.maxSidx;
  const mode = anchor === 'calendar' ? CALENDAR : anchor === 'ticker' ? TICKER : LATEST;
  // Kept buckets: a range (none given: all), or a list (a mask over its range).
  let lo = -2147483648;
  let hi = 2147483647;
  let mask: Uint8Array | null = null;
  if (buckets !== undefined && 'lo' in buckets) ({ lo, hi } = buckets);
  else if (buckets !== undefined) {
    const list = buckets as readonly number[];
    lo = list.length > 0 ? Math.min(...list) : 0;
    hi = list.length > 0 ? Math.max(...list) : -1;
    mask = new Uint8Array(Math.max(0, hi - lo + 1));
    for (const b of list) mask[b - lo] = 1;
  }
  a.scratch ??= { m: 0, start: new Int32Array(a.n), end: new Int32Array(a.n), bucket: new Int32Array(a.n) };
  const runs = findRuns(a.tid, a.sidx, a.n, days, mode, last, lo, hi, mask, a.scratch);
  const out = allocate(runs.m);
  if (a.factor === null) aggregatePlain(a, runs, out);
  else aggregateAdjusted(a, a.factor, runs, out);
  finish(a, runs, out, days, mode, last);
  let tickers: pl.Series;
  if (a.tickerNames) {
    // The ticker of each bar by its rank: a gather from the few thousand names.
    const tid = a.tid;
    const ranks = out.first.map((k) => tid[k]!);
    tickers = pl
      .DataFrame([pl.Series('ticker', a.tickerNames, pl.Utf8)])
      .select(pl.col('ticker').gather(pl.Series('i', ranks as unknown as number[], pl.UInt32)))
      .getColumn('ticker');
  } else {
    if (!rows) throw new TypeError('kernelBars: the rows the arrays came from are needed for the tickers');
    tickers = rows.select(pl.col('ticker').gather(pl.Series('i', out.first as unknown as number[], pl.UInt32))).getColumn('ticker');
  }
  const frame = pl.DataFrame([
    tickers,
    pl.Series('start_date', out.startDate, pl.Int32),
    pl.Series('end_date', out.endDate, pl.Int32),
    pl.Series('open', out.o, pl.Float64),
    pl.Series('high', out.h, pl.Float64),
    pl.Series('low', out.l, pl.Float64),
    pl.Series('close', out.c, pl.Float64),
    pl.Series('volume', out.v, pl.Float64),
    pl.Series('vwap', out.vwap, pl.Float64),
    pl.Series('transactions', out.tx, pl.Float64),
    pl.Series('n_days', out.n, pl.Int32),
    pl.Series('bucket', runs.bucket.slice(0, runs.m), pl.Int32),
    pl.Series('is_complete', out.complete as unknown as number[], pl.UInt8),
  ]);
  return frame.select(...barSelect());
}

const CALENDAR = 0;
const TICKER = 1;
const LATEST = 2;

interface Runs {
  m: number;
  start: Int32Array;
  end: Int32Array;
  bucket: Int32Array;
}

interface Out {
  first: Uint32Array;
  startDate: Int32Array;
  endDate: Int32Array;
  o: Float64Array;
  h: Float64Array;
  l: Float64Array;
  c: Float64Array;
  v: Float64Array;
  vwap: Float64Array;
  tx: Float64Array;
  n: Int32Array;
  complete: Uint8Array;
}

function allocate(m: number): Out {
  return {
    first: new Uint32Array(m),
    startDate: new Int32Array(m),
    endDate: new Int32Array(m),
    o: new Float64Array(m),
    h: new Float64Array(m),
    l: new Float64Array(m),
    c: new Float64Array(m),
    v: new Float64Array(m),
    vwap: new Float64Array(m),
    tx: new Float64Array(m),
    n: new Int32Array(m),
    complete: new Uint8Array(m),
  };
}

// The loops below are small functions of their own, in integer arithmetic,
// so V8 optimises each with stable type feedback: one big function was
// deoptimised on every call and ran about 5x slower.

/**
 * The runs of rows (one per bar) as row ranges [start, end], with their
 * buckets: a run ends where the ticker or the bucket changes, or at a row
 * whose bucket is not kept.
 */
function findRuns(tid: Uint32Array, sidx: Int32Array, n: number, days: number, mode: number, last: number, lo: number, hi: number, mask: Uint8Array | null, scratch: Runs): Runs {
  // Sized for the upper bound (every row its own bar), allocated once per set of arrays.
  const { start, end, bucket } = scratch;
  let m = 0;
  let curT = -1;
  let curB = 0;
  let kept = false;
  // The keys (session index, or row number under the ticker anchor) of the
  // current bucket: a bucket is computed (a division) only when a row's key
  // leaves this range or the ticker changes, not for every row.
  let keyLo = 0;
  let keyHi = -1;
  let row = 0;
  let open = false;
  for (let i = 0; i < n; i++) {
    const t = tid[i]!;
    if (t !== curT) row = 0;
    const key = mode === TICKER ? row : sidx[i]!;
    row++;
    if (t !== curT || key < keyLo || key > keyHi) {
      // Session indices and row numbers are >= 0, and rows after `last` were dropped: `| 0` floors.
      let b: number;
      if (mode === LATEST) {
        const q = ((last - key) / days) | 0;
        b = -q;
        keyHi = last - q * days;
        keyLo = keyHi - days + 1;
      } else {
        b = (key / days) | 0;
        keyLo = b * days;
        keyHi = keyLo + days - 1;
      }
      const wasKept = kept;
      kept = b >= lo && b <= hi && (mask === null || mask[b - lo] === 1);
      if (open && (!kept || !wasKept || t !== curT || b !== curB)) {
        end[m - 1] = i - 1;
        open = false;
      }
      if (kept && !open) {
        start[m] = i;
        bucket[m] = b;
        m++;
        open = true;
      }
      curB = b;
      curT = t;
    }
  }
  if (open) end[m - 1] = n - 1;
  return { m, start, end, bucket };
}

/** First open, max high, min low, last close and the sums of each run, from the values as they are. */
function aggregatePlain(a: DailyArrays, runs: Runs, out: Out): void {
  const { open: O, high: H, low: L, close: C, volume: V, vwap: W, tx: X } = a;
  const { start, end, m } = runs;
  for (let k = 0; k < m; k++) {
    const s = start[k]!;
    const e = end[k]!;
    let hi = Number.NEGATIVE_INFINITY;
    let lo = Number.POSITIVE_INFINITY;
    let vol = 0;
    let num = 0;
    let den = 0;
    let tx = 0;
    let txN = 0;
    for (let i = s; i <= e; i++) {
      const x = H[i]!;
      if (x > hi) hi = x;
      const y = L[i]!;
      if (y < lo) lo = y;
      const w = V[i]!;
      if (w === w) {
        vol += w;
        const p = W[i]!;
        if (p === p) {
          num += p * w;
          den += w;
        }
      }
      const q = X[i]!;
      if (q === q) {
        tx += q;
        txN++;
      }
    }
    out.o[k] = O[s]!;
    out.h[k] = hi;
    out.l[k] = lo;
    out.c[k] = C[e]!;
    out.v[k] = vol;
    out.vwap[k] = den > 0 ? num / den : Number.NaN;
    out.tx[k] = txN > 0 ? tx : Number.NaN;
  }
}

/**
 * The same on the end-date basis: each row of a run is moved to the basis of
 * the run's last row (prices divided, volume multiplied by
 * factor[row] / factor[last]; vwap x volume is unchanged by a split). For a
 * run no split falls inside the ratio is exactly 1 and the values stay as
 * they are.
 */
function aggregateAdjusted(a: DailyArrays, factor: Float64Array, runs: Runs, out: Out): void {
  const { open: O, high: H, low: L, close: C, volume: V, vwap: W, tx: X } = a;
  const { start, end, m } = runs;
  for (let k = 0; k < m; k++) {
    const s = start[k]!;
    const e = end[k]!;
    const fe = factor[e]!;
    let hi = Number.NEGATIVE_INFINITY;
    let lo = Number.POSITIVE_INFINITY;
    let vol = 0;
    let num = 0;
    let den = 0;
    let tx = 0;
    let txN = 0;
    for (let i = s; i <= e; i++) {
      const g = factor[i]! / fe;
      const x = H[i]! / g;
      if (x > hi) hi = x;
      const y = L[i]! / g;
      if (y < lo) lo = y;
      const w0 = V[i]!;
      if (w0 === w0) {
        const w = w0 * g;
        vol += w;
        const p = W[i]!;
        if (p === p) {
          num += p * w0;
          den += w;
        }
      }
      const q = X[i]!;
      if (q === q) {
        tx += q;
        txN++;
      }
    }
    out.o[k] = O[s]! / (factor[s]! / fe);
    out.h[k] = hi;
    out.l[k] = lo;
    out.c[k] = C[e]!;
    out.v[k] = vol;
    out.vwap[k] = den > 0 ? num / den : Number.NaN;
    out.tx[k] = txN > 0 ? tx : Number.NaN;
  }
}

/** Dates, counts and completeness of each run; an all-missing high or low becomes NaN (null). */
function finish(a: DailyArrays, runs: Runs, out: Out, days: number, mode: number, last: number): void {
  const { start, end, bucket, m } = runs;
  const date = a.date;
  for (let k = 0; k < m; k++) {
    const s = start[k]!;
    const e = end[k]!;
    const b = bucket[k]!;
    const count = e - s + 1;
    out.first[k] = s;
    out.startDate[k] = date[s]!;
    out.endDate[k] = date[e]!;
    out.n[k] = count;
    if (out.h[k] === Number.NEGATIVE_INFINITY) out.h[k] = Number.NaN;
    if (out.l[k] === Number.POSITIVE_INFINITY) out.l[k] = Number.NaN;
    if (mode === TICKER) out.complete[k] = count === days ? 1 : 0;
    else if (mode === CALENDAR) out.complete[k] = (b + 1) * days - 1 <= last ? 1 : 0;
    // latest: every bucket ends on or before asOf; only one reaching before 1990-01-02 is short.
    else out.complete[k] = last + b * days - (days - 1) >= 0 ? 1 : 0;
  }
}

let barSelectCache: pl.Expr[] | undefined;
/** Casts to BAR_SCHEMA; NaN (a missing value in the arrays) becomes null. */
function barSelect(): pl.Expr[] {
  barSelectCache ??= Object.entries(BAR_SCHEMA).map(([name, type]) => {
    const col = pl.col(name);
    if (name === 'start_date' || name === 'end_date') return col.cast(type).alias(name);
    if (name === 'ticker' || name === 'volume' || name === 'n_days' || name === 'bucket') return col.cast(type).alias(name);
    if (name === 'is_complete') return col.cast(pl.Bool).alias(name);
    return col.fillNan(null).cast(type).alias(name);
  });
  return barSelectCache;
}
