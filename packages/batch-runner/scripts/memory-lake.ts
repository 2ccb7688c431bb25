// Fills the raw zone of a lake with a synthetic market of `tickers` symbols over
// the NYSE sessions of one calendar year, one grouped-daily fetch per session,
// exactly as the fetchers store it. Used by scripts/memory.mjs.
import { createHash } from 'node:crypto';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { openStore, RawZone } from '@fibbars/ohlcv-core/storage';
import { mulberry32 } from '@fibbars/testing/random';

const [lake, tickersArg, yearArg] = process.argv.slice(2);
const tickers = Number(tickersArg);
const year = Number(yearArg);
if (!lake || !Number.isInteger(tickers) || tickers < 1 || !Number.isInteger(year) || year < 1990) {
  console.error('usage: memory-lake <lake> <tickers> <year>');
  process.exit(2);
}

const sessions = nyse.sessionsBetween(`${year}-01-01`, `${year}-12-31`);

const random = mulberry32((0x9e3779b9 ^ year) >>> 0);
const round = (x: number) => Math.round(x * 10_000) / 10_000;
const symbols = Array.from({ length: tickers }, (_, i) => `S${i.toString(36).toUpperCase().padStart(4, '0')}`);
const price = symbols.map(() => 10 + random() * 300);
const raw = new RawZone(openStore(lake));

for (const session of sessions) {
  const t = Date.parse(`${session}T20:00:00Z`);
  const results = symbols.map((T, i) => {
    const o = (price[i] ?? 50) * (1 + (random() - 0.5) * 0.02);
    const c = o * (1 + (random() - 0.5) * 0.04);
    const h = Math.max(o, c) * (1 + random() * 0.01);
    const l = Math.min(o, c) * (1 - random() * 0.01);
    price[i] = c;
    const v = Math.floor(1e4 + random() * 1e7);
    return { T, v, vw: round((h + l + c) / 3), o: round(o), c: round(c), h: round(h), l: round(l), t, n: Math.floor(v / 100) };
  });
  const body = JSON.stringify({ adjusted: false, queryCount: results.length, resultsCount: results.length, status: 'OK', results });
  await raw.write('ohlcv', session, [body], {
    requests: [{ url: `https://api.polygon.io/v2/aggs/grouped/locale/us/market/stocks/${session}?adjusted=false`, status: 200, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') }],
    rows: results.length,
    source: 'memory-benchmark',
    fetchedAt: new Date(t + 3_600_000),
  });
}
console.error(`memory-lake: ${year}: ${sessions.length} sessions x ${tickers} tickers = ${sessions.length * tickers} rows`);
