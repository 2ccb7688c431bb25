/**
 * The raw zone (DESIGN §3): the vendor's responses exactly as received, one
 * gzipped JSON array of page bodies per fetch under
 * `raw/<kind>/date=<session>/<fetchId>.json.gz`, with a `.meta.json` record
 * beside it, never overwritten.
 *
 * Node built-ins only (no Polars): part of the `@fibbars/ohlcv-core/storage`
 * entry the Lambda fetchers bundle.
 */
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isIsoDate } from './dates.js';
import { ConfigError } from './errors.js';
import { compareKeys, type ObjectStore } from './object-store.js';

/**
 * The dates a listing fetch (splits by `execution_date`, dividends by
 * `ex_dividend_date`) answered for, from its first request: the range of
 * `<field>.gte` / `<field>.lte`, or the one date of `<field>=`. Null when its
 * requests name none (a fetch written by hand, or by another source): such a
 * fetch can add rows, but says nothing of the rows it does not hold.
 *
 * @example
 * listingCoverage({ requests: [{ url: 'https://api.polygon.io/v3/reference/splits?execution_date.gte=2024-01-02&execution_date.lte=2024-06-28&limit=1000', status: 200, bytes: 0, sha256: '' }] }, 'execution_date');
 * // { from: '2024-01-02', to: '2024-06-28' }
 */
export function listingCoverage(meta: Pick<RawMeta, 'requests'>, field: string): { from: string; to: string } | null {
  const url = meta.requests[0]?.url;
  if (url === undefined) return null;
  let q: URLSearchParams;
  try {
    q = new URL(url).searchParams;
  } catch {
    return null;
  }
  const from = q.get(`${field}.gte`);
  const to = q.get(`${field}.lte`);
  if (isIsoDate(from) && isIsoDate(to) && from <= to) return { from, to };
  const day = q.get(field);
  return isIsoDate(day) ? { from: day, to: day } : null;
}


export type RawKind = 'ohlcv' | 'tickers' | 'splits' | 'dividends' | 'ticker_events';
export const RAW_KINDS: readonly RawKind[] = ['ohlcv', 'tickers', 'splits', 'dividends', 'ticker_events'];

/** One HTTP request behind a raw fetch (the URL never carries the API key). */
export interface RawRequest {
  url: string;
  status: number;
  bytes: number;
  sha256: string;
}

/** What the writer of a raw fetch knows besides the pages. */
export interface RawWriteMeta {
  requests: RawRequest[];
  rows: number;
  /** e.g. `polygon`, `synthetic`. */
  source: string;
  /** When the fetch happened; defaults to now. Orders fetches of one session. */
  fetchedAt?: Date | string;
}

/** The `<fetchId>.meta.json` record beside each raw file. */
export interface RawMeta {
  fetchId: string;
  kind: RawKind;
  session: string;
  fetchedAt: string;
  requests: RawRequest[];
  rows: number;
  /** sha256 (hex) of the stored `.json.gz` object's bytes. */
  sha256: string;
  source: string;
}

/** A pointer to one fetch in the raw zone. */
export interface RawFetch {
  kind: RawKind;
  session: string;
  fetchId: string;
  key: string;
  metaKey: string;
}

const SESSION_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const FETCH_ID_RE = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;

export function assertSession(session: string, what = 'session'): void {
  const m = SESSION_RE.exec(session);
  const d = m ? new Date(`${session}T00:00:00Z`) : undefined;
  if (!m || !d || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== session) {
    throw new ConfigError(`${what} ${JSON.stringify(session)} is not a date in YYYY-MM-DD form`);
  }
}

function assertKind(kind: string): asserts kind is RawKind {
  if (!(RAW_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`raw kind ${JSON.stringify(kind)} is not one of ${RAW_KINDS.join(', ')}`);
  }
}

/** `YYYYMMDDTHHmmssSSSZ-xxxxxxxx`: sorts by time, then at random among equals. */
export function newFetchId(at: Date = new Date()): string {
  const iso = at.toISOString(); // 2024-01-02T21:05:03.123Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}${iso.slice(20, 23)}Z`;
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

/** The fetch time encoded in a fetch id (millisecond precision, as written by `RawZone.write`). */
export function fetchTimeOf(fetchId: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-[0-9a-f]{8}$/.exec(fetchId);
  if (!m) throw new ConfigError(`fetch id ${JSON.stringify(fetchId)} is not YYYYMMDDTHHmmssSSSZ-xxxxxxxx`);
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
}

/** Removes API keys from a request URL before it is stored. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:api_?key|apikey|token|access_token)=)[^&#]*/gi, '$1REDACTED');
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function parseFetchKey(kind: RawKind, key: string): RawFetch | undefined {
  const m = /^raw\/[a-z_]+\/date=(\d{4}-\d{2}-\d{2})\/([^/]+)\.meta\.json$/.exec(key);
  if (!m || !m[1] || !m[2] || !FETCH_ID_RE.test(m[2])) return undefined;
  const dir = `raw/${kind}/date=${m[1]}`;
  return { kind, session: m[1], fetchId: m[2], key: `${dir}/${m[2]}.json.gz`, metaKey: `${dir}/${m[2]}.meta.json` };
}

