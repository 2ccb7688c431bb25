/**
 * `publish.mjs fetchers` against the S3-protocol server on loopback
 * (`@fibbars/testing`), driven by the real SDK in a child process: the zips
 * land under keys that name the version and the bytes, a second publish puts
 * nothing, another build under the same version is refused before any upload,
 * and the release manifest keeps the other deployable's entry.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { runNode, startS3Server, type TestS3Server } from '@fibbars/testing';
import { publishZips as publishZipsJs } from '../../src/publish-zips.mjs';

type Published = { bucket: string; version: string; lambdas: Record<string, { key: string; sha256: string; bytes: number; uploaded: boolean }> };
const publishZips = publishZipsJs as (options: {
  client: { send(command: unknown): Promise<unknown> };
  bucket: string;
  version: string;
  zips: Record<string, string>;
  log?: (line: string) => void;
}) => Promise<Published>;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const script = path.join(root, 'tools/release/src/publish.mjs');
const zipDir = path.join(root, 'packages/fetchers/dist/lambda');
const version = (JSON.parse(fs.readFileSync(path.join(root, 'packages/fetchers/package.json'), 'utf8')) as { version: string }).version;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let s3: TestS3Server;
let tmp: string;
const local: Record<string, { bytes: Buffer; sha: string }> = {};

beforeAll(async () => {
  for (const handler of ['ohlcv', 'meta']) {
    const file = path.join(zipDir, `${handler}.zip`);
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: the release test target depends on nx run fetchers:package; run it first`);
    const bytes = fs.readFileSync(file);
    local[handler] = { bytes, sha: sha256(bytes) };
  }
  s3 = await startS3Server();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-publish-'));
});

afterAll(async () => {
  await s3?.stop();
});

/** The CLI as a child process; asynchronous, since the S3 server answers from this process. */
async function publish(args: string[], extra: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...s3.env };
  delete env.FIBBARS_ARTIFACT_BUCKET;
  delete env.FIBBARS_RELEASE_MANIFEST;
  delete env.FIBBARS_IMAGE_REPOSITORY;
  Object.assign(env, extra);
  const r = await runNode(script, args, env);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr.trim() };
}

const keyOf = (handler: string) => `fetchers/${version}/${handler}-${local[handler]!.sha}.zip`;
const IMAGE = {
  version: '0.1.0',
  repository: '123456789012.dkr.ecr.us-east-1.amazonaws.com/fibbars/batch-runner',
  tag: '0.1.0',
  digest: `sha256:${'c'.repeat(64)}`,
  publishedAt: '2026-12-01T00:00:00.000Z',
};

