// Security identity across symbol changes (LAKE.md, "Identity"): the
// ticker history built from the vendor's ticker-change events and the ticker
// snapshot, point-in-time symbol resolution, and the attachment of a security
// id to rows stored under the symbol they traded as.
import pl from 'nodejs-polars';
import type { DataFrame } from 'nodejs-polars';
import { isSession, latestSessionOnOrBefore, nextSession, previousSession } from './calendar.js';
import { epochDayToIso, isIsoDate, isoToEpochDay } from './dates.js';
import { ConfigError } from './errors.js';
import { TICKER_HISTORY_SCHEMA, selectAs } from './schemas.js';

/** How rows are keyed when read: by the symbol they traded as (default), or by security across renames. */
export type Identity = 'ticker' | 'security';

/** One row of `ticker_history`: `ticker` named `securityId` from `from` to `to` (ISO sessions; null: open). */
export interface TickerInterval {
  securityId: string;
  ticker: string;
  from: string | null;
  to: string | null;
  name: string | null;
  source: 'events' | 'snapshot';
}

const iso = (v: unknown): string | null => {
  if (v === null || v === undefined) return null;
  // Not `instanceof`: Polars' dates may come from another realm (a test VM, a worker).
  if (Object.prototype.toString.call(v) === '[object Date]') return (v as Date).toISOString().slice(0, 10);
  if (typeof v === 'number') return epochDayToIso(v);
  return String(v).slice(0, 10);
};

function onOrBeforeSession(date: string): string {
  return isSession(date) ? date : latestSessionOnOrBefore(date);
}

/** Events of one composite FIGI, oldest first, one per date (the last listed wins), repeats of a symbol merged. */
function timeline(events: Array<{ ticker: string; date: string }>): Array<{ ticker: string; date: string }> {
  const byDate = new Map<string, string>();
  for (const e of events) byDate.set(e.date, e.ticker);
  const sorted = [...byDate.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([date, ticker]) => ({ ticker, date }));
  return sorted.filter((e, i) => i === 0 || e.ticker !== sorted[i - 1]!.ticker);
}

interface SnapshotRow {
  ticker: string;
  figi: string | null;
  name: string | null;
  active: boolean | null;
  delisted: string | null;
}

function snapshotRows(snapshot: DataFrame | null): SnapshotRow[] {
  if (!snapshot || snapshot.height === 0) return [];
  return snapshot.toRecords().map((r) => ({
    ticker: String(r['ticker']),
    figi: (r['composite_figi'] as string | null) ?? null,
    name: (r['name'] as string | null) ?? null,
    active: (r['active'] as boolean | null) ?? null,
    delisted: r['delisted_utc'] === null || r['delisted_utc'] === undefined ? null : new Date(r['delisted_utc'] as string | number).toISOString().slice(0, 10),
  }));
}

/**
 * The ticker history from the vendor's ticker-change events
 * (`parseTickerEvents`: `composite_figi, name, ticker, date`) and the newest
 * ticker snapshot (`TICKERS_SCHEMA`). A security with events gets one row per
 * symbol it had, from the session the symbol took effect to the session
 * before the next change (the last one open, or ending on its delisting).
 * Every other ticker of the snapshot is its own row, keyed by its composite
 * FIGI or, without one, by the ticker; when its symbol named another security
 * before (a reused symbol), it starts the session after that one's last.
 */