/**
 * The raw zone: the vendor's responses exactly as received, one gzipped JSON
 * array of page bodies per fetch, never overwritten. A fetch becomes visible
 * when its `.meta.json` exists (written after the data), so a crashed write
 * leaves no half fetch behind.
 *
 * @example
 * const raw = new RawZone(openStore('./lake'));
 * const fetch = await raw.write('ohlcv', '2024-01-02', [body], { requests, rows: 1, source: 'polygon' });
 * const pages = await raw.read(fetch);
 */
export class RawZone {
  constructor(readonly store: ObjectStore) {}

  async write(kind: RawKind, session: string, pages: string[], meta: RawWriteMeta): Promise<RawFetch & { meta: RawMeta }> {
    assertKind(kind);
    assertSession(session);
    if (!Array.isArray(pages)) throw new ConfigError('raw pages must be an array of response bodies');
    pages.forEach((page, i) => {
      try {
        JSON.parse(page);
      } catch (cause) {
        throw new ConfigError(`raw ${kind} page ${i} for ${session} is not JSON`, { cause });
      }
    });
    let fetchedAt = meta.fetchedAt === undefined ? new Date() : new Date(meta.fetchedAt);
    if (Number.isNaN(fetchedAt.getTime())) throw new ConfigError(`raw fetchedAt ${JSON.stringify(meta.fetchedAt)} is not a time`);
    const dir = `raw/${kind}/date=${session}`;
    // "The latest fetch wins" compares fetch ids, which start with the fetch time: a fetch
    // written after another of the same session must sort after it even when the clock
    // stands still (an injected clock) or steps back, or a refetch could lose to the fetch
    // it replaces on the random suffix. One listing of the session's folder per write.
    let latest: number | null = null;
    for (const o of await this.store.list(`${dir}/`)) {
      const m = /\/(\d{8}T\d{9}Z-[0-9a-f]{8})\.meta\.json$/.exec(o.key);
      if (m) latest = Math.max(latest ?? 0, fetchTimeOf(m[1]!).getTime());
    }
    if (latest !== null && fetchedAt.getTime() <= latest) fetchedAt = new Date(latest + 1);
    const fetchId = newFetchId(fetchedAt);
    const key = `${dir}/${fetchId}.json.gz`;
    const metaKey = `${dir}/${fetchId}.meta.json`;
    // The bodies are embedded byte for byte: the file is the JSON array of the responses.
    const data = gzipSync(Buffer.from(`[${pages.join(',')}]`, 'utf8'));
    const record: RawMeta = {
      fetchId,
      kind,
      session,
      fetchedAt: fetchedAt.toISOString(),
      requests: meta.requests.map((r) => ({ ...r, url: redactUrl(r.url) })),
      rows: meta.rows,
      sha256: sha256(data),
      source: meta.source,
    };
    await this.store.putIfAbsent(key, data);
    await this.store.putIfAbsent(metaKey, `${JSON.stringify(record, null, 2)}\n`);
    return { kind, session, fetchId, key, metaKey, meta: record };
  }

  /** Every complete fetch of `kind`, by session then fetch id, optionally within `[from, to]`. */
  async list(kind: RawKind, range: { from?: string; to?: string } = {}): Promise<RawFetch[]> {
    assertKind(kind);
    if (range.from !== undefined) assertSession(range.from, 'from');
    if (range.to !== undefined) assertSession(range.to, 'to');
    const objects = await this.store.list(`raw/${kind}/`);
    const out: RawFetch[] = [];
    for (const { key } of objects) {
      const fetch = parseFetchKey(kind, key);
      if (!fetch) continue;
      if (range.from !== undefined && fetch.session < range.from) continue;
      if (range.to !== undefined && fetch.session > range.to) continue;
      out.push(fetch);
    }
    return out.sort((a, b) => compareKeys(a.session, b.session) || compareKeys(a.fetchId, b.fetchId));
  }

  /** The latest complete fetch of one session, or `null`. */
  async latest(kind: RawKind, session: string): Promise<RawFetch | null> {
    assertKind(kind);
    assertSession(session);
    const fetches = await this.list(kind, { from: session, to: session });
    return fetches.at(-1) ?? null;
  }

  /** The latest complete fetch of every session that has one. */
  async latestBySession(kind: RawKind, range: { from?: string; to?: string } = {}): Promise<Map<string, RawFetch>> {
    const latest = new Map<string, RawFetch>();
    for (const fetch of await this.list(kind, range)) latest.set(fetch.session, fetch); // sorted: last wins
    return latest;
  }

  /** The page bodies of a fetch, parsed. */
  async read(fetch: Pick<RawFetch, 'key'>): Promise<unknown[]> {
    const data = await this.store.get(fetch.key);
    const parsed: unknown = JSON.parse(gunzipSync(data).toString('utf8'));
    if (!Array.isArray(parsed)) throw new ConfigError(`raw file ${fetch.key} does not hold a JSON array`);
    return parsed;
  }

  async readMeta(fetch: Pick<RawFetch, 'metaKey'>): Promise<RawMeta> {
    return JSON.parse((await this.store.get(fetch.metaKey)).toString('utf8')) as RawMeta;
  }

  /** Sessions with at least one complete fetch, ascending. */
  async sessions(kind: RawKind): Promise<string[]> {
    return [...new Set((await this.list(kind)).map((f) => f.session))];
  }
}
