// Publishes the fetchers' Lambda zips to the artifact bucket, under keys that
// name the package version and the bytes: fetchers/<version>/<handler>-<sha256>.zip.
//
// - The same bytes again: a no-op (HeadObject finds the key; nothing is put).
// - The same version with other bytes: refused before anything is uploaded
//   (a version names one build; bump it with a changeset).
// - Uploads are create-only (`If-None-Match: *`; S3 answers 412
//   PreconditionFailed when the key exists:
//   https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
//   A 412 here means another publisher put the same key first, and the key
//   names the SHA-256, so the bytes are the same: published.
// - Each upload carries its SHA-256 (`ChecksumSHA256`), which S3 checks
//   against the body and stores with the object, so a corrupted upload fails
//   and `infra:deploy` can compare the digest later
//   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
//   The loopback test server (fauxqs) accepts the header but neither checks
//   nor stores it (measured), so the tests cover keys, bytes and sizes, not
//   this check.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';

export const HANDLERS = ['ohlcv', 'meta'];

export function zipKey(version, handler, sha256) {
  return `fetchers/${version}/${handler}-${sha256}.zip`;
}

async function exists(client, bucket, key) {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

/** Keys under the version's prefix for `handler` that hold other bytes than `key`. */
async function otherBuilds(client, bucket, version, handler, key) {
  const others = [];
  let token;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `fetchers/${version}/${handler}-`, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) if (object.Key !== key) others.push(object.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return others;
}

async function putOnce(client, bucket, key, bytes, sha256) {
  try {
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: bytes,
        ContentType: 'application/zip',
        IfNoneMatch: '*',
        ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
      }),
    );
    return true;
  } catch (error) {
    if (error.name === 'PreconditionFailed' || error.$metadata?.httpStatusCode === 412) return false;
    throw error;
  }
}

/**
 * @param {{ client: import('@aws-sdk/client-s3').S3Client, bucket: string, version: string,
 *   zips: Record<string, string>, log?: (line: string) => void }} options
 * @returns {Promise<{ bucket: string, version: string, lambdas: Record<string, { key: string, sha256: string, bytes: number, uploaded: boolean }> }>}
 */
export async function publishZips({ client, bucket, version, zips, log = () => {} }) {
  const planned = [];
  for (const handler of HANDLERS) {
    const bytes = await readFile(zips[handler]);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const key = zipKey(version, handler, sha256);
    const others = await otherBuilds(client, bucket, version, handler, key);
    if (others.length > 0) {
      throw new Error(
        `fetchers ${version} is already published with other bytes (s3://${bucket}/${others[0]}): bump @fibbars/fetchers's version (pnpm changeset) to publish this build`,
      );
    }
    planned.push({ handler, bytes, sha256, key });
  }
  const lambdas = {};
  for (const { handler, bytes, sha256, key } of planned) {
    const uploaded = (await exists(client, bucket, key)) ? false : await putOnce(client, bucket, key, bytes, sha256);
    log(`publish: fetchers ${version} ${handler}.zip -> s3://${bucket}/${key} (${uploaded ? 'uploaded' : 'already published'})`);
    lambdas[handler] = { key, sha256, bytes: bytes.length, uploaded };
  }
  return { bucket, version, lambdas };
}
