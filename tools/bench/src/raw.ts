// Writes synthetic daily rows into a lake's raw zone as the vendor's
// grouped-daily responses (one fetch per session), through ohlcv-core's own
// RawZone, so the consolidation measured is the one production runs.
import pl from 'nodejs-polars';
import { RawZone, openStore } from '@fibbars/ohlcv-core/storage';

const DAY_MS = 86_400_000;

/** One grouped-daily response body (Polygon/Massive JSON) for the rows of one session. */
export function groupedDailyBody(rows: pl.DataFrame, session: string): string {
  const results = rows
    .select(
      pl.col('ticker').alias('T'),
      pl.col('volume').alias('v'),
      pl.col('vwap').alias('vw'),
      pl.col('open').alias('o'),
      pl.col('close').alias('c'),
      pl.col('high').alias('h'),
      pl.col('low').alias('l'),
      // The close, 16:00 New York, as the vendor stamps a daily bar (ignored by the parser).
      pl.col('date').cast(pl.Int32).cast(pl.Int64).mul(DAY_MS).add(21 * 3_600_000).alias('t'),
      pl.col('transactions').alias('n'),
    )
    .writeJSON({ format: 'json' })
    .toString('utf8');
  const n = rows.height;
  return `{"queryCount":${n},"resultsCount":${n},"adjusted":false,"results":${results},"status":"OK","request_id":"bench-${session}","count":${n}}`;
}

/** Writes one raw fetch per session of `daily` into the lake at `lakeUri`; returns the raw keys. */
export async function writeRawSessions(lakeUri: string, daily: pl.DataFrame): Promise<string[]> {
  const raw = new RawZone(openStore(lakeUri));
  const parts = daily.partitionBy('date', true, true);
  const keys: string[] = [];
  for (const part of parts) {
    const session = new Date((part.getColumn('date').cast(pl.Int32).get(0) as number) * DAY_MS).toISOString().slice(0, 10);
    const body = groupedDailyBody(part, session);
    const fetch = await raw.write('ohlcv', session, [body], {
      requests: [{ url: `https://bench.invalid/v2/aggs/grouped/locale/us/market/stocks/${session}?adjusted=false`, status: 200, bytes: body.length, sha256: '' }],
      rows: part.height,
      source: 'synthetic',
      fetchedAt: new Date(Date.parse(`${session}T22:00:00Z`)),
    });
    keys.push(fetch.key);
  }
  return keys;
}
