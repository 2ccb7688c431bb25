/**
 * Object storage for the lake: a local folder or an S3 bucket behind one small
 * interface, plus the raw zone and the run records that live on it.
 *
 * This module imports the AWS SDK and Node built-ins only (no Polars): the
 * Lambda fetchers bundle it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CommitConflictError, ConfigError, FibbarsError } from './errors.js';

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

/** A list prefix is a key, `''`, or a key followed by `/`. */
function assertPrefix(prefix: string): void {
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

function toBuffer(body: Body): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const TMP_MARK = '.tmp-';

/** A folder on the local file system. Writes go to a temp file then rename/link. */
export class LocalObjectStore implements ObjectStore {
  readonly uri: string;
  readonly location: LakeLocation;

  constructor(readonly root: string) {
    this.uri = root;
    this.location = { kind: 'file', root };
  }

  private file(key: string): string {
    assertKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.file(key));
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'EISDIR')) throw new ObjectNotFoundError(key, { cause: error });
      throw error;
    }
  }

  private async writeTemp(file: string, body: Body): Promise<string> {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = path.join(path.dirname(file), `${TMP_MARK}${path.basename(file)}-${randomBytes(6).toString('hex')}`);
    await fs.writeFile(tmp, toBuffer(body), { flush: true });
    return tmp;
  }

  async put(key: string, body: Body): Promise<void> {
    const file = this.file(key);
    const tmp = await this.writeTemp(file, body);
    try {
      await fs.rename(tmp, file);
    } catch (error) {
      await fs.rm(tmp, { force: true });
      throw error;
    }
  }

  async putIfAbsent(key: string, body: Body): Promise<void> {
    const file = this.file(key);
    const tmp = await this.writeTemp(file, body);
    try {
      // link() fails with EEXIST atomically and only ever exposes a complete file.
      await fs.link(tmp, file);
    } catch (error) {
      if (isErrno(error, 'EEXIST')) {
        if (await sameBytes(() => fs.readFile(file), body)) return;
        throw new CommitConflictError(`object ${JSON.stringify(key)} already exists in ${this.uri}`, { cause: error });
      }
      throw error;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /**
   * Every file (temp files included) whose key starts with `prefix`, depth
   * first, descending only where such a key can live; folders that vanish
   * while walking are skipped.
   */
  private async *filesUnder(prefix: string): AsyncGenerator<{ key: string; full: string; name: string }> {
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash === -1 ? '' : prefix.slice(0, slash);
    const walk = async function* (dir: string, keyBase: string): AsyncGenerator<{ key: string; full: string; name: string }> {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return;
        throw error;
      }
      for (const entry of entries) {
        const key = keyBase === '' ? entry.name : `${keyBase}/${entry.name}`;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* walk(full, key);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          yield { key, full, name: entry.name };
        }
      }
    };
    yield* walk(dirKey === '' ? this.root : path.join(this.root, ...dirKey.split('/')), dirKey);
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    assertPrefix(prefix);
    const out: ObjectInfo[] = [];
    for await (const { key, full, name } of this.filesUnder(prefix)) {
      if (name.startsWith(TMP_MARK)) continue;
      try {
        const stat = await fs.stat(full);
        out.push({ key, size: stat.size, lastModified: new Date(stat.mtimeMs) });
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) throw error; // deleted while listing
      }
    }
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }

  async listChildren(prefix: string): Promise<string[]> {
    assertPrefix(prefix);
    try {
      const entries = await fs.readdir(prefix === '' ? this.root : this.file(prefix.replace(/\/$/, '')), { withFileTypes: true });
      return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort(compareKeys);
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return [];
      throw error;
    }
  }

  /**
   * Removes temp files (`.tmp-*`) left by writers that died mid-write, under
   * `prefix`, last modified before `olderThan`. Returns their keys.
   */
  async sweepTemp(prefix: string, olderThan: Date): Promise<string[]> {
    assertPrefix(prefix);
    const removed: string[] = [];
    for await (const { key, full, name } of this.filesUnder(prefix)) {
      if (!name.startsWith(TMP_MARK)) continue;
      try {
        if ((await fs.stat(full)).mtimeMs < olderThan.getTime()) {
          await fs.rm(full, { force: true });
          removed.push(key);
        }
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) throw error;
      }
    }
    return removed.sort();
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await fs.stat(this.file(key))).isFile();
    } catch (error) {
      if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return false;
      throw error;
    }
  }
}

