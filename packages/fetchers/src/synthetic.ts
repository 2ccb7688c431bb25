/**
 * A seeded synthetic US stock market that answers with the vendor's JSON.
 *
 * Everything is a pure function of (seed, listing, session): a hash of those
 * integers drives every random draw, so any session can be produced on its
 * own, in any order, byte for byte the same. Prices follow a geometric random
 * walk evaluated in closed form: the log price is known exactly at "anchor"
 * sessions every 256 sessions of a listing's life (a coarse random walk), and
 * between anchors by midpoint displacement (a Brownian bridge), so the price
 * on any session costs about 8 hash evaluations instead of a walk from 1990.
 * Anchors, splits and dividends are cached per listing for the life of the
 * process.
 */
import { createHash } from 'node:crypto';
import { newYorkClock, nyse } from '@fibbars/ohlcv-core/calendar';
import { checkIsoDate } from '@fibbars/ohlcv-core/dates';
import { ConfigError } from './errors.js';
import type { MarketSource, SourceRequest, SourceResult } from './source.js';
import { EMPTY_RESULT } from './source.js';
import { newYorkCloseMs } from './time.js';

/** Options of the synthetic market. */
export interface SyntheticOptions {
  /** Seed of every random draw (default 42). Same seed, same market. */
  seed?: number;
  /** Listing slots: about this many tickers trade on each session (default 300, up to 100,000). */
  tickers?: number;
  /** Clock used only to pick the default `asOf` of `tickers()`. */
  now?: () => Date;
}

// Module-level copies of Math: global lookups are slow inside vm contexts (test runners).
const { abs, ceil, cos, exp, floor, imul, log, max, min, sqrt } = Math;
const mathRound = Math.round;
const PI = Math.PI;

const BLOCK = 256;
const PAGE_LIMIT = 1000;
/** Generations per slot: a slot lists a new company after each delisting, up to this many. */
const MAX_GENERATIONS = 8;
const BASE_URL = 'https://synthetic.fibbars.invalid';
const SESSION_COUNT = nyse.sessions.length;
const LAST_SESSION = nyse.sessions[SESSION_COUNT - 1]!;
/** Settlement became T+1 on this date: the record date is the ex-date itself from then on, the next session before. */
const T1_SETTLEMENT = '2024-05-28';