describe('publish fetchers', () => {
  let manifest: string;

  beforeAll(() => {
    manifest = path.join(tmp, 'release.json');
    // The image of an earlier release: a fetchers-only release keeps it.
    fs.writeFileSync(manifest, JSON.stringify({ schemaVersion: 1, 'batch-runner': IMAGE }));
  });

  it('uploads both zips under version-and-digest keys and records them', async () => {
    const r = await publish(['fetchers'], { FIBBARS_ARTIFACT_BUCKET: s3.bucket, FIBBARS_RELEASE_MANIFEST: manifest });
    expect(r.stderr).toContain(`-> s3://${s3.bucket}/${keyOf('ohlcv')} (uploaded)`);
    expect(r.code).toBe(0);
    for (const handler of ['ohlcv', 'meta']) {
      const object = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: keyOf(handler) }));
      expect(sha256(await object.Body!.transformToByteArray())).toBe(local[handler]!.sha);
    }
    const written = JSON.parse(fs.readFileSync(manifest, 'utf8')) as Record<string, unknown>;
    expect(written).toEqual({
      schemaVersion: 1,
      fetchers: {
        version,
        bucket: s3.bucket,
        lambdas: {
          ohlcv: { key: keyOf('ohlcv'), sha256: local.ohlcv!.sha, bytes: local.ohlcv!.bytes.length },
          meta: { key: keyOf('meta'), sha256: local.meta!.sha, bytes: local.meta!.bytes.length },
        },
        publishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
      'batch-runner': IMAGE,
    });
    expect(JSON.parse(r.stdout.trim())).toEqual({ fetchers: written.fetchers });
  });

  it('puts nothing and leaves the manifest as it was when the same bytes are published again', async () => {
    const before = fs.readFileSync(manifest);
    const etag = (await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keyOf('ohlcv') }))).ETag;
    let puts = 0;
    s3.onConditionalPut(async () => {
      puts += 1;
    });
    try {
      const r = await publish(['fetchers', '--bucket', s3.bucket, '--manifest', manifest]);
      expect(r.code).toBe(0);
      expect(r.stderr.split('\n').filter((l) => l.endsWith('(already published)'))).toHaveLength(2);
    } finally {
      s3.onConditionalPut(undefined);
    }
    expect(puts).toBe(0);
    expect((await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keyOf('ohlcv') }))).ETag).toBe(etag);
    expect(fs.readFileSync(manifest).equals(before)).toBe(true);
  });

  it('refuses another build under the same version, uploading nothing', async () => {
    const bucket = await s3.createBucket();
    const other = `fetchers/${version}/ohlcv-${'0'.repeat(64)}.zip`;
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: other, Body: 'an earlier build' }));
    const file = path.join(tmp, 'refused.json');
    const r = await publish(['fetchers', '--bucket', bucket], { FIBBARS_RELEASE_MANIFEST: file });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `publish: fetchers ${version} is already published with other bytes (s3://${bucket}/${other}): bump @fibbars/fetchers's version (pnpm changeset) to publish this build`,
    );
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect((listed.Contents ?? []).map((o) => o.Key)).toEqual([other]);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('says what it would do on --dry-run, and writes nothing', async () => {
    const bucket = await s3.createBucket();
    const file = path.join(tmp, 'dry.json');
    const r = await publish(['fetchers', '--bucket', bucket, '--dry-run', '--manifest', file]);
    expect(r.code).toBe(0);
    for (const handler of ['ohlcv', 'meta']) expect(r.stderr).toContain(`${handler}.zip -> s3://${bucket}/${keyOf(handler)} (would upload)`);
    expect(r.stdout).toBe('');
    expect((await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).toEqual([]);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('answers bad usage with one line and exit 2', async () => {
    const file = path.join(tmp, 'usage.json');
    expect(await publish(['fetchers'], { FIBBARS_RELEASE_MANIFEST: file })).toMatchObject({
      code: 2,
      stderr: 'publish: no artifact bucket: give --bucket NAME or set FIBBARS_ARTIFACT_BUCKET',
    });
    expect(await publish(['infra'])).toMatchObject({ code: 2, stderr: 'publish: unknown project "infra": publish.mjs fetchers|batch-runner (--help)' });
    expect(await publish(['batch-runner'], { FIBBARS_IMAGE_REPOSITORY: '' })).toMatchObject({
      code: 2,
      stderr: 'publish: no image repository: give --repository HOST/PATH or set FIBBARS_IMAGE_REPOSITORY',
    });
    expect(await publish(['fetchers', '--bucket'])).toMatchObject({ code: 2, stderr: 'publish: --bucket needs a value' });
    expect(fs.existsSync(file)).toBe(false);
    const help = await publish(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: publish.mjs <fetchers|batch-runner>');
  });

  it('stops before any upload on a broken manifest', async () => {
    const bucket = await s3.createBucket();
    const file = path.join(tmp, 'broken.json');
    fs.writeFileSync(file, '{"schemaVersion": 1, "fetchers": {"version": "x"}}');
    const r = await publish(['fetchers', '--bucket', bucket, '--manifest', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('publish: release manifest: fetchers.version is not valid ("x")');
    expect((await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).toEqual([]);
  });
});

describe('publishZips', () => {
  const zips = { ohlcv: path.join(zipDir, 'ohlcv.zip'), meta: path.join(zipDir, 'meta.zip') };

  it('counts a key another publisher wrote first (412) as published', async () => {
    const bucket = await s3.createBucket();
    // The rival writes the same bytes just before our create-only PUT reaches the key.
    s3.onConditionalPut(async ({ path: objectPath }) => {
      const handler = objectPath.includes('/ohlcv-') ? 'ohlcv' : 'meta';
      const key = objectPath.slice(bucket.length + 2);
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: local[handler]!.bytes }));
    });
    const lines: string[] = [];
    try {
      const result = await publishZips({ client: s3.client, bucket, version, zips, log: (l) => lines.push(l) });
      expect(result.lambdas.ohlcv).toEqual({ key: keyOf('ohlcv'), sha256: local.ohlcv!.sha, bytes: local.ohlcv!.bytes.length, uploaded: false });
    } finally {
      s3.onConditionalPut(undefined);
    }
    expect(lines.filter((l) => l.endsWith('(already published)'))).toHaveLength(2);
    expect(s3.rejectedConditionalPuts()).toBeGreaterThanOrEqual(2);
  });

  it('fails and removes the object when the server stored other bytes than were sent', async () => {
    const bucket = await s3.createBucket();
    // A body damaged on the way: fauxqs ignores the checksum headers, so the ETag check must catch it.
    const damaging = {
      send(command: unknown) {
        if (command instanceof PutObjectCommand && command.input.Body instanceof Uint8Array) {
          const body = Buffer.from(command.input.Body);
          body[100] = (body[100] ?? 0) ^ 0xff;
          command.input.Body = body;
        }
        return s3.client.send(command as PutObjectCommand);
      },
    };
    await expect(publishZips({ client: damaging, bucket, version, zips })).rejects.toThrow(
      `s3://${bucket}/${keyOf('ohlcv')}: the server stored other bytes`,
    );
    expect((await s3.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).toEqual([]);
  });
});
