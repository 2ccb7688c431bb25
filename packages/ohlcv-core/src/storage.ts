/**
 * Object storage for the lake: a local folder or an S3 bucket behind one small
 * interface, plus the raw zone and the run records that live on it. The entry
 * point `@fibbars/ohlcv-core/storage`; the code lives in one module per
 * concept:
 *
 * - `object-store.ts`: the `ObjectStore` interface, lake URIs and key rules;
 * - `local-store.ts`: the folder store; `s3-store.ts`: the S3 store;
 *   `open-store.ts`: `openStore(uri)`, which picks one;
 * - `raw-zone.ts`: the raw zone (`RawZone`, fetch ids);
 * - `run-store.ts`: the run records (`RunStore`).
 *
 * These modules import the AWS SDK and Node built-ins only (no Polars): the
 * Lambda fetchers bundle this entry.
 */
export {
  ObjectNotFoundError,
  assertKey,
  parseLakeUri,
  type Body,
  type LakeLocation,
  type ObjectInfo,
  type ObjectStore,
} from './object-store.js';
export { LocalObjectStore } from './local-store.js';
export { MULTIPART_THRESHOLD, S3ObjectStore, defaultS3Client } from './s3-store.js';
export { openStore, type OpenStoreOptions } from './open-store.js';
export {
  RAW_KINDS,
  RawZone,
  assertSession,
  fetchTimeOf,
  listingCoverage,
  newFetchId,
  redactUrl,
  type RawFetch,
  type RawKind,
  type RawMeta,
  type RawRequest,
  type RawWriteMeta,
} from './raw-zone.js';
export { RunStore, type RunRecord } from './run-store.js';
