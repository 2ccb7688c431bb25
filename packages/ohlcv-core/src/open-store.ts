/**
 * Opening the object store behind a lake URI: the folder store for a path,
 * the S3 store for `s3://bucket/prefix`.
 *
 * No Polars: part of the `@fibbars/ohlcv-core/storage` entry.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { LocalObjectStore } from './local-store.js';
import { parseLakeUri, type ObjectStore } from './object-store.js';
import { S3ObjectStore, defaultS3Client } from './s3-store.js';

export interface OpenStoreOptions {
  /** A ready S3 client (tests, custom endpoints); defaults to `defaultS3Client()`. */
  s3Client?: S3Client;
}

/**
 * Opens the object store behind a lake URI.
 *
 * @example
 * const store = openStore('s3://my-bucket/lake');
 * await store.put('notes/hello.txt', 'hi');
 * const keys = (await store.list('notes/')).map((o) => o.key);
 */
export function openStore(uri: string, options: OpenStoreOptions = {}): ObjectStore {
  const location = parseLakeUri(uri);
  if (location.kind === 'file') return new LocalObjectStore(location.root);
  return new S3ObjectStore(options.s3Client ?? defaultS3Client(), location.bucket, location.prefix);
}
