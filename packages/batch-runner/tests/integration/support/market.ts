// A small seeded market answering in the vendor's grouped-daily JSON
// (`/v2/aggs/grouped/locale/us/market/stocks/{date}?adjusted=false`), and
// helpers that store it in a lake's raw zone exactly as a fetcher would.
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { openStore, RawZone } from '@fibbars/ohlcv-core/storage';
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';

export interface VendorBar {
  T: string;
  o: number | null;
  h: number | null;
  l: number | null;
  c: number | null;
  v: number;
  vw?: number;
  n?: number;
  t: number;
}

/** mulberry32: a tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/** Bars of `tickers` symbols over `sessions`, a random walk per ticker. */
export function syntheticMarket(sessions: readonly string[], tickers: number, seed = 7): Map<string, VendorBar[]> {
  const random = prng(seed);
  const symbols = Array.from({ length: tickers }, (_, i) => `T${String(i).padStart(3, '0')}${i % 7 === 0 ? '.A' : ''}`);
  const last = symbols.map(() => 20 + random() * 200);
  const out = new Map<string, VendorBar[]>();
  for (const session of sessions) {
    const closeMs = Date.parse(`${session}T21:00:00Z`);
    out.set(
      session,
      symbols.map((T, i) => {
        const prev = last[i] ?? 50;
        const o = prev * (1 + (random() - 0.5) * 0.02);
        const c = o * (1 + (random() - 0.5) * 0.04);
        const h = Math.max(o, c) * (1 + random() * 0.01);
        const l = Math.min(o, c) * (1 - random() * 0.01);
        last[i] = c;
        const v = Math.floor(1e5 + random() * 5e6);
        return { T, o: round(o), h: round(h), l: round(l), c: round(c), v, vw: round((o + h + l + c) / 4), n: Math.floor(v / 120), t: closeMs };
      }),
    );
  }
  return out;
}

/** The vendor's response body for one session. */
export function groupedDailyBody(bars: readonly VendorBar[]): string {
  return JSON.stringify({ adjusted: false, queryCount: bars.length, resultsCount: bars.length, status: 'OK', results: bars, request_id: 'test' });
}

/** Stores one grouped-daily fetch per session in the lake's raw zone. */
export async function writeRawSessions(lake: string, market: ReadonlyMap<string, readonly VendorBar[]>, s3Client?: S3Client): Promise<void> {
  const raw = new RawZone(openStore(lake, s3Client ? { s3Client } : {}));
  for (const [session, bars] of market) {
    const body = groupedDailyBody(bars);
    await raw.write('ohlcv', session, [body], {
      requests: [
        {
          url: `https://api.polygon.io/v2/aggs/grouped/locale/us/market/stocks/${session}?adjusted=false`,
          status: 200,
          bytes: Buffer.byteLength(body),
          sha256: createHash('sha256').update(body).digest('hex'),
        },
      ],
      rows: bars.length,
      source: 'test',
      fetchedAt: new Date(Date.parse(`${session}T21:30:00Z`)),
    });
  }
}

/** The `count` sessions ending on `last` (inclusive). */
export function lastSessions(last: string, count: number): string[] {
  const out = [last];
  while (out.length < count) out.unshift(nyse.previousSession(out[0] as string));
  return out;
}