// Stream tags: one per kind of random draw, so draws never collide.
const enum Tag {
  ListStart = 1,
  Lifetime,
  Gap,
  Price0,
  Sigma,
  Drift,
  Anchor,
  Bridge,
  SplitPos,
  SplitChance,
  SplitRatio,
  OpenGap,
  High,
  Low,
  Volume,
  Missing,
  Name,
  TradeSize,
  Exchange,
  DollarVolume,
  Vwap,
  Trades,
  Ids,
  Permutation,
  DivPayer,
  DivSchedule,
  DivYield,
  DivSpecial,
  DivDates,
  DivIds,
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit hash of a seed and four integers (murmur3 finaliser chained). */
function h32(seed: number, a: number, b: number, c: number, d: number): number {
  let h = fmix((seed ^ 0x9e3779b9) >>> 0);
  h = fmix(((h ^ a) + 0x6a09e667) | 0);
  h = fmix(((h ^ b) + 0xbb67ae85) | 0);
  h = fmix(((h ^ c) + 0x3c6ef372) | 0);
  h = fmix(((h ^ d) + 0xa54ff53a) | 0);
  return h;
}

const TWO32 = 4294967296;

class Draws {
  constructor(private readonly seed: number) {}

  /** Uniform in (0, 1). */
  u(tag: Tag, a: number, b: number, c: number): number {
    return (h32(this.seed, tag, a, b, c) + 0.5) / TWO32;
  }

  /** Standard normal (Box-Muller on two independent uniforms). */
  n(tag: Tag, a: number, b: number, c: number): number {
    const u1 = (h32(this.seed, tag, a, b, c) + 0.5) / TWO32;
    const u2 = (h32(this.seed ^ 0x5bd1e995, tag, a, b, c) + 0.5) / TWO32;
    return sqrt(-2 * log(u1)) * cos(2 * PI * u2);
  }

  hex(tag: Tag, a: number, b: number, c: number, chars: number): string {
    let out = '';
    for (let i = 0; out.length < chars; i++) out += h32(this.seed, tag, a, b, c * 16 + i).toString(16).padStart(8, '0');
    return out.slice(0, chars);
  }
}

interface Split {
  /** Local index (sessions since listing) of the execution date. */
  m: number;
  from: number;
  to: number;
}

interface Dividend {
  /** Session index of the ex-dividend date. */
  k: number;
  type: 'CD' | 'SC';
  /** Per share, on the unadjusted basis of the ex-dividend date. */
  cash: number;
}

/** One company's life in a slot: listed at `start`, last traded at `end - 1` (session indexes). */
interface Listing {
  slot: number;
  gen: number;
  /** Entity id: slot * MAX_GENERATIONS + gen. */
  id: number;
  start: number;
  end: number;
  symbol: string;
  logP0: number;
  sigma: number;
  drift: number;
  dollarVolume: number;
  tradeSize: number;
  anchors: number[];
  splits: Split[];
  /** Blocks whose split candidate has been decided. */
  splitBlocks: number;
  /** Cash dividends by calendar year of their ex-date, decided on first use. */
  dividends: Map<number, Dividend[]>;
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const SYMBOL_SPACE_SHORT = 26 ** 2 + 26 ** 3 + 26 ** 4; // 2 to 4 letters
const NAME_STEMS = ['Ac', 'Bel', 'Cor', 'Dyn', 'El', 'Fal', 'Gen', 'Hal', 'Ion', 'Jen', 'Kor', 'Lum', 'Mer', 'Nov', 'Or', 'Pax', 'Qua', 'Ros', 'Sol', 'Ter', 'Ul', 'Ven', 'Wes', 'Xen', 'Yor', 'Zen'];
const NAME_TAILS = ['tra', 'vex', 'lon', 'dia', 'cor', 'nix', 'ris', 'gen', 'tek', 'mar', 'via', 'tus'];
const NAME_SUFFIXES = ['Inc.', 'Corp.', 'Holdings Inc.', 'Group Inc.', 'Technologies Inc.', 'Co.', 'Therapeutics Inc.', 'Bancorp Inc.', 'Energy Corp.', 'Industries Inc.'];
// Monday..Friday volume rhythm: quiet Mondays, busy Fridays.
const WEEKDAY_VOLUME = [1, 0.9, 0.97, 1, 1.03, 1.1, 1];

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lettersOf(x: number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    s = LETTERS[x % 26]! + s;
    x = floor(x / 26);
  }
  return s;
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return mathRound(value * f) / f;
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A bar as the synthetic market computes it (before JSON). */
export interface SyntheticBar {
  ticker: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  vwap?: number;
  transactions?: number;
}

/** A split as the vendor lists it. */
export interface SyntheticSplit {
  ticker: string;
  execution_date: string;
  split_from: number;
  split_to: number;
}

/** A cash dividend as the vendor lists it (the fields that matter). */
export interface SyntheticDividend {
  ticker: string;
  ex_dividend_date: string;
  /** Per share, on the unadjusted basis of the ex-dividend date (not adjusted for later splits). */
  cash_amount: number;
  /** `CD` regular (quarterly), `SC` special. */
  dividend_type: 'CD' | 'SC';
  /** Payments a year: 4 for a regular dividend, 0 for a special one. */
  frequency: number;
}

/** A listing by date (splits, dividends): the vendor's path, date field, and the rows of one session. */
interface ByDate {
  dataset: 'splits' | 'dividends';
  field: string;
  /** Stream of the request ids. */
  ids: Tag;
  rowsAt: (k: number) => Record<string, unknown>[];
}

/**
 * The synthetic market as a `MarketSource`.
 *
 * @example
 * const source = new SyntheticSource({ seed: 7, tickers: 500 });
 * const { pages, rows } = await source.groupedDaily('2024-03-15');
 */
export class SyntheticSource implements MarketSource {
  readonly name = 'synthetic';
  readonly seed: number;
  readonly universe: number;
  private readonly draws: Draws;
  private readonly now: () => Date;
  private readonly slots: Listing[][] = [];
  /** Every listing of the market by composite FIGI, built on first use. */
  private byFigi: Map<string, Listing> | undefined;
  private readonly permA: number;
  private readonly permB: number;

  constructor(options: SyntheticOptions = {}) {
    const seed = options.seed ?? 42;
    const universe = options.tickers ?? 300;
    if (!Number.isSafeInteger(seed)) throw new ConfigError(`synthetic seed must be an integer, got ${String(seed)}`);
    if (!Number.isInteger(universe) || universe < 1 || universe > 100_000) {
      throw new ConfigError(`synthetic tickers must be an integer from 1 to 100000, got ${String(universe)}`);
    }
    this.seed = seed;
    this.universe = universe;
    // Fold a 53-bit seed into 32 bits without losing the high half.
    this.draws = new Draws((seed ^ floor(seed / TWO32)) >>> 0);
    this.now = options.now ?? (() => new Date());
    let a = 1 + floor(this.draws.u(Tag.Permutation, 0, 0, 0) * (SYMBOL_SPACE_SHORT - 1));
    while (gcd(a, SYMBOL_SPACE_SHORT) !== 1) a++;
    this.permA = a;
    this.permB = floor(this.draws.u(Tag.Permutation, 1, 0, 0) * SYMBOL_SPACE_SHORT);
  }

  // -------------------------------------------------------------------------
  // MarketSource

  async groupedDaily(session: string): Promise<SourceResult> {
    if (!this.isSession(session)) return EMPTY_RESULT;
    const k = nyse.sessionIndex(session);
    const t = newYorkCloseMs(session);
    // Built as text in the vendor's key order (T, v, vw, o, c, h, l, t, n): for
    // finite numbers String() is exactly what JSON.stringify writes.
    const rows: string[] = [];
    for (const b of this.barsAt(k)) {
      const vw = b.vwap === undefined ? '' : `,"vw":${String(b.vwap)}`;
      const n = b.transactions === undefined ? '' : `,"n":${String(b.transactions)}`;
      rows.push(`{"T":${JSON.stringify(b.ticker)},"v":${String(b.volume)}${vw},"o":${String(b.open)},"c":${String(b.close)},"h":${String(b.high)},"l":${String(b.low)},"t":${String(t)}${n}}`);
    }
    const count = rows.length;
    const requestId = this.draws.hex(Tag.Ids, 1, k, 0, 32);
    const body = `{"queryCount":${count},"resultsCount":${count},"adjusted":false,"results":[${rows.join(',')}],"status":"OK","request_id":"${requestId}","count":${count}}`;
    const url = `${BASE_URL}/v2/aggs/grouped/locale/us/market/stocks/${session}?adjusted=false`;
    return { pages: [body], requests: [request(url, body)], rows: count };
  }

  async tickers(asOf?: string): Promise<SourceResult> {
    const date = asOf ?? this.defaultAsOf();
    if (!this.inCalendar(date) || date < nyse.sessions[0]!) {
      throw new ConfigError(`synthetic tickers asOf ${JSON.stringify(date)} is not a date the NYSE calendar covers`);
    }
    const k = nyse.sessionIndex(nyse.latestSessionOnOrBefore(date));
    const active: object[] = [];
    const delisted: object[] = [];
    for (let slot = 0; slot < this.universe; slot++) {
      for (const listing of this.listingsOf(slot, k)) {
        if (listing.start > k) break;
        if (k < listing.end) active.push(this.tickerRow(listing, true, date));
        else delisted.push(this.tickerRow(listing, false, date));
      }
    }
    const byTicker = (a: object, b: object) => {
      const x = (a as { ticker: string }).ticker;
      const y = (b as { ticker: string }).ticker;
      return x < y ? -1 : x > y ? 1 : 0;
    };
    active.sort(byTicker);
    delisted.sort(byTicker);
    const out: SourceResult = { pages: [], requests: [], rows: 0 };
    for (const [flag, rows] of [['true', active], ['false', delisted]] as const) {
      const pageCount = max(1, ceil(rows.length / PAGE_LIMIT));
      for (let p = 0; p < pageCount; p++) {
        const results = rows.slice(p * PAGE_LIMIT, (p + 1) * PAGE_LIMIT);
        const url =
          p === 0
            ? `${BASE_URL}/v3/reference/tickers?market=stocks&active=${flag}&limit=${PAGE_LIMIT}`
            : cursorUrl(flag, date, p);
        const page: Record<string, unknown> = {
          results,
          status: 'OK',
          request_id: this.draws.hex(Tag.Ids, 2, k, flag === 'true' ? p : 100_000 + p, 32),
          count: results.length,
        };
        if (p + 1 < pageCount) page.next_url = cursorUrl(flag, date, p + 1);
        const body = JSON.stringify(page);
        out.pages.push(body);
        out.requests.push(request(url, body));
        out.rows += results.length;
      }
    }
    return out;
  }

  async splits(from: string, to: string = from): Promise<SourceResult> {
    return this.byDate({ dataset: 'splits', field: 'execution_date', ids: Tag.Ids, rowsAt: (k) => this.splitRows(k) }, from, to);
  }

  async dividends(from: string, to: string = from): Promise<SourceResult> {
    return this.byDate({ dataset: 'dividends', field: 'ex_dividend_date', ids: Tag.DivIds, rowsAt: (k) => this.dividendRows(k) }, from, to);
  }

  /**
   * The ticker-change timeline of each id, one page per id in the order of
   * `ids`, as the vendor's `/vX/reference/tickers/{id}/events` answers it.
   * The synthetic market has no renames: the timeline of a company is the
   * single change of its listing date to its symbol. An id that is none of
   * the market's composite FIGIs (as its ticker snapshots carry them) gets
   * no page and a request with status 404 after the pages' requests, as the
   * vendor's 404 does.
   */
  async tickerEvents(ids: readonly string[]): Promise<SourceResult> {
    const out: SourceResult = { pages: [], requests: [], rows: 0 };
    const notFound: SourceRequest[] = [];
    for (const id of ids) {
      const listing = this.listingByFigi(id);
      if (listing === undefined) {
        const body = JSON.stringify({ status: 'NOT_FOUND', message: 'Ticker not found.' });
        notFound.push({ ...request(`${BASE_URL}/vX/reference/tickers/${encodeURIComponent(id)}/events?types=ticker_change`, body), status: 404 });
        continue;
      }
      const results = {
        name: this.nameOf(listing),
        composite_figi: id,
        cik: this.cikOf(listing),
        events: [{ ticker_change: { ticker: listing.symbol }, type: 'ticker_change', date: nyse.sessionAt(listing.start) }],
      };
      const body = JSON.stringify({ results, status: 'OK', request_id: this.draws.hex(Tag.Ids, 7, listing.id, 0, 32) });
      out.pages.push(body);
      out.requests.push(request(`${BASE_URL}/vX/reference/tickers/${encodeURIComponent(id)}/events?types=ticker_change`, body));
      out.rows += 1;
    }
    out.requests.push(...notFound);
    return out;
  }

  /** One session (one page) or a range (every session's rows, oldest first, paged) of a listing by date. */
  private byDate(spec: ByDate, from: string, to: string): SourceResult {
    const { dataset, field, ids } = spec;
    if (to === from) {
      if (!this.isSession(from)) return EMPTY_RESULT;
      const k = nyse.sessionIndex(from);
      const results = spec.rowsAt(k);
      const body = JSON.stringify({ results, status: 'OK', request_id: this.draws.hex(ids, 4, k, 0, 32) });
      const url = `${BASE_URL}/v3/reference/${dataset}?${field}=${from}&limit=${PAGE_LIMIT}`;
      return { pages: [body], requests: [request(url, body)], rows: results.length };
    }
    this.inCalendar(from);
    this.inCalendar(to);
    if (from > to) throw new ConfigError(`synthetic ${dataset} range ${from}..${to} ends before it starts`);
    const sessions = nyse.sessionsBetween(from, to);
    if (sessions.length === 0) return EMPTY_RESULT;
    // As the vendor lists a range: oldest first, 1,000 per page, `next_url` to the next page.
    const rows = sessions.flatMap((session) => spec.rowsAt(nyse.sessionIndex(session)));
    const first = nyse.sessionIndex(sessions[0]!);
    const last = nyse.sessionIndex(sessions.at(-1)!);
    const query = `${field}.gte=${from}&${field}.lte=${to}&sort=${field}&order=asc&limit=${PAGE_LIMIT}`;
    const path = `${BASE_URL}/v3/reference/${dataset}`;
    const pageUrl = (p: number) => (p === 0 ? `${path}?${query}` : `${path}?cursor=${Buffer.from(`${query}&page=${p}`).toString('base64url')}`);
    const out: SourceResult = { pages: [], requests: [], rows: 0 };
    const pageCount = max(1, ceil(rows.length / PAGE_LIMIT));
    for (let p = 0; p < pageCount; p++) {
      const results = rows.slice(p * PAGE_LIMIT, (p + 1) * PAGE_LIMIT);
      const page: Record<string, unknown> = { results, status: 'OK', request_id: this.draws.hex(ids, 5, first, last * 1024 + p, 32) };
      if (p + 1 < pageCount) page.next_url = pageUrl(p + 1);
      const body = JSON.stringify(page);
      out.pages.push(body);
      out.requests.push(request(pageUrl(p), body));
      out.rows += results.length;
    }
    return out;
  }

  /** The vendor's split records of one session (by session index). */
  private splitRows(k: number): Record<string, unknown>[] {
    return this.splitsAt(k).map((s) => ({
      execution_date: s.execution_date,
      id: `E${this.draws.hex(Tag.Ids, 3, k, this.symbolIndex(s.ticker), 63)}`,
      split_from: s.split_from,
      split_to: s.split_to,
      ticker: s.ticker,
    }));
  }

  /** The vendor's dividend records with one ex-dividend date (by session index), keys in the vendor's order. */
  private dividendRows(k: number): Record<string, unknown>[] {
    const d = this.draws;
    const ex = nyse.sessionAt(k);
    const at = (i: number) => nyse.sessionAt(min(max(i, 0), SESSION_COUNT - 1));
    return this.dividendsAt(k).map((v) => {
      const t = this.symbolIndex(v.ticker) * 2 + (v.dividend_type === 'SC' ? 1 : 0);
      return {
        cash_amount: v.cash_amount,
        currency: 'USD',
        declaration_date: at(k - 10 - floor(d.u(Tag.DivDates, k, t, 0) * 20)),
        dividend_type: v.dividend_type,
        ex_dividend_date: ex,
        frequency: v.frequency,
        id: `E${d.hex(Tag.DivIds, 3, k, t, 63)}`,
        pay_date: at(k + 5 + floor(d.u(Tag.DivDates, k, t, 1) * 15)),
        record_date: ex >= T1_SETTLEMENT ? ex : at(k + 1),
        ticker: v.ticker,
      };
    });
  }

  // -------------------------------------------------------------------------
  // The market itself (also handy for tests and notebooks)

  /** Every bar of one session, in slot order. */
  bars(session: string): SyntheticBar[] {
    if (!this.isSession(session)) return [];
    return this.barsAt(nyse.sessionIndex(session));
  }

  /** The splits executed on one session. */
  splitsOn(session: string): SyntheticSplit[] {
    if (!this.isSession(session)) return [];
    return this.splitsAt(nyse.sessionIndex(session));
  }

  /** The cash dividends whose ex-dividend date is one session. */
  dividendsOn(session: string): SyntheticDividend[] {
    if (!this.isSession(session)) return [];
    return this.dividendsAt(nyse.sessionIndex(session));
  }

  /**
   * The company behind a composite FIGI of the market: its symbol, name and
   * listing session (and last trading session once delisted), or undefined.
   */
  security(figi: string): { ticker: string; name: string; listed: string; lastSession?: string } | undefined {
    const listing = this.listingByFigi(figi);
    if (listing === undefined) return undefined;
    const out: { ticker: string; name: string; listed: string; lastSession?: string } = { ticker: listing.symbol, name: this.nameOf(listing), listed: nyse.sessionAt(listing.start) };
    if (listing.end < SESSION_COUNT) out.lastSession = nyse.sessionAt(listing.end - 1);
    return out;
  }

  private isSession(session: string): boolean {
    return this.inCalendar(session) && nyse.isSession(session);
  }

  private inCalendar(date: string): boolean {
    checkIsoDate(date);
    return date >= nyse.range.from && date <= nyse.range.to;
  }

  private defaultAsOf(): string {
    const ny = newYorkClock(this.now());
    return ny.date;
  }

  private barsAt(k: number): SyntheticBar[] {
    const bars: SyntheticBar[] = [];
    const session = nyse.sessionAt(k);
    const weekday = new Date(`${session}T00:00:00Z`).getUTCDay();
    const day = Number(session.slice(8, 10));
    const month = Number(session.slice(5, 7));
    const nextSessionMonth = k + 1 < SESSION_COUNT ? Number(nyse.sessionAt(k + 1).slice(5, 7)) : month;
    let rhythm = WEEKDAY_VOLUME[weekday] ?? 1;
    if (nextSessionMonth !== month) rhythm *= 1.2; // month-end rebalancing
    if (weekday === 5 && day >= 15 && day <= 21 && month % 3 === 0) rhythm *= 1.6; // quarterly expiry
    for (let slot = 0; slot < this.universe; slot++) {
      const listing = this.activeAt(slot, k);
      if (listing) bars.push(this.barOf(listing, k, rhythm));
    }
    return bars;
  }

  private barOf(listing: Listing, k: number, rhythm: number): SyntheticBar {
    const d = this.draws;
    const { id, sigma } = listing;
    const m = k - listing.start;
    const logClose = this.logPrice(listing, m);
    const logPrev = m > 0 ? this.logPrice(listing, m - 1) : logClose - sigma * d.n(Tag.OpenGap, id, m, 1);
    const factor = this.splitFactor(listing, m);
    const logOpen = logPrev + 0.3 * sigma * d.n(Tag.OpenGap, id, m, 0);
    const rawOpen = exp(logOpen) / factor;
    const rawClose = exp(logClose) / factor;
    const decimals = min(rawOpen, rawClose) >= 1 ? 2 : 4;
    const open = max(round(rawOpen, decimals), 10 ** -decimals);
    const close = max(round(rawClose, decimals), 10 ** -decimals);
    const high = max(round(max(rawOpen, rawClose) * exp(0.6 * sigma * abs(d.n(Tag.High, id, m, 0))), decimals), open, close);
    const lowRaw = round(min(rawOpen, rawClose) * exp(-0.6 * sigma * abs(d.n(Tag.Low, id, m, 0))), decimals);
    const low = max(min(lowRaw, open, close), 10 ** -decimals);
    // Volume: a dollar-volume level per company, busier on big moves, on the weekly rhythm.
    const move = abs(logClose - logPrev) / sigma;
    const listingDay = m === 0 ? 3 : 1;
    const dollars = listing.dollarVolume * rhythm * listingDay * (0.7 + 0.3 * move) * exp(0.3 * d.n(Tag.Volume, id, m, 0));
    const volume = max(100, mathRound(dollars / ((rawOpen + rawClose) / 2)));
    const bar: SyntheticBar = { ticker: listing.symbol, open, high, low, close, volume };
    if (d.u(Tag.Missing, id, m, 0) >= 0.002) {
      const w = low + (high - low) * (0.25 + 0.5 * d.u(Tag.Vwap, id, m, 0));
      bar.vwap = min(high, max(low, round(w, 4)));
      const size = listing.tradeSize * exp(0.2 * d.n(Tag.Trades, id, m, 0));
      bar.transactions = max(1, mathRound(volume / size));
    }
    return bar;
  }

  private splitsAt(k: number): SyntheticSplit[] {
    const out: SyntheticSplit[] = [];
    const session = nyse.sessionAt(k);
    for (let slot = 0; slot < this.universe; slot++) {
      const listing = this.activeAt(slot, k);
      if (!listing) continue;
      const m = k - listing.start;
      this.ensureSplits(listing, floor(m / BLOCK));
      for (const s of listing.splits) {
        if (s.m === m) out.push({ ticker: listing.symbol, execution_date: session, split_from: s.from, split_to: s.to });
      }
    }
    return out;
  }

  private dividendsAt(k: number): SyntheticDividend[] {
    const out: SyntheticDividend[] = [];
    const session = nyse.sessionAt(k);
    const year = Number(session.slice(0, 4));
    for (let slot = 0; slot < this.universe; slot++) {
      const listing = this.activeAt(slot, k);
      if (!listing) continue;
      for (const v of this.dividendsIn(listing, year)) {
        if (v.k !== k) continue;
        const regular = v.type === 'CD';
        out.push({ ticker: listing.symbol, ex_dividend_date: session, cash_amount: v.cash, dividend_type: v.type, frequency: regular ? 4 : 0 });
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // Listings

  private listingsOf(slot: number, k: number): Listing[] {
    let gens = this.slots[slot];
    if (!gens) {
      gens = [];
      this.slots[slot] = gens;
    }
    while (gens.length < MAX_GENERATIONS) {
      const last = gens.at(-1);
      if (last && (last.end > k || last.end >= SESSION_COUNT)) break;
      gens.push(this.newListing(slot, gens.length, last));
    }
    return gens;
  }

  private activeAt(slot: number, k: number): Listing | undefined {
    for (const listing of this.listingsOf(slot, k)) {
      if (listing.start > k) return undefined;
      if (k < listing.end) return listing;
    }
    return undefined;
  }

  /**
   * The listing whose composite FIGI is `figi`, among every company the
   * market lists within the calendar. The index is built once (every
   * generation of every slot: no prices, a few hashes each) and cached.
   */
  private listingByFigi(figi: string): Listing | undefined {
    if (this.byFigi === undefined) {
      const index = new Map<string, Listing>();
      for (let slot = 0; slot < this.universe; slot++) {
        for (const listing of this.listingsOf(slot, SESSION_COUNT - 1)) {
          if (listing.start < SESSION_COUNT) index.set(this.figiOf(listing, 0), listing);
        }
      }
      this.byFigi = index;
    }
    return this.byFigi.get(figi);
  }

  private newListing(slot: number, gen: number, previous: Listing | undefined): Listing {
    const d = this.draws;
    const id = slot * MAX_GENERATIONS + gen;
    let start: number;
    if (previous) start = previous.end + 5 + floor(d.u(Tag.Gap, id, 0, 0) * 250);
    else start = d.u(Tag.ListStart, id, 0, 0) < 0.85 ? 0 : floor(d.u(Tag.ListStart, id, 1, 0) * 6000);
    const lifetime = 60 + floor(-log(d.u(Tag.Lifetime, id, 0, 0)) * 7000);
    const end = gen === MAX_GENERATIONS - 1 ? Number.POSITIVE_INFINITY : start + lifetime;
    const sigma = min(0.06, max(0.006, 0.017 * exp(0.35 * d.n(Tag.Sigma, id, 0, 0))));
    return {
      slot,
      gen,
      id,
      start,
      end,
      symbol: this.symbolOf(id),
      logP0: log(25) + 0.9 * d.n(Tag.Price0, id, 0, 0),
      sigma,
      drift: 0.0003 + 0.0004 * d.n(Tag.Drift, id, 0, 0) - (sigma * sigma) / 2,
      dollarVolume: 20e6 * exp(1.3 * d.n(Tag.DollarVolume, id, 0, 0)),
      tradeSize: 60 + 240 * d.u(Tag.TradeSize, id, 0, 0),
      anchors: [],
      splits: [],
      splitBlocks: 0,
      dividends: new Map(),
    };
  }

  /** A unique 2-4 letter symbol per entity id (an affine permutation of the symbol space). */
  private symbolOf(id: number): string {
    if (id >= SYMBOL_SPACE_SHORT) return lettersOf(id - SYMBOL_SPACE_SHORT, 5);
    const x = (Number((BigInt(this.permA) * BigInt(id)) % BigInt(SYMBOL_SPACE_SHORT)) + this.permB) % SYMBOL_SPACE_SHORT;
    if (x < 676) return lettersOf(x, 2);
    if (x < 676 + 17_576) return lettersOf(x - 676, 3);
    return lettersOf(x - 676 - 17_576, 4);
  }

  private symbolIndex(symbol: string): number {
    let x = 0;
    for (const ch of symbol) x = x * 26 + (ch.charCodeAt(0) - 65);
    return x;
  }

  /** The company's name (stem, tail and suffix drawn from its id). */
  private nameOf(listing: Listing): string {
    const d = this.draws;
    const { id } = listing;
    const stem = NAME_STEMS[floor(d.u(Tag.Name, id, 0, 0) * NAME_STEMS.length)]!;
    const tail = NAME_TAILS[floor(d.u(Tag.Name, id, 1, 0) * NAME_TAILS.length)]!;
    const suffix = NAME_SUFFIXES[floor(d.u(Tag.Name, id, 2, 0) * NAME_SUFFIXES.length)]!;
    return `${stem}${tail} ${suffix}`;
  }

  private cikOf(listing: Listing): string {
    return String(floor(this.draws.u(Tag.Ids, 6, listing.id, 0) * 2_000_000)).padStart(10, '0');
  }

  /** A FIGI-shaped id (`BBG` and 9 characters) of the company: 0 its composite FIGI, 1 its share class FIGI. */
  private figiOf(listing: Listing, n: number): string {
    return `BBG${this.draws.hex(Tag.Ids, 5, listing.id, n, 9).toUpperCase()}`;
  }

  private tickerRow(listing: Listing, active: boolean, asOf: string): object {
    const exchange = this.draws.u(Tag.Exchange, listing.id, 0, 0) < 0.45 ? 'XNYS' : 'XNAS';
    const row: Record<string, unknown> = {
      ticker: listing.symbol,
      name: this.nameOf(listing),
      market: 'stocks',
      locale: 'us',
      primary_exchange: exchange,
      type: 'CS',
      active,
      currency_name: 'usd',
      cik: this.cikOf(listing),
      composite_figi: this.figiOf(listing, 0),
      share_class_figi: this.figiOf(listing, 1),
    };
    if (active) {
      row.last_updated_utc = `${asOf}T00:00:00Z`;
    } else {
      const delisted = `${nyse.sessionAt(listing.end)}T00:00:00Z`;
      row.last_updated_utc = delisted;
      row.delisted_utc = delisted;
    }
    return row;
  }

  // -------------------------------------------------------------------------
  // Prices and splits

  private anchor(listing: Listing, b: number): number {
    const { anchors } = listing;
    if (anchors.length === 0) anchors.push(listing.logP0);
    while (anchors.length <= b) {
      const i = anchors.length;
      const step = listing.drift * BLOCK + listing.sigma * sqrt(BLOCK) * this.draws.n(Tag.Anchor, listing.id, i, 0);
      anchors.push(anchors[i - 1]! + step);
    }
    return anchors[b]!;
  }

  /** Economic (never split) log price on local session `m`. */
  private logPrice(listing: Listing, m: number): number {
    const b = floor(m / BLOCK);
    const pos = m - b * BLOCK;
    let lo = 0;
    let hi = BLOCK;
    let vlo = this.anchor(listing, b);
    if (pos === 0) return vlo;
    let vhi = this.anchor(listing, b + 1);
    const { sigma, id } = listing;
    for (;;) {
      const mid = (lo + hi) >> 1;
      const vmid = (vlo + vhi) / 2 + sigma * sqrt((hi - lo) / 4) * this.draws.n(Tag.Bridge, id, b, mid);
      if (pos === mid) return vmid;
      if (pos < mid) {
        hi = mid;
        vhi = vmid;
      } else {
        lo = mid;
        vlo = vmid;
      }
    }
  }

  /** Decides the split candidate of every block up to `b`: splits depend on the unadjusted price. */
  private ensureSplits(listing: Listing, b: number): void {
    const d = this.draws;
    while (listing.splitBlocks <= b) {
      const block = listing.splitBlocks++;
      const m = block * BLOCK + 1 + floor(d.u(Tag.SplitPos, listing.id, block, 0) * (BLOCK - 1));
      if (listing.start + m >= min(listing.end, SESSION_COUNT)) continue;
      // Decided on the unadjusted price at the block's anchor: known without walking the bridge.
      const price = exp(this.anchor(listing, block)) / this.splitFactor(listing, block * BLOCK);
      const chance = d.u(Tag.SplitChance, listing.id, block, 0);
      const pick = d.u(Tag.SplitRatio, listing.id, block, 0);
      let split: [from: number, to: number] | undefined;
      if (price > 150 && chance < 0.4) split = price > 600 ? [1, 10] : pick < 0.5 ? [1, 2] : pick < 0.75 ? [1, 3] : [1, 4];
      else if (price < 2 && chance < 0.25) split = pick < 0.5 ? [10, 1] : pick < 0.8 ? [5, 1] : [20, 1];
      else if (price >= 2 && price <= 150 && chance < 0.008) split = pick < 0.6 ? [2, 3] : [1, 2];
      if (split) listing.splits.push({ m, from: split[0], to: split[1] });
    }
  }

  /**
   * The cash dividends of `listing` with an ex-date in calendar `year`, by
   * ex-date, decided once per listing and year. About one company in three
   * pays a regular quarterly dividend (CD) on the same dates every year (the
   * first session on or after a fixed day of every third month) of 0.3 % to
   * 1 % of its price (a yield of its own); about one company-year in 50 adds
   * a special dividend (SC) of 1 % to 5 %. Amounts are on the unadjusted
   * basis of the ex-date, from its close; nothing is paid below $1.
   */
  private dividendsIn(listing: Listing, year: number): Dividend[] {
    const cached = listing.dividends.get(year);
    if (cached) return cached;
    const d = this.draws;
    const { id } = listing;
    const out: Dividend[] = [];
    const pay = (month: number, day: number, type: Dividend['type'], share: number) => {
      const date = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
      if (date < nyse.range.from || date >= LAST_SESSION) return;
      const k = nyse.sessionIndex(nyse.isSession(date) ? date : nyse.nextSession(date));
      const m = k - listing.start;
      if (m < 1 || k >= min(listing.end, SESSION_COUNT)) return;
      const price = exp(this.logPrice(listing, m)) / this.splitFactor(listing, m);
      if (price >= 1) out.push({ k, type, cash: max(round(price * share, 4), 0.0001) });
    };
    if (d.u(Tag.DivPayer, id, 0, 0) < 1 / 3) {
      const day = 1 + floor(d.u(Tag.DivSchedule, id, 1, 0) * 28);
      const share = 0.003 + 0.007 * d.u(Tag.DivYield, id, 0, 0);
      for (let month = 1 + floor(d.u(Tag.DivSchedule, id, 0, 0) * 3); month <= 12; month += 3) pay(month, day, 'CD', share);
    }
    if (d.u(Tag.DivSpecial, id, year, 0) < 0.02) {
      const month = 1 + floor(d.u(Tag.DivSpecial, id, year, 1) * 12);
      pay(month, 1 + floor(d.u(Tag.DivSpecial, id, year, 2) * 28), 'SC', 0.01 + 0.04 * d.u(Tag.DivSpecial, id, year, 3));
    }
    out.sort((a, b) => a.k - b.k);
    listing.dividends.set(year, out);
    return out;
  }

  /** Cumulative split ratio (to / from) of the splits executed on or before local session `m`. */
  private splitFactor(listing: Listing, m: number): number {
    this.ensureSplits(listing, floor(m / BLOCK));
    let f = 1;
    for (const s of listing.splits) {
      if (s.m > m) break;
      f *= s.to / s.from;
    }
    return f;
  }
}

function cursorUrl(active: string, date: string, page: number): string {
  const cursor = Buffer.from(`active=${active}&date=${date}&limit=${PAGE_LIMIT}&page=${page}`).toString('base64url');
  return `${BASE_URL}/v3/reference/tickers?cursor=${cursor}`;
}

function request(url: string, body: string): SourceRequest {
  return { url, status: 200, bytes: Buffer.byteLength(body, 'utf8'), sha256: sha256(body) };
}