/** Bodies above this go multipart (fauxqs caps one PUT at 11 MiB; S3 at 5 GiB). */
export const MULTIPART_THRESHOLD = 8 * 1024 * 1024;

/** An S3 bucket and key prefix, through the real AWS SDK v3 client. */
export class S3ObjectStore implements ObjectStore {
  readonly uri: string;
  readonly location: LakeLocation;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly prefix: string,
  ) {
    this.uri = `s3://${bucket}/${prefix}`.replace(/\/$/, '');
    this.location = { kind: 's3', bucket, prefix };
  }

  private objectKey(key: string): string {
    assertKey(key);
    return this.prefix + key;
  }

  async get(key: string): Promise<Buffer> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      if (!out.Body) return Buffer.alloc(0);
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (error) {
      if (isS3NotFound(error)) throw new ObjectNotFoundError(key, { cause: error });
      throw error;
    }
  }

  private async upload(key: string, body: Body, ifNoneMatch: boolean): Promise<void> {
    const data = toBuffer(body);
    const params = {
      Bucket: this.bucket,
      Key: this.objectKey(key),
      Body: data,
      ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
    };
    try {
      if (data.byteLength > MULTIPART_THRESHOLD) {
        await new Upload({ client: this.client, params, partSize: MULTIPART_THRESHOLD, queueSize: 2 }).done();
      } else {
        await this.client.send(new PutObjectCommand(params));
      }
    } catch (error) {
      // A create-only PUT that S3 applied but whose response was lost is
      // retried by the SDK and answered 412: the object holding exactly our
      // bytes means the write is ours, so it succeeded.
      if (ifNoneMatch && isS3PreconditionFailure(error)) {
        if (await sameBytes(() => this.get(key), data)) return;
        throw new CommitConflictError(`object ${JSON.stringify(key)} already exists in ${this.uri}`, { cause: error });
      }
      throw error;
    }
  }

  put(key: string, body: Body): Promise<void> {
    return this.upload(key, body, false);
  }

  putIfAbsent(key: string, body: Body): Promise<void> {
    return this.upload(key, body, true);
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    assertPrefix(prefix);
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }),
      );
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined || !obj.Key.startsWith(this.prefix)) continue;
        out.push({ key: obj.Key.slice(this.prefix.length), size: obj.Size ?? 0, lastModified: obj.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  async listChildren(prefix: string): Promise<string[]> {
    assertPrefix(prefix);
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, Delimiter: '/', ContinuationToken: token }),
      );
      for (const p of page.CommonPrefixes ?? []) {
        const name = p.Prefix?.slice((this.prefix + prefix).length).replace(/\/$/, '');
        if (name) names.push(name);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names.sort(compareKeys);
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (error) {
      if (isS3NotFound(error)) return false;
      throw error;
    }
  }
}

/** Whether the stored object (read lazily) holds exactly `body`; false when it cannot be read. */
async function sameBytes(read: () => Promise<Buffer>, body: Body): Promise<boolean> {
  try {
    return (await read()).equals(toBuffer(body));
  } catch {
    return false;
  }
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isS3NotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(error) === 404;
}

/** 412 PreconditionFailed, or 409 ConditionalRequestConflict (a concurrent conditional write). */
function isS3PreconditionFailure(error: unknown): boolean {
  const name = (error as { name?: unknown; Code?: unknown } | null)?.name;
  const status = httpStatus(error);
  return name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || status === 412 || status === 409;
}

let defaultClient: S3Client | undefined;

