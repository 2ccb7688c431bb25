import { afterAll, describe, expect, it } from '@jest/globals';
import { readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { LocalObjectStore, S3ObjectStore, assertKey, fetchTimeOf, newFetchId, openStore, parseLakeUri, redactUrl } from '../../src/storage.js';
import { describeStoreContract } from '../helpers/store-contract.js';
import { tempDir } from '../helpers/temp.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

async function freshLocalStore(): Promise<LocalObjectStore> {
  const { dir, cleanup } = await tempDir('fibbars-store');
  cleanups.push(cleanup);
  return openStore(dir) as LocalObjectStore;
}

describe('parseLakeUri', () => {
  it('parses s3 URIs into bucket and a slash-terminated prefix', () => {
    expect(parseLakeUri('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
    expect(parseLakeUri('s3://my-bucket/')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
    expect(parseLakeUri('s3://my-bucket/a/lake/')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: 'a/lake/' });
  });

  it('resolves folder paths and file URLs to absolute roots', () => {
    expect(parseLakeUri('./lake')).toEqual({ kind: 'file', root: path.resolve('lake') });
    expect(parseLakeUri('file:///tmp/my%20lake')).toEqual({ kind: 'file', root: '/tmp/my lake' });
  });

  it('throws ConfigError naming the problem for unusable URIs', () => {
    expect(() => parseLakeUri('')).toThrow(ConfigError);
    expect(() => parseLakeUri('gs://bucket/x')).toThrow(/unsupported scheme/);
    expect(() => parseLakeUri('s3://Bad_Bucket/x')).toThrow(/invalid S3 bucket/);
    expect(() => parseLakeUri('s3://bucket/../x')).toThrow(ConfigError);
  });
});

describe('openStore', () => {
  it('opens a folder store for paths and an S3 store for s3 URIs without network access', () => {
    expect(openStore('./lake')).toBeInstanceOf(LocalObjectStore);
    const s3 = openStore('s3://bucket/p');
    expect(s3).toBeInstanceOf(S3ObjectStore);
    expect(s3.uri).toBe('s3://bucket/p');
  });
});

describe('assertKey', () => {
  it('accepts nested relative keys and rejects escapes', () => {
    expect(() => assertKey('silver/ohlcv_1d/year=2024/part-x.parquet')).not.toThrow();
    expect(() => assertKey('a/../b')).toThrow(/escapes the lake root/);
    expect(() => assertKey('/etc/passwd')).toThrow(/absolute/);
    expect(() => assertKey('C:/x')).toThrow(/absolute/);
    expect(() => assertKey('a\\b')).toThrow(/backslash/);
  });
});

describe('fetch ids and URL redaction', () => {
  it('formats the fetch time so that a later fetch sorts after an earlier one', () => {
    const a = newFetchId(new Date('2024-01-02T21:05:03.123Z'));
    const b = newFetchId(new Date('2024-01-02T21:05:03.124Z'));
    expect(a).toMatch(/^20240102T210503123Z-[0-9a-f]{8}$/);
    expect(a < b).toBe(true);
    expect(fetchTimeOf(a).toISOString()).toBe('2024-01-02T21:05:03.123Z');
    expect(() => fetchTimeOf('yesterday')).toThrow(ConfigError);
  });

  it('removes API keys from stored URLs', () => {
    expect(redactUrl('https://x/v2?adjusted=false&apiKey=abc123&x=1')).toBe('https://x/v2?adjusted=false&apiKey=REDACTED&x=1');
  });
});

describeStoreContract('LocalObjectStore', freshLocalStore);

describe('LocalObjectStore temp files', () => {
  it('leaves no temp file behind after put, putIfAbsent and a lost race', async () => {
    const store = await freshLocalStore();
    await store.put('d/a.json', '1');
    await store.putIfAbsent('d/b.json', '2');
    await expect(store.putIfAbsent('d/b.json', '3')).rejects.toThrow(/already exists/);
    expect((await readdir(path.join(store.root, 'd'))).sort()).toEqual(['a.json', 'b.json']);
  });

  it('leaves the temp file of a putFile whose writer died out of listings, for sweepTemp to remove', async () => {
    const store = await freshLocalStore();
    const died = store.putFile('silver/d/part-1.parquet', async (file) => {
      await writeFile(file, 'half');
      throw new Error('killed');
    });
    await expect(died).rejects.toThrow('killed');
    expect(await store.list('silver/')).toEqual([]);
    expect(await store.sweepTemp('silver/', new Date(Date.now() - 60_000))).toEqual([]); // still young
    expect(await store.sweepTemp('silver/', new Date(Date.now() + 60_000))).toEqual(['silver/d/.tmp-part-1.parquet']);
    expect(await readdir(path.join(store.root, 'silver', 'd'))).toEqual([]);
  });
});
