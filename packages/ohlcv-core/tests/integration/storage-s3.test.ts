import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { MULTIPART_THRESHOLD, openStore, type ObjectStore } from '../../src/storage.js';
import { startS3Server, type TestS3Server } from '@fibbars/testing';
import { describeStoreContract } from '../helpers/store-contract.js';

let s3: TestS3Server;
let counter = 0;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3?.stop();
});

const freshS3Store = async (): Promise<ObjectStore> => openStore(`s3://${s3.bucket}/t${++counter}/lake`, { s3Client: s3.client });

describeStoreContract('S3ObjectStore on a loopback S3 server', freshS3Store);

describe('S3ObjectStore specifics', () => {
  it('uploads bodies above the multipart threshold and reads them back intact', async () => {
    const store = await freshS3Store();
    const big = randomBytes(MULTIPART_THRESHOLD + 3 * 1024 * 1024);
    await store.put('big/blob.bin', big);
    expect((await store.get('big/blob.bin')).equals(big)).toBe(true);
    expect((await store.list('big/'))[0]?.size).toBe(big.length);
  });

  it('lists past one page of results', async () => {
    const store = await freshS3Store();
    const keys = Array.from({ length: 1105 }, (_, i) => `many/${String(i).padStart(5, '0')}.txt`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, 'x')));
    const firstPage = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `t${counter}/lake/many/` }));
    expect(firstPage.IsTruncated).toBe(true);
    expect((await store.list('many/')).map((o) => o.key)).toEqual(keys);
  });

  it('keeps the prefix: a store on one prefix does not see another', async () => {
    const a = await freshS3Store();
    const b = await freshS3Store();
    await a.put('k.txt', 'a');
    expect(await b.list('')).toEqual([]);
    expect(await b.exists('k.txt')).toBe(false);
  });
});