/**
 * The S3 client used when none is passed: built once per process from the
 * SDK's standard settings (`AWS_REGION`, credentials chain,
 * `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`), with path-style addressing when
 * an endpoint override is set (S3-compatible servers rarely do virtual hosts).
 */
export function defaultS3Client(): S3Client {
  if (!defaultClient) {
    const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    defaultClient = new S3Client({
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      // An S3-compatible endpoint rarely cares about the region; AWS itself needs one.
      ...(region ? {} : endpoint ? { region: 'us-east-1' } : {}),
    });
  }
  return defaultClient;
}

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

// ---------------------------------------------------------------------------
// Raw zone
// ---------------------------------------------------------------------------

export type RawKind = 'ohlcv' | 'tickers' | 'splits';
export const RAW_KINDS: readonly RawKind[] = ['ohlcv', 'tickers', 'splits'];

/** One HTTP request behind a raw fetch (the URL never carries the API key). */
export interface RawRequest {
  url: string;
  status: number;
  bytes: number;
  sha256: string;
}

/** What the writer of a raw fetch knows besides the pages. */
export interface RawWriteMeta {
  requests: RawRequest[];
  rows: number;
  /** e.g. `polygon`, `synthetic`. */
  source: string;
  /** When the fetch happened; defaults to now. Orders fetches of one session. */
  fetchedAt?: Date | string;
}

/** The `<fetchId>.meta.json` record beside each raw file. */
export interface RawMeta {
  fetchId: string;
  kind: RawKind;
  session: string;
  fetchedAt: string;
  requests: RawRequest[];
  rows: number;
  /** sha256 (hex) of the stored `.json.gz` object's bytes. */
  sha256: string;
  source: string;
}

/** A pointer to one fetch in the raw zone. */
export interface RawFetch {
  kind: RawKind;
  session: string;
  fetchId: string;
  key: string;
  metaKey: string;
}

const SESSION_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const FETCH_ID_RE = /^\d{8}T\d{9}Z-[0-9a-f]{8}$/;

export function assertSession(session: string, what = 'session'): void {
  const m = SESSION_RE.exec(session);
  const d = m ? new Date(`${session}T00:00:00Z`) : undefined;
  if (!m || !d || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== session) {
    throw new ConfigError(`${what} ${JSON.stringify(session)} is not a date in YYYY-MM-DD form`);
  }
}

function assertKind(kind: string): asserts kind is RawKind {
  if (!(RAW_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`raw kind ${JSON.stringify(kind)} is not one of ${RAW_KINDS.join(', ')}`);
  }
}

/** `YYYYMMDDTHHmmssSSSZ-xxxxxxxx`: sorts by time, then at random among equals. */
export function newFetchId(at: Date = new Date()): string {
  const iso = at.toISOString(); // 2024-01-02T21:05:03.123Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}${iso.slice(20, 23)}Z`;
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

/** The fetch time encoded in a fetch id (millisecond precision, as written by `RawZone.write`). */
export function fetchTimeOf(fetchId: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-[0-9a-f]{8}$/.exec(fetchId);
  if (!m) throw new ConfigError(`fetch id ${JSON.stringify(fetchId)} is not YYYYMMDDTHHmmssSSSZ-xxxxxxxx`);
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
}

/** Removes API keys from a request URL before it is stored. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:api_?key|apikey|token|access_token)=)[^&#]*/gi, '$1REDACTED');
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function parseFetchKey(kind: RawKind, key: string): RawFetch | undefined {
  const m = /^raw\/[a-z]+\/date=(\d{4}-\d{2}-\d{2})\/([^/]+)\.meta\.json$/.exec(key);
  if (!m || !m[1] || !m[2] || !FETCH_ID_RE.test(m[2])) return undefined;
  const dir = `raw/${kind}/date=${m[1]}`;
  return { kind, session: m[1], fetchId: m[2], key: `${dir}/${m[2]}.json.gz`, metaKey: `${dir}/${m[2]}.meta.json` };
}

