#!/usr/bin/env node
// The `publish` target of each deployable (`nx affected -t publish`, or
// `pnpm publish:affected`): puts the built artifact where the stack deploys it
// from and records it in the release manifest (`manifest.mjs`).
//
//   node tools/release/src/publish.mjs fetchers     [--bucket NAME] [--manifest FILE] [--dry-run]
//   node tools/release/src/publish.mjs batch-runner [--repository HOST/PATH] [--insecure] [--manifest FILE] [--dry-run]
//
// Exit 0 when published (or already published), 2 on bad usage, 1 on any
// other failure; on 1 and 2 the manifest is untouched.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { versionOf } from './artifacts.mjs';
import { WORKSPACE_ROOT, manifestPath, readManifest, updateManifest } from './manifest.mjs';
import { HANDLERS, publishZips } from './publish-zips.mjs';

export class UsageError extends Error {
  name = 'UsageError';
}

const HELP = `usage: publish.mjs <fetchers|batch-runner> [options]

Publishes a deployable's built artifact and records it in the release
manifest (default apps/infra-cdk/release.json), which nx run infra:deploy deploys.

  fetchers       the Lambda zips (nx run fetchers:package) to the artifact bucket,
                 as fetchers/<version>/<handler>-<sha256>.zip
  batch-runner   the image (nx run batch-runner:image) to its registry, tagged <version>

options:
  --bucket NAME          artifact bucket (env FIBBARS_ARTIFACT_BUCKET)
  --repository H/PATH    image repository, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/fibbars/batch-runner
                         (env FIBBARS_IMAGE_REPOSITORY)
  --insecure             plain HTTP to the registry (a loopback test registry)
  --manifest FILE        the release manifest (env FIBBARS_RELEASE_MANIFEST)
  --dry-run              say what would be published; write nothing
  --help                 this text

AWS settings come from the SDK's standard chain: AWS_REGION, AWS_PROFILE or
keys, and AWS_ENDPOINT_URL_S3 for another S3 endpoint. Re-publishing the same
bytes is a no-op; the same version with other bytes is refused: bump it.`;

function parseArgs(argv, env) {
  const options = { insecure: false, dryRun: false, help: false };
  const positional = [];
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? argv[(i += 1)];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--bucket') options.bucket = value();
    else if (flag === '--repository') options.repository = value();
    else if (flag === '--manifest') options.manifest = path.resolve(value());
    else if (flag === '--insecure') options.insecure = true;
    else if (flag === '--dry-run') options.dryRun = true;
    else if (flag === '--help' || flag === '-h') options.help = true;
    else if (flag.startsWith('-')) throw new UsageError(`unknown option ${flag}`);
    else positional.push(argv[i]);
  }
  if (options.help) return options;
  const [project, extra] = positional;
  if (project !== 'fetchers' && project !== 'batch-runner') {
    throw new UsageError(`${project === undefined ? 'no project given' : `unknown project "${project}"`}: publish.mjs fetchers|batch-runner (--help)`);
  }
  if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
  options.project = project;
  options.bucket ??= env.FIBBARS_ARTIFACT_BUCKET || undefined;
  options.repository ??= env.FIBBARS_IMAGE_REPOSITORY || undefined;
  options.manifest ??= manifestPath(env);
  if (project === 'fetchers' && options.bucket === undefined) throw new UsageError('no artifact bucket: give --bucket NAME or set FIBBARS_ARTIFACT_BUCKET');
  if (project === 'batch-runner' && options.repository === undefined) {
    throw new UsageError('no image repository: give --repository HOST/PATH or set FIBBARS_IMAGE_REPOSITORY');
  }
  return options;
}

/** An S3 client from the SDK's standard settings; path-style when the endpoint is overridden (loopback servers). */
function s3Client(env) {
  const custom = Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL);
  return new S3Client({ ...(custom ? { forcePathStyle: true } : {}), followRegionRedirects: true });
}

/** Keeps the entry (and its publishedAt) when nothing changed, so a no-op leaves the file as it was. */
async function record(project, entry, file, same) {
  const current = (await readManifest(file))[project];
  if (current !== undefined && same(current)) return current;
  return (await updateManifest(project, entry, file))[project];
}

async function publishFetchers(options, log, env) {
  const version = await versionOf('packages/fetchers');
  const zips = Object.fromEntries(HANDLERS.map((h) => [h, path.join(WORKSPACE_ROOT, 'packages/fetchers/dist/lambda', `${h}.zip`)]));
  for (const file of Object.values(zips)) {
    await stat(file).catch(() => {
      throw new Error(`${path.relative(WORKSPACE_ROOT, file)} is missing: run nx run fetchers:package`);
    });
  }
  await readManifest(options.manifest); // a broken manifest stops before any upload
  const client = s3Client(env);
  try {
    const result = await publishZips({ client, bucket: options.bucket, version, zips, log, dryRun: options.dryRun });
    const lambdas = Object.fromEntries(HANDLERS.map((h) => [h, { key: result.lambdas[h].key, sha256: result.lambdas[h].sha256, bytes: result.lambdas[h].bytes }]));
    const entry = { version, bucket: options.bucket, lambdas, publishedAt: new Date().toISOString() };
    if (options.dryRun) return undefined;
    const same = (current) => current.version === version && current.bucket === options.bucket && JSON.stringify(current.lambdas) === JSON.stringify(lambdas);
    return record('fetchers', entry, options.manifest, same);
  } finally {
    client.destroy();
  }
}

/** publish-image.mjs, loaded only for batch-runner; a clear error when it is not there. */
async function loadPublishImage() {
  const url = new URL('./publish-image.mjs', import.meta.url);
  try {
    return (await import(url.href)).publishImage;
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes(fileURLToPath(url))) {
      throw new Error(`${path.relative(WORKSPACE_ROOT, fileURLToPath(url))} is missing: this checkout cannot publish the batch-runner image`, { cause: error });
    }
    throw error;
  }
}

async function publishBatchRunner(options, log) {
  const imageDir = path.join(WORKSPACE_ROOT, 'packages/batch-runner/dist/image');
  const built = await readFile(path.join(imageDir, 'image.json'), 'utf8').catch(() => {
    throw new Error('packages/batch-runner/dist/image/image.json is missing: run nx run batch-runner:image');
  });
  const { version, tag } = JSON.parse(built);
  await readManifest(options.manifest);
  if (options.dryRun) {
    log(`publish: would push ${path.join(imageDir, 'oci')}:${tag} to ${options.repository}:${tag}`);
    return undefined;
  }
  const publishImage = await loadPublishImage();
  const result = await publishImage({ layout: path.join(imageDir, 'oci'), tag, repository: options.repository, insecure: options.insecure, log });
  const entry = { version, repository: result.repository, tag: result.tag, digest: result.digest, publishedAt: new Date().toISOString() };
  const same = (current) => current.version === version && current.repository === entry.repository && current.tag === entry.tag && current.digest === entry.digest;
  return record('batch-runner', entry, options.manifest, same);
}

export async function main(argv, { env = process.env, log = (line) => console.error(line), out = (line) => console.log(line) } = {}) {
  const options = parseArgs(argv, env);
  if (options.help) {
    out(HELP);
    return 0;
  }
  const entry = options.project === 'fetchers' ? await publishFetchers(options, log, env) : await publishBatchRunner(options, log);
  if (options.dryRun) log(`publish: dry run: nothing published, ${options.manifest} not written`);
  if (entry !== undefined) {
    log(`publish: ${options.project} ${entry.version} recorded in ${options.manifest}`);
    out(JSON.stringify({ [options.project]: entry }));
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    console.error(`publish: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
