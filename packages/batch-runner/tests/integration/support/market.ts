// Helpers that store a market in the vendor's grouped-daily JSON
// (`/v2/aggs/grouped/locale/us/market/stocks/{date}?adjusted=false`) in a
// lake's raw zone exactly as a fetcher would. The seeded market itself is
// `syntheticMarket` of @fibbars/testing/market.
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { openStore, RawZone } from '@fibbars/ohlcv-core/storage';
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { VendorBar } from '@fibbars/testing/market';

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