/**
 * The raw zone: the vendor's responses exactly as received, one gzipped JSON
 * array of page bodies per fetch, never overwritten. A fetch becomes visible
 * when its `.meta.json` exists (written after the data), so a crashed write
 * leaves no half fetch behind.
 *
 * @example
 * const raw = new RawZone(openStore('./lake'));
 * const fetch = await raw.write('ohlcv', '2024-01-02', [body], { requests, rows: 1, source: 'polygon' });
 * const pages = await raw.read(fetch);
 */
export class RawZone {
  constructor(readonly store: ObjectStore) {}

  async write(kind: RawKind, session: string, pages: string[], meta: RawWriteMeta): Promise<RawFetch & { meta: RawMeta }> {
    assertKind(kind);
    assertSession(session);
    if (!Array.isArray(pages)) throw new ConfigError('raw pages must be an array of response bodies');
    pages.forEach((page, i) => {
      try {
        JSON.parse(page);
      } catch (cause) {
        throw new ConfigError(`raw ${kind} page ${i} for ${session} is not JSON`, { cause });
      }
    });
    let fetchedAt = meta.fetchedAt === undefined ? new Date() : new Date(meta.fetchedAt);
    if (Number.isNaN(fetchedAt.getTime())) throw new ConfigError(`raw fetchedAt ${JSON.stringify(meta.fetchedAt)} is not a time`);
    const dir = `raw/${kind}/date=${session}`;
    // "The latest fetch wins" compares fetch ids, which start with the fetch time: a fetch
    // written after another of the same session must sort after it even when the clock
    // stands still (an injected clock) or steps back, or a refetch could lose to the fetch
    // it replaces on the random suffix. One listing of the session's folder per write.
    let latest: number | null = null;
    for (const o of await this.store.list(`${dir}/`)) {
      const m = /\/(\d{8}T\d{9}Z-[0-9a-f]{8})\.meta\.json$/.exec(o.key);
      if (m) latest = Math.max(latest ?? 0, fetchTimeOf(m[1]!).getTime());
    }
    if (latest !== null && fetchedAt.getTime() <= latest) fetchedAt = new Date(latest + 1);
    const fetchId = newFetchId(fetchedAt);
    const key = `${dir}/${fetchId}.json.gz`;
    const metaKey = `${dir}/${fetchId}.meta.json`;
    // The bodies are embedded byte for byte: the file is the JSON array of the responses.
    const data = gzipSync(Buffer.from(`[${pages.join(',')}]`, 'utf8'));
    const record: RawMeta = {
      fetchId,
      kind,
      session,
      fetchedAt: fetchedAt.toISOString(),
      requests: meta.requests.map((r) => ({ ...r, url: redactUrl(r.url) })),
      rows: meta.rows,
      sha256: sha256(data),
      source: meta.source,
    };
    await this.store.putIfAbsent(key, data);
    await this.store.putIfAbsent(metaKey, `${JSON.stringify(record, null, 2)}\n`);
    return { kind, session, fetchId, key, metaKey, meta: record };
  }

  /** Every complete fetch of `kind`, by session then fetch id, optionally within `[from, to]`. */
  async list(kind: RawKind, range: { from?: string; to?: string } = {}): Promise<RawFetch[]> {
    assertKind(kind);
    if (range.from !== undefined) assertSession(range.from, 'from');
    if (range.to !== undefined) assertSession(range.to, 'to');
    const objects = await this.store.list(`raw/${kind}/`);
    const out: RawFetch[] = [];
    for (const { key } of objects) {
      const fetch = parseFetchKey(kind, key);
      if (!fetch) continue;
      if (range.from !== undefined && fetch.session < range.from) continue;
      if (range.to !== undefined && fetch.session > range.to) continue;
      out.push(fetch);
    }
    return out.sort((a, b) => compareKeys(a.session, b.session) || compareKeys(a.fetchId, b.fetchId));
  }

