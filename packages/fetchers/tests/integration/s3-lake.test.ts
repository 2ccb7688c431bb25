import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RawZone, openStore } from '@fibbars/ohlcv-core/storage';
import { createMetaHandler, createOhlcvHandler } from '../../src/handlers.js';
import { SyntheticSource } from '../../src/synthetic.js';
import { memoryLogger } from '../helpers/lake.js';
import { startS3Server as startS3 } from '@fibbars/testing';
import type { TestS3Server as TestS3 } from '@fibbars/testing';

describe('handlers on an S3 lake (fauxqs on loopback, real S3 client)', () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(() => s3.stop());

  it('writes raw fetches under the prefix and reads them back unchanged', async () => {
    const lake = `s3://${s3.bucket}/prod`;
    const deps = { source: new SyntheticSource({ tickers: 30 }), lake, now: () => new Date('2024-03-15T22:00:00Z'), logger: memoryLogger(), store: { s3Client: s3.client } };

    const ohlcv = await createOhlcvHandler(deps)({ date: '2024-03-15' });
    const meta = await createMetaHandler(deps)({ date: '2024-03-15' });

    expect(ohlcv).toMatchObject({ status: 'ok', lake, sessions: ['2024-03-15'] });
    expect(meta).toMatchObject({ status: 'ok', sessions: ['2024-03-15'] });
    const raw = new RawZone(openStore(lake, { s3Client: s3.client }));
    const [fetch] = await raw.list('ohlcv');
    const expected = await new SyntheticSource({ tickers: 30 }).groupedDaily('2024-03-15');
    expect(await raw.read(fetch!)).toEqual(expected.pages.map((p) => JSON.parse(p)));
    expect(await raw.sessions('tickers')).toEqual(['2024-03-15']);
    expect(await raw.sessions('splits')).toEqual(['2024-03-15']);
    expect(await raw.sessions('dividends')).toEqual(['2024-03-15']);
    expect(await raw.sessions('ticker_events')).toEqual(['2024-03-15']);
  });

  it('backfills from what the S3 raw zone already holds', async () => {
    const lake = `s3://${s3.bucket}/backfill`;
    const at = (iso: string) => createOhlcvHandler({ source: new SyntheticSource({ tickers: 5 }), lake, now: () => new Date(iso), logger: memoryLogger(), store: { s3Client: s3.client } });

    await at('2024-03-11T22:00:00Z')({});
    const result = await at('2024-03-15T22:00:00Z')({});

    expect(result.sessions).toEqual(['2024-03-12', '2024-03-13', '2024-03-14', '2024-03-15']);
  });
});
