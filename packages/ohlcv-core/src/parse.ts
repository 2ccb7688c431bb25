// Parsers from the raw zone (a JSON array of the vendor's response bodies,
// exactly as received) to typed frames. Parsing is lenient about values and
// strict about structure: a field of the wrong type becomes null and is then
// rejected by validation with its reason (nothing is silently dropped), while
// a page that is not a vendor response at all fails with DataQualityError.
import pl from 'nodejs-polars';
import type { DataFrame, Series } from 'nodejs-polars';
import { isSession } from './calendar.js';
import { isoToEpochDay, toEpochMs } from './dates.js';
import { ConfigError, DataQualityError } from './errors.js';
import { DIVIDENDS_SCHEMA, RAW_DAILY_SCHEMA, SPLITS_SCHEMA, TICKERS_SCHEMA, selectAs } from './schemas.js';

type Json = Record<string, unknown>;

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function int(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function bool(v: unknown): boolean | null {
  return typeof v === 'boolean' ? v : null;
}

function timestampMs(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : null;
}

/** The `results` entries of every page, in page order. */
function resultsOf(pages: readonly unknown[], what: string): Json[] {
  if (!Array.isArray(pages)) throw new DataQualityError(`${what}: expected an array of response pages, got ${typeof pages}`);
  const out: Json[] = [];
  pages.forEach((raw, i) => {
    let page: unknown = raw;
    if (typeof raw === 'string') {
      try {
        page = JSON.parse(raw);
      } catch (cause) {
        throw new DataQualityError(`${what}: page ${i} is not valid JSON`, { cause });
      }
    }
    if (page === null || typeof page !== 'object' || Array.isArray(page)) {
      throw new DataQualityError(`${what}: page ${i} is not a JSON object`);
    }
    const p = page as Json;
    const status = p['status'];
    if (typeof status === 'string' && !['OK', 'DELAYED'].includes(status)) {
      throw new DataQualityError(`${what}: page ${i} has status ${status}`);
    }
    const results = p['results'];
    if (results === undefined || results === null) return; // no rows (e.g. resultsCount 0)
    if (!Array.isArray(results)) throw new DataQualityError(`${what}: page ${i} has a non-array "results"`);
    results.forEach((r, j) => {
      if (r === null || typeof r !== 'object' || Array.isArray(r)) {
        throw new DataQualityError(`${what}: page ${i} result ${j} is not an object`);
      }
      out.push(r as Json);
    });
  });
  return out;
}

function dateColumn(name: string, days: (number | null)[]): Series {
  return pl.Series(name, days, pl.Int32).cast(pl.Date);
}

function datetimeColumn(name: string, ms: (number | null)[]): Series {
  return pl.Series(name, ms, pl.Float64).cast(pl.Int64).cast(pl.Datetime('ms', 'UTC'));
}

/**
 * Parse the raw pages of one grouped-daily fetch (vendor
 * `/v2/aggs/grouped/locale/us/market/stocks/{date}`, `adjusted=false`) into
 * raw daily rows. Vendor fields: `T` ticker, `o h l c` prices, `v` volume,
 * `vw` vwap and `n` transactions (both may be missing), `t` (ignored: the
 * date is always `session`).
 *
 * @param pages the JSON array stored in the raw zone (parsed objects or body strings)
 * @param session the NYSE session the fetch asked for, `YYYY-MM-DD`
 * @param fetchedAt when the fetch ran (Date, ISO timestamp or epoch ms)
 * @param fetchId the raw file's fetch id; the greatest id of a session is its latest fetch
 * @example
 * import { parseGroupedDaily } from '@fibbars/ohlcv-core';
 * const raw = parseGroupedDaily(
 *   [{ status: 'OK', results: [{ T: 'AAPL', o: 189.3, h: 191.1, l: 188.9, c: 190.6, v: 5.1e7, vw: 190.1, n: 612345, t: 1717531200000 }] }],
 *   '2024-06-04',
 *   new Date(),
 *   '20240604T220000000Z-1a2b3c4d',
 * );
 */
export function parseGroupedDaily(
  pages: readonly unknown[],
  session: string,
  fetchedAt: Date | string | number,
  fetchId?: string,
): DataFrame {
  let day: number;
  try {
    day = isoToEpochDay(session);
  } catch (cause) {
    throw new ConfigError(`parseGroupedDaily: ${(cause as Error).message}`, { cause });
  }
  if (!isSession(session)) throw new ConfigError(`parseGroupedDaily: ${session} is not an NYSE session`);
  const fetchedMs = toEpochMs(fetchedAt, 'fetchedAt');
  const rows = resultsOf(pages, `grouped daily ${session}`);
  const n = rows.length;
  const ticker: (string | null)[] = new Array(n);
  const open: (number | null)[] = new Array(n);
  const high: (number | null)[] = new Array(n);
  const low: (number | null)[] = new Array(n);
  const close: (number | null)[] = new Array(n);
  const volume: (number | null)[] = new Array(n);
  const vwap: (number | null)[] = new Array(n);
  const transactions: (number | null)[] = new Array(n);
  rows.forEach((r, i) => {
    ticker[i] = str(r['T']);
    open[i] = num(r['o']);
    high[i] = num(r['h']);
    low[i] = num(r['l']);
    close[i] = num(r['c']);
    volume[i] = num(r['v']);
    vwap[i] = num(r['vw']);
    transactions[i] = int(r['n']);
  });
  return selectAs(pl.DataFrame([
    pl.Series('ticker', ticker, pl.Utf8),
    dateColumn('date', new Array<number>(n).fill(day)),
    pl.Series('open', open, pl.Float64),
    pl.Series('high', high, pl.Float64),
    pl.Series('low', low, pl.Float64),
    pl.Series('close', close, pl.Float64),
    pl.Series('volume', volume, pl.Float64),
    pl.Series('vwap', vwap, pl.Float64),
    pl.Series('transactions', transactions, pl.Int64),
    datetimeColumn('fetched_at', new Array<number>(n).fill(fetchedMs)),
    pl.Series('fetch_id', new Array<string | null>(n).fill(fetchId ?? null), pl.Utf8),
  ]), RAW_DAILY_SCHEMA);
}

/**
 * Parse a ticker reference snapshot (vendor `/v3/reference/tickers`, all
 * pages, active and delisted) into the tickers schema. Entries without a
 * `ticker` are dropped; a symbol may appear twice (a delisted company and a
 * later one reusing the symbol), so no deduplication happens here.
 *
 * @example
 * import { parseTickers } from '@fibbars/ohlcv-core';
 * const tickers = parseTickers([{ status: 'OK', results: [{ ticker: 'A', name: 'Agilent', market: 'stocks', active: true }] }]);
 */
export function parseTickers(pages: readonly unknown[]): DataFrame {
  const rows = resultsOf(pages, 'tickers').filter((r) => str(r['ticker']) !== null);
  const col = (name: string) => rows.map((r) => str(r[name]));
  return selectAs(pl.DataFrame([
    pl.Series('ticker', col('ticker'), pl.Utf8),
    pl.Series('name', col('name'), pl.Utf8),
    pl.Series('market', col('market'), pl.Utf8),
    pl.Series('locale', col('locale'), pl.Utf8),
    pl.Series('primary_exchange', col('primary_exchange'), pl.Utf8),
    pl.Series('type', col('type'), pl.Utf8),
    pl.Series('active', rows.map((r) => bool(r['active'])), pl.Bool),
    pl.Series('currency_name', col('currency_name'), pl.Utf8),
    pl.Series('cik', col('cik'), pl.Utf8),
    pl.Series('composite_figi', col('composite_figi'), pl.Utf8),
    pl.Series('share_class_figi', col('share_class_figi'), pl.Utf8),
    datetimeColumn('last_updated_utc', rows.map((r) => timestampMs(r['last_updated_utc']))),
    datetimeColumn('delisted_utc', rows.map((r) => timestampMs(r['delisted_utc']))),
  ]), TICKERS_SCHEMA);
}

/**
 * Parse the raw pages of a splits fetch (vendor `/v3/reference/splits`) into
 * the splits schema, one row per (ticker, execution_date). Entries without a
 * ticker, with a malformed date, or with a non-positive ratio cannot be used
 * for adjustment and are dropped; exact repeats collapse to one.
 *
 * @example
 * import { parseSplits } from '@fibbars/ohlcv-core';
 * const splits = parseSplits([{ status: 'OK', results: [{ ticker: 'AAPL', execution_date: '2020-08-31', split_from: 1, split_to: 4 }] }]);
 */
export function parseSplits(pages: readonly unknown[]): DataFrame {
  const ticker: string[] = [];
  const day: number[] = [];
  const from: number[] = [];
  const to: number[] = [];
  const seen = new Set<string>();
  for (const r of resultsOf(pages, 'splits')) {
    const t = str(r['ticker']);
    const d = str(r['execution_date']);
    const f = num(r['split_from']);
    const s = num(r['split_to']);
    if (t === null || d === null || f === null || s === null || f <= 0 || s <= 0) continue;
    let ed: number;
    try {
      ed = isoToEpochDay(d);
    } catch {
      continue;
    }
    const key = `${t}\u0000${ed}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ticker.push(t);
    day.push(ed);
    from.push(f);
    to.push(s);
  }
  return selectAs(pl.DataFrame([
    pl.Series('ticker', ticker, pl.Utf8),
    dateColumn('execution_date', day),
    pl.Series('split_from', from, pl.Float64),
    pl.Series('split_to', to, pl.Float64),
  ]), SPLITS_SCHEMA);
}

function epochDayOrNull(v: unknown): number | null {
  const d = str(v);
  if (d === null || !/^\d{4}-\d{2}-\d{2}$/.test(d)) return null;
  try {
    return isoToEpochDay(d);
  } catch {
    return null;
  }
}

/**
 * Parse the raw pages of a dividends fetch (vendor `/v3/reference/dividends`)
 * into the dividends schema, one row per (ticker, ex_dividend_date,
 * dividend_type): the last report of a key in the fetch wins. Entries
 * without a ticker, with a malformed ex-dividend date, or with a cash amount
 * that is not a positive number cannot adjust anything and are dropped; a
 * missing `dividend_type` reads as `CD` (the vendor's default, regular cash).
 *
 * @example
 * import { parseDividends } from '@fibbars/ohlcv-core';
 * const d = parseDividends([{ status: 'OK', results: [{ ticker: 'AAPL', ex_dividend_date: '2024-08-12', cash_amount: 0.25, dividend_type: 'CD' }] }]);
 */
export function parseDividends(pages: readonly unknown[]): DataFrame {
  const rows = new Map<string, Json & { __ex: number }>();
  for (const r of resultsOf(pages, 'dividends')) {
    const t = str(r['ticker']);
    const ex = epochDayOrNull(r['ex_dividend_date']);
    const cash = num(r['cash_amount']);
    if (t === null || ex === null || cash === null || !(cash > 0)) continue;
    const type = str(r['dividend_type']) ?? 'CD';
    const key = `${t}\u0000${ex}\u0000${type}`;
    rows.delete(key);
    rows.set(key, { ...r, ticker: t, dividend_type: type, cash_amount: cash, __ex: ex });
  }
  const list = [...rows.values()];
  const col = (name: string) => list.map((r) => str(r[name]));
  const day = (name: string) => list.map((r) => epochDayOrNull(r[name]));
  return selectAs(pl.DataFrame([
    pl.Series('ticker', col('ticker'), pl.Utf8),
    dateColumn('ex_dividend_date', list.map((r) => r.__ex)),
    pl.Series('cash_amount', list.map((r) => r['cash_amount'] as number), pl.Float64),
    pl.Series('currency', col('currency'), pl.Utf8),
    pl.Series('dividend_type', col('dividend_type'), pl.Utf8),
    pl.Series('frequency', list.map((r) => int(r['frequency'])), pl.Int32),
    dateColumn('declaration_date', day('declaration_date')),
    dateColumn('record_date', day('record_date')),
    dateColumn('pay_date', day('pay_date')),
  ]), DIVIDENDS_SCHEMA);
}

/**
 * Parse the raw pages of a ticker-events fetch (vendor
 * `/vX/reference/tickers/{id}/events?types=ticker_change`, one page per id)
 * into `composite_figi, name, ticker, date`: one row per ticker change, the
 * date the symbol took effect. Pages without a composite FIGI, and events
 * that are not ticker changes or lack a symbol or a valid date, are dropped.
 *
 * @example
 * import { parseTickerEvents } from '@fibbars/ohlcv-core';
 * const events = parseTickerEvents([{ status: 'OK', results: { composite_figi: 'BBG000MM2P62', name: 'Meta Platforms', events: [
 *   { type: 'ticker_change', date: '2022-06-09', ticker_change: { ticker: 'META' } },
 *   { type: 'ticker_change', date: '2012-05-18', ticker_change: { ticker: 'FB' } } ] } }]);
 */
export function parseTickerEvents(pages: readonly unknown[]): DataFrame {
  if (!Array.isArray(pages)) throw new DataQualityError(`ticker events: expected an array of response pages, got ${typeof pages}`);
  const figi: string[] = [];
  const name: (string | null)[] = [];
  const ticker: string[] = [];
  const day: number[] = [];
  pages.forEach((raw, i) => {
    let page: unknown = raw;
    if (typeof raw === 'string') {
      try {
        page = JSON.parse(raw);
      } catch (cause) {
        throw new DataQualityError(`ticker events: page ${i} is not valid JSON`, { cause });
      }
    }
    if (page === null || typeof page !== 'object' || Array.isArray(page)) throw new DataQualityError(`ticker events: page ${i} is not a JSON object`);
    const results = (page as Json)['results'];
    if (results === undefined || results === null) return;
    if (typeof results !== 'object' || Array.isArray(results)) throw new DataQualityError(`ticker events: page ${i} has a "results" that is not an object`);
    const r = results as Json;
    const id = str(r['composite_figi']);
    const events = r['events'];
    if (id === null || !Array.isArray(events)) return;
    for (const e of events) {
      if (e === null || typeof e !== 'object') continue;
      const ev = e as Json;
      const change = ev['ticker_change'];
      const t = change !== null && typeof change === 'object' ? str((change as Json)['ticker']) : null;
      const d = epochDayOrNull(ev['date']);
      if (ev['type'] !== 'ticker_change' || t === null || d === null) continue;
      figi.push(id);
      name.push(str(r['name']));
      ticker.push(t);
      day.push(d);
    }
  });
  return pl.DataFrame([
    pl.Series('composite_figi', figi, pl.Utf8),
    pl.Series('name', name, pl.Utf8),
    pl.Series('ticker', ticker, pl.Utf8),
    dateColumn('date', day),
  ]);
}
