/**
 * The object store interface of the lake, its URIs and key rules, shared by
 * the folder store (`local-store.ts`) and the S3 store (`s3-store.ts`).
 *
 * Node built-ins only (no Polars, no AWS SDK): part of the
 * `@fibbars/ohlcv-core/storage` entry the Lambda fetchers bundle.
 */
import * as path from 'node:path';
import { ConfigError, FibbarsError } from './errors.js';

// ---------------------------------------------------------------------------
// URIs and keys
// ---------------------------------------------------------------------------

/** Where a lake lives: a folder, or a bucket and key prefix (`''` or ending in `/`). */
export type LakeLocation = { kind: 'file'; root: string } | { kind: 's3'; bucket: string; prefix: string };

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses a lake URI: `s3://bucket/prefix`, `file:///abs/path`, or a folder path
 * (relative paths resolve against the working directory).
 *
 * @example
 * parseLakeUri('s3://my-bucket/lake'); // { kind: 's3', bucket: 'my-bucket', prefix: 'lake/' }
 * parseLakeUri('./lake');              // { kind: 'file', root: '/current/dir/lake' }
 */
export function parseLakeUri(uri: string): LakeLocation {
  if (typeof uri !== 'string' || uri.trim() === '') {
    throw new ConfigError('lake URI is empty: give a folder path or s3://bucket/prefix');
  }
  const value = uri.trim();
  if (value.startsWith('s3://')) {
    const rest = value.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const rawPrefix = slash === -1 ? '' : rest.slice(slash + 1);
    if (!BUCKET_RE.test(bucket)) {
      throw new ConfigError(`lake URI ${JSON.stringify(uri)} has an invalid S3 bucket name ${JSON.stringify(bucket)}`);
    }
    const trimmed = rawPrefix.replace(/\/+$/, '');
    if (trimmed !== '') assertKey(trimmed, `prefix of lake URI ${JSON.stringify(uri)}`);
    return { kind: 's3', bucket, prefix: trimmed === '' ? '' : `${trimmed}/` };
  }
  if (value.startsWith('file://')) {
    let root: string;
    try {
      root = new URL(value).pathname;
    } catch (cause) {
      throw new ConfigError(`lake URI ${JSON.stringify(uri)} is not a valid file URL`, { cause });
    }
    return { kind: 'file', root: path.resolve(decodeURIComponent(root)) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new ConfigError(`lake URI ${JSON.stringify(uri)} has an unsupported scheme: use a folder path or s3://bucket/prefix`);
  }
  return { kind: 'file', root: path.resolve(value) };
}

/**
 * Throws `ConfigError` unless `key` is a relative, `/`-separated key that stays
 * inside the store root (no `..` or `.` segments, no absolute path, no
 * backslash, no empty segment, no NUL).
 */
export function assertKey(key: string, what = 'key'): void {
  if (typeof key !== 'string' || key === '') throw new ConfigError(`${what} is empty`);
  if (key.includes('\\')) throw new ConfigError(`${what} ${JSON.stringify(key)} contains a backslash`);
  if (key.includes('\0')) throw new ConfigError(`${what} ${JSON.stringify(key)} contains a NUL byte`);
  if (key.startsWith('/') || /^[a-zA-Z]:/.test(key)) {
    throw new ConfigError(`${what} ${JSON.stringify(key)} is absolute: keys are relative to the lake root`);
  }
  for (const segment of key.split('/')) {
    if (segment === '..' || segment === '.') {
      throw new ConfigError(`${what} ${JSON.stringify(key)} escapes the lake root (${JSON.stringify(segment)} segment)`);
    }
    if (segment === '') throw new ConfigError(`${what} ${JSON.stringify(key)} has an empty path segment`);
  }
}

/**
 * A list prefix is a key, `''`, or a key followed by `/`.
 * @internal shared by the stores; not part of the `storage` entry.
 */
export function assertPrefix(prefix: string): void {
  if (prefix === '') return;
  assertKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, 'list prefix');
}

// ---------------------------------------------------------------------------
// ObjectStore
// ---------------------------------------------------------------------------

/** One stored object, as listed. */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
}

/** Bytes or text; text is stored as UTF-8. */
export type Body = Uint8Array | string;

/**
 * A flat key/value object store rooted at a lake URI. Keys are relative and
 * `/`-separated. `put` replaces atomically (readers see the old or the new
 * object, never a part); `putIfAbsent` is create-only and throws
 * `CommitConflictError` when the key exists with other bytes (the same bytes
 * mean an earlier attempt of this very write landed, e.g. a retried PUT whose
 * response was lost, and count as success).
 *
 * The last three methods serve the lake's Parquet files, which Polars reads
 * and writes by path: each store decides how its objects meet the local file
 * system, so the lake never needs to know which store it talks to.
 */
export interface ObjectStore {
  /** The URI this store was opened with, normalised (`s3://bucket/prefix` or the absolute folder). */
  readonly uri: string;
  readonly location: LakeLocation;
  /** The object's bytes; throws `ObjectNotFoundError` when it does not exist. */
  get(key: string): Promise<Buffer>;
  put(key: string, body: Body): Promise<void>;
  putIfAbsent(key: string, body: Body): Promise<void>;
  /** Every object whose key starts with `prefix`, in key order (all pages). */
  list(prefix: string): Promise<ObjectInfo[]>;
  /**
   * The names of the "folders" right under `prefix` (which ends with `/`),
   * sorted: one request however many objects lie below them. Optional: a
   * store without it is listed in full.
   */
  listChildren?(prefix: string): Promise<string[]>;
  /** Removes the object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /**
   * A path on this machine holding the object's bytes, for readers that take
   * a file (Parquet scans). The folder store answers its own file (an ENOENT
   * error when it is missing); a remote store downloads the object once into
   * `cacheDir` (throwing `ObjectNotFoundError` when it is missing) and answers
   * the copy: lake files have unique names, so a copy never goes stale.
   */
  localFile(key: string, cacheDir: string): Promise<string>;
  /**
   * Stores the object that `write` creates as a local file at the path it is
   * given (a writer that only writes files, such as a Parquet sink), and
   * returns its size in bytes. The folder store has it written beside its
   * final place and renames it there; a remote store uploads it.
   */
  putFile(key: string, write: (file: string) => Promise<void>): Promise<number>;
  /**
   * Removes temp files left under `prefix` by writers that died mid-write,
   * last modified before `olderThan`, and returns their keys. Stores whose
   * writes leave no temp object (S3 uploads are atomic) return `[]`.
   */
  sweepTemp(prefix: string, olderThan: Date): Promise<string[]>;
}

/** `get` of a key that does not exist. */
export class ObjectNotFoundError extends FibbarsError {
  override name = 'ObjectNotFoundError' as const;
  constructor(
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`object ${JSON.stringify(key)} does not exist`, options);
  }
}

// ---------------------------------------------------------------------------
// Helpers shared by the stores (@internal: not part of the `storage` entry)
// ---------------------------------------------------------------------------

/** @internal */
export function toBuffer(body: Body): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** @internal Code-unit order, the order of S3 listings. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** @internal Whether the stored object (read lazily) holds exactly `body`; false when it cannot be read. */
export async function sameBytes(read: () => Promise<Buffer>, body: Body): Promise<boolean> {
  try {
    return (await read()).equals(toBuffer(body));
  } catch {
    return false;
  }
}
