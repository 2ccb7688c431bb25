// Publishes the fetchers' Lambda zips to the artifact bucket, under keys that
// name the package version and the bytes: fetchers/<version>/<handler>-<sha256>.zip.
//
// - The same bytes again: a no-op (HeadObject finds the key with the same
//   size; nothing is put).
// - The same version with other bytes: refused before anything is uploaded
//   (a version names one build; bump it with a changeset).
// - Uploads are create-only (`If-None-Match: *`; S3 answers 412
//   PreconditionFailed when the key exists:
//   https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html,
//   https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html).
//   A 412 here means another publisher put the same key first, and the key
//   names the SHA-256, so the bytes are the same: published.
// - Each upload carries its SHA-256 (`ChecksumSHA256`) and MD5 (`Content-MD5`),
//   which S3 checks against the body (BadDigest / InvalidDigest on a mismatch)
//   and stores with the object
//   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity-upload.html).
//   The loopback test server (fauxqs 1.9.2) accepts both headers but neither
//   checks nor stores them (measured: a wrong digest is stored with 200, and
//   HeadObject returns no checksum), as some S3-compatible stores do. So the
//   answer is checked here too: its ChecksumSHA256 when the server returns one
//   (S3 does), else its ETag, which is the body's MD5 for a single PUT without
//   KMS. A mismatch deletes the object (ours: the PUT was create-only) and fails.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';

export const HANDLERS = ['ohlcv', 'meta'];

export function zipKey(version, handler, sha256) {
  return `fetchers/${version}/${handler}-${sha256}.zip`;
}

/** The object's size, or undefined when there is no such key. */
async function sizeOf(client, bucket, key) {
  try {
    return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
  } catch (error) {
    if (error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata?.httpStatusCode === 404) return undefined;
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

/** Fails (and removes the object) when the server's answer shows it stored other bytes. */
async function checkStored(client, bucket, zip, answer) {
  const etag = /^"?([0-9a-f]{32})"?$/.exec(answer.ETag ?? '')?.[1];
  let bad;
  if (answer.ChecksumSHA256 !== undefined) bad = answer.ChecksumSHA256 !== zip.sha256b64 && `SHA-256 ${answer.ChecksumSHA256}`;
  else if (etag !== undefined) bad = etag !== zip.md5 && `ETag ${etag}`;
  if (!bad) return;
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: zip.key }));
  throw new Error(`s3://${bucket}/${zip.key}: the server stored other bytes (${bad}, expected sha256 ${zip.sha256}); removed it, publish again`);
}

/** Create-only PUT; false when another publisher wrote the key first (412). */
async function putOnce(client, bucket, zip) {
  let answer;
  try {
    answer = await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: zip.key,
        Body: zip.bytes,
        ContentType: 'application/zip',
        IfNoneMatch: '*',
        ChecksumSHA256: zip.sha256b64,
        ContentMD5: Buffer.from(zip.md5, 'hex').toString('base64'),
      }),
    );
  } catch (error) {
    if (error.name === 'PreconditionFailed' || error.$metadata?.httpStatusCode === 412) return false;
    throw error;
  }
  await checkStored(client, bucket, zip, answer);
  return true;
}

async function readZip(version, handler, file) {
  const bytes = await readFile(file);
  const digest = createHash('sha256').update(bytes).digest();
  const sha256 = digest.toString('hex');
  const md5 = createHash('md5').update(bytes).digest('hex');
  return { handler, bytes, sha256, sha256b64: digest.toString('base64'), md5, key: zipKey(version, handler, sha256) };
}

/** Published already (true), or not yet (false); other bytes under the key fail. */
async function published(client, bucket, zip) {
  const size = await sizeOf(client, bucket, zip.key);
  if (size === undefined) return false;
  if (size === zip.bytes.length) return true;
  throw new Error(`s3://${bucket}/${zip.key} holds ${size} bytes, not ${zip.bytes.length}: the object does not match its name; remove it and publish again`);
}

/**
 * @param {{ client: import('@aws-sdk/client-s3').S3Client, bucket: string, version: string,
 *   zips: Record<string, string>, log?: (line: string) => void, dryRun?: boolean }} options
 *   `dryRun`: the same reads and checks, no PutObject (`uploaded` stays false).
 * @returns {Promise<{ bucket: string, version: string, lambdas: Record<string, { key: string, sha256: string, bytes: number, uploaded: boolean }> }>}
 */
export async function publishZips({ client, bucket, version, zips, log = () => {}, dryRun = false }) {
  const planned = [];
  for (const handler of HANDLERS) {
    const zip = await readZip(version, handler, zips[handler]);
    const others = await otherBuilds(client, bucket, version, handler, zip.key);
    if (others.length > 0) {
      throw new Error(
        `fetchers ${version} is already published with other bytes (s3://${bucket}/${others[0]}): bump @fibbars/fetchers's version (pnpm changeset) to publish this build`,
      );
    }
    planned.push(zip);
  }
  const lambdas = {};
  for (const zip of planned) {
    const done = await published(client, bucket, zip);
    const uploaded = !done && !dryRun ? await putOnce(client, bucket, zip) : false;
    let outcome = uploaded ? 'uploaded' : 'already published';
    if (!done && dryRun) outcome = 'would upload';
    log(`publish: fetchers ${version} ${zip.handler}.zip -> s3://${bucket}/${zip.key} (${outcome})`);
    lambdas[zip.handler] = { key: zip.key, sha256: zip.sha256, bytes: zip.bytes.length, uploaded };
  }
  return { bucket, version, lambdas };
}