  /** The latest complete fetch of one session, or `null`. */
  async latest(kind: RawKind, session: string): Promise<RawFetch | null> {
    assertKind(kind);
    assertSession(session);
    const fetches = await this.list(kind, { from: session, to: session });
    return fetches.at(-1) ?? null;
  }

  /** The latest complete fetch of every session that has one. */
  async latestBySession(kind: RawKind, range: { from?: string; to?: string } = {}): Promise<Map<string, RawFetch>> {
    const latest = new Map<string, RawFetch>();
    for (const fetch of await this.list(kind, range)) latest.set(fetch.session, fetch); // sorted: last wins
    return latest;
  }

  /** The page bodies of a fetch, parsed. */
  async read(fetch: Pick<RawFetch, 'key'>): Promise<unknown[]> {
    const data = await this.store.get(fetch.key);
    const parsed: unknown = JSON.parse(gunzipSync(data).toString('utf8'));
    if (!Array.isArray(parsed)) throw new ConfigError(`raw file ${fetch.key} does not hold a JSON array`);
    return parsed;
  }

  async readMeta(fetch: Pick<RawFetch, 'metaKey'>): Promise<RawMeta> {
    return JSON.parse((await this.store.get(fetch.metaKey)).toString('utf8')) as RawMeta;
  }

  /** Sessions with at least one complete fetch, ascending. */
  async sessions(kind: RawKind): Promise<string[]> {
    return [...new Set((await this.list(kind)).map((f) => f.session))];
  }
}

// ---------------------------------------------------------------------------
// Run records
// ---------------------------------------------------------------------------

/** One pipeline run; free-form beyond `runId`. */
export interface RunRecord {
  runId: string;
  [field: string]: unknown;
}

const RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

/** Run records under `_runs/<runId>.json` (replaced on each `put`). */
export class RunStore {
  constructor(readonly store: ObjectStore) {}

  private key(runId: string): string {
    if (typeof runId !== 'string' || !RUN_ID_RE.test(runId) || runId.includes('..')) {
      throw new ConfigError(`run id ${JSON.stringify(runId)} is not valid (letters, digits, . _ : -)`);
    }
    return `_runs/${runId}.json`;
  }

  async put(record: RunRecord): Promise<void> {
    await this.store.put(this.key(record.runId), `${JSON.stringify(record, null, 2)}\n`);
  }

  async get(runId: string): Promise<RunRecord | null> {
    try {
      return JSON.parse((await this.store.get(this.key(runId))).toString('utf8')) as RunRecord;
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return null;
      throw error;
    }
  }

  /**
   * Asks the process running `runId` to stop it: a separate object under
   * `_runs/_stop/`, so it never races the holder's writes of the record. The
   * holder reads it at its next heartbeat and ends the run ABORTED.
   */
  async requestStop(runId: string, request: Record<string, unknown>): Promise<void> {
    await this.store.put(this.stopKey(runId), `${JSON.stringify({ runId, ...request }, null, 2)}\n`);
  }

  /** The pending stop request of a run, or `null`. */
  async stopRequest(runId: string): Promise<Record<string, unknown> | null> {
    try {
      return JSON.parse((await this.store.get(this.stopKey(runId))).toString('utf8')) as Record<string, unknown>;
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return null;
      throw error;
    }
  }

  async clearStop(runId: string): Promise<void> {
    await this.store.delete(this.stopKey(runId));
  }

  private stopKey(runId: string): string {
    return this.key(runId).replace(/^_runs\//, '_runs/_stop/');
  }

  /** Every run record, by run id. */
  async list(): Promise<RunRecord[]> {
    const objects = (await this.store.list('_runs/')).filter((o) => /^_runs\/[^/]+\.json$/.test(o.key));
    const records = await Promise.all(
      objects.map(async (o) => {
        try {
          return JSON.parse((await this.store.get(o.key)).toString('utf8')) as RunRecord;
        } catch (error) {
          if (error instanceof ObjectNotFoundError) return null;
          throw error;
        }
      }),
    );
    return records.filter((r): r is RunRecord => r !== null);
  }
}