export function buildTickerHistory(events: DataFrame, snapshot: DataFrame | null): DataFrame {
  const byFigi = new Map<string, { name: string | null; list: Array<{ ticker: string; date: string }> }>();
  for (const r of events.toRecords()) {
    const figi = r['composite_figi'] as string | null;
    const date = iso(r['date']);
    if (figi === null || date === null || !isIsoDate(date)) continue;
    const entry = byFigi.get(figi) ?? { name: null, list: [] };
    entry.name = (r['name'] as string | null) ?? entry.name;
    entry.list.push({ ticker: String(r['ticker']), date });
    byFigi.set(figi, entry);
  }
  const snap = snapshotRows(snapshot);
  const delistedOf = new Map(snap.filter((s) => s.figi !== null && s.active === false && s.delisted !== null).map((s) => [s.figi!, s.delisted!]));
  const out: TickerInterval[] = [];
  for (const [figi, { name, list }] of byFigi) {
    const changes = timeline(list);
    changes.forEach((c, i) => {
      const from = isSession(c.date) ? c.date : nextSession(c.date);
      const next = changes[i + 1];
      const delisted = delistedOf.get(figi);
      const to = next ? previousSession(next.date) : delisted ? onOrBeforeSession(delisted) : null;
      if (to !== null && to < from) return;
      out.push({ securityId: figi, ticker: c.ticker, from, to, name, source: 'events' });
    });
  }
  const lastEnd = new Map<string, string>();
  for (const i of out) if (i.to !== null && (lastEnd.get(i.ticker) ?? '') < i.to) lastEnd.set(i.ticker, i.to);
  const seen = new Set<string>();
  for (const s of snap) {
    if (s.figi !== null && byFigi.has(s.figi)) continue;
    const securityId = s.figi ?? s.ticker;
    const key = `${securityId}\u0000${s.ticker}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const before = lastEnd.get(s.ticker);
    const to = s.active === false && s.delisted !== null ? onOrBeforeSession(s.delisted) : null;
    out.push({ securityId, ticker: s.ticker, from: before ? nextSession(before) : null, to, name: s.name, source: 'snapshot' });
  }
  out.sort((a, b) => (a.securityId < b.securityId ? -1 : a.securityId > b.securityId ? 1 : (a.from ?? '') < (b.from ?? '') ? -1 : (a.from ?? '') > (b.from ?? '') ? 1 : 0));
  const day = (v: string | null) => (v === null ? null : isoToEpochDay(v));
  return selectAs(
    pl.DataFrame([
      pl.Series('security_id', out.map((i) => i.securityId), pl.Utf8),
      pl.Series('ticker', out.map((i) => i.ticker), pl.Utf8),
      pl.Series('from_date', out.map((i) => day(i.from)), pl.Int32).cast(pl.Date),
      pl.Series('to_date', out.map((i) => day(i.to)), pl.Int32).cast(pl.Date),
      pl.Series('name', out.map((i) => i.name), pl.Utf8),
      pl.Series('source', out.map((i) => i.source), pl.Utf8),
    ]),
    TICKER_HISTORY_SCHEMA,
  );
}

/** The rows of a `ticker_history` frame as intervals. */
export function tickerIntervals(history: DataFrame): TickerInterval[] {
  return history.toRecords().map((r) => ({
    securityId: String(r['security_id']),
    ticker: String(r['ticker']),
    from: iso(r['from_date']),
    to: iso(r['to_date']),
    name: (r['name'] as string | null) ?? null,
    source: r['source'] === 'events' ? 'events' : 'snapshot',
  }));
}

/**
 * The interval that `symbol` names as of `asOf` (an ISO date; null: the one
 * in force now, else the latest to end), or null when the history does not
 * know the symbol then. An interval from the vendor's events (exact dates)
 * wins over a snapshot's open one.
 */
export function resolveSymbol(intervals: readonly TickerInterval[], symbol: string, asOf: string | null): TickerInterval | null {
  const holds = (i: TickerInterval) => asOf === null || ((i.from === null || i.from <= asOf) && (i.to === null || i.to >= asOf));
  const candidates = intervals.filter((i) => i.ticker === symbol && holds(i));
  const rank = (i: TickerInterval) => (i.source === 'events' ? 0 : 1) + (asOf === null && i.to !== null ? 2 : 0);
  candidates.sort((a, b) => rank(a) - rank(b) || ((b.to ?? '9999') < (a.to ?? '9999') ? -1 : 1));
  return candidates[0] ?? null;
}

/** The securities `symbols` name as of `asOf`; a symbol the history does not know is its own security. */
export function securitiesOf(intervals: readonly TickerInterval[], symbols: readonly string[], asOf: string | null): string[] {
  if (asOf !== null && !isIsoDate(asOf)) throw new ConfigError(`asOf ${JSON.stringify(asOf)} is not a date (YYYY-MM-DD)`);
  return [...new Set(symbols.map((s) => resolveSymbol(intervals, s, asOf)?.securityId ?? s))];
}

/** Every symbol that named one of `ids` (and the ids that are bare symbols). */
export function symbolsOf(intervals: readonly TickerInterval[], ids: readonly string[]): string[] {
  const wanted = new Set(ids);
  const out = new Set(intervals.filter((i) => wanted.has(i.securityId)).map((i) => i.ticker));
  for (const id of ids) if (!intervals.some((i) => i.securityId === id)) out.add(id);
  return [...out].sort();
}

/**
 * `rows` (with `ticker` and the date column `on`) with a `security_id`
 * column: the security whose interval of that symbol holds the row's date
 * (events rows win over snapshot rows), or the ticker itself when none does.
 */
export function attachSecurity(rows: DataFrame, intervals: readonly TickerInterval[], on: string): DataFrame {
  if (intervals.length === 0 || rows.height === 0) return rows.withColumns(pl.col('ticker').alias('security_id'));
  const far = isoToEpochDay('9999-12-31');
  const near = isoToEpochDay('1900-01-01');
  const iv = pl.DataFrame([
    pl.Series('ticker', intervals.map((i) => i.ticker), pl.Utf8),
    pl.Series('__sid', intervals.map((i) => i.securityId), pl.Utf8),
    pl.Series('__from', intervals.map((i) => (i.from === null ? near : isoToEpochDay(i.from))), pl.Int32).cast(pl.Date),
    pl.Series('__to', intervals.map((i) => (i.to === null ? far : isoToEpochDay(i.to))), pl.Int32).cast(pl.Date),
    pl.Series('__pref', intervals.map((i) => (i.source === 'events' ? 0 : 1)), pl.Int32),
  ]);
  const indexed = rows.withRowIndex('__row');
  const matched = indexed
    .join(iv, { on: 'ticker', how: 'inner' })
    .filter(pl.col(on).gtEq(pl.col('__from')).and(pl.col(on).ltEq(pl.col('__to'))))
    .sort(['__row', '__pref'])
    .unique({ subset: ['__row'], keep: 'first', maintainOrder: true })
    .select(pl.col('__row'), pl.col('__sid'));
  return indexed
    .join(matched, { on: '__row', how: 'left' })
    .sort('__row')
    .withColumns(pl.col('__sid').fillNull(pl.col('ticker')).alias('security_id'))
    .drop(['__row', '__sid']);
}
