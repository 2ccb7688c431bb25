/**
 * The S3 store: a bucket and key prefix through the AWS SDK v3 client, and
 * the client a process uses when it is given none.
 *
 * The AWS SDK and Node built-ins only (no Polars): part of the
 * `@fibbars/ohlcv-core/storage` entry the Lambda fetchers bundle.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { CommitConflictError } from './errors.js';
import {
  ObjectNotFoundError,
  assertKey,
  assertPrefix,
  compareKeys,
  sameBytes,
  toBuffer,
  type Body,
  type LakeLocation,
  type ObjectInfo,
  type ObjectStore,
} from './object-store.js';

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

  /**
   * A copy downloaded once under `cacheDir/<bucket>/<prefix>/<key>`: scanning
   * it lazily keeps memory flat (a whole history never sits in memory as
   * Parquet bytes plus frames) and works with any S3-compatible endpoint.
   */
  async localFile(key: string, cacheDir: string): Promise<string> {
    const file = path.join(cacheDir, this.bucket, ...this.prefix.split('/').filter(Boolean), ...key.split('/'));
    try {
      await fs.access(file);
      return file;
    } catch {
      // not cached yet
    }
    const body = await this.get(key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomUUID()}.tmp`;
    await fs.writeFile(tmp, body);
    await fs.rename(tmp, file);
    return file;
  }

  /** Has `write` create the file in the OS temp folder, uploads it, and removes it. */
  async putFile(key: string, write: (file: string) => Promise<void>): Promise<number> {
    const tmp = path.join(tmpdir(), `fibbars-${randomUUID()}${path.extname(key)}`);
    try {
      await write(tmp);
      const body = await fs.readFile(tmp);
      await this.put(key, body);
      return body.byteLength;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** Nothing to sweep: an upload is atomic and leaves no temp object. */
  async sweepTemp(): Promise<string[]> {
    return [];
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
