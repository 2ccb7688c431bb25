// The release manifest: what each deployable last published, and where. The
// `publish` targets write their own entry (and only theirs); the CDK app reads
// the whole file to deploy exactly those artifacts (apps/infra-cdk/src/release.ts
// checks the same shape). It is committed with the release, so a deployment
// is named by a commit.
//
// {
//   "schemaVersion": 1,
//   "fetchers": {
//     "version": "0.1.0",
//     "bucket": "fibbars-artifacts-123456789012-us-east-1",
//     "lambdas": {
//       "ohlcv": { "key": "fetchers/0.1.0/ohlcv-<sha256>.zip", "sha256": "<hex>", "bytes": 123 },
//       "meta":  { "key": "fetchers/0.1.0/meta-<sha256>.zip",  "sha256": "<hex>", "bytes": 456 }
//     },
//     "publishedAt": "2026-12-02T19:00:00.000Z"
//   },
//   "batch-runner": {
//     "version": "0.1.0",
//     "repository": "123456789012.dkr.ecr.us-east-1.amazonaws.com/fibbars/batch-runner",
//     "tag": "0.1.0",
//     "digest": "sha256:<hex>",
//     "publishedAt": "2026-12-02T19:00:00.000Z"
//   }
// }
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WORKSPACE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const MANIFEST_SCHEMA_VERSION = 1;
/** Default location; `FIBBARS_RELEASE_MANIFEST` overrides it. */
export const DEFAULT_MANIFEST_PATH = path.join(WORKSPACE_ROOT, 'apps', 'infra-cdk', 'release.json');

export class ManifestError extends Error {
  name = 'ManifestError';
}

export function manifestPath(env = process.env) {
  const override = env.FIBBARS_RELEASE_MANIFEST;
  return override !== undefined && override !== '' ? path.resolve(override) : DEFAULT_MANIFEST_PATH;
}

const SHA256 = /^[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

function need(condition, where, what) {
  if (!condition) throw new ManifestError(`release manifest: ${where} ${what}`);
}

function checkString(value, where, pattern) {
  need(typeof value === 'string' && value !== '', where, 'must be a non-empty string');
  if (pattern) need(pattern.test(value), where, `is not valid (${JSON.stringify(value)})`);
}

/** Throws `ManifestError` naming the first field that does not fit the shape above. */
export function checkManifest(manifest) {
  need(manifest !== null && typeof manifest === 'object' && !Array.isArray(manifest), 'the file', 'must hold a JSON object');
  need(manifest.schemaVersion === MANIFEST_SCHEMA_VERSION, 'schemaVersion', `must be ${MANIFEST_SCHEMA_VERSION}`);
  const known = new Set(['schemaVersion', 'fetchers', 'batch-runner']);
  for (const key of Object.keys(manifest)) need(known.has(key), key, 'is not a known deployable (fetchers, batch-runner)');
  const f = manifest.fetchers;
  if (f !== undefined) {
    checkString(f.version, 'fetchers.version', VERSION);
    checkString(f.bucket, 'fetchers.bucket');
    checkString(f.publishedAt, 'fetchers.publishedAt');
    need(f.lambdas !== null && typeof f.lambdas === 'object', 'fetchers.lambdas', 'must be an object');
    for (const handler of ['ohlcv', 'meta']) {
      const z = f.lambdas[handler];
      need(z !== undefined && z !== null, `fetchers.lambdas.${handler}`, 'is missing');
      checkString(z.key, `fetchers.lambdas.${handler}.key`);
      checkString(z.sha256, `fetchers.lambdas.${handler}.sha256`, SHA256);
      need(Number.isInteger(z.bytes) && z.bytes > 0, `fetchers.lambdas.${handler}.bytes`, 'must be a positive integer');
    }
  }
  const b = manifest['batch-runner'];
  if (b !== undefined) {
    checkString(b.version, 'batch-runner.version', VERSION);
    checkString(b.repository, 'batch-runner.repository');
    checkString(b.tag, 'batch-runner.tag');
    checkString(b.digest, 'batch-runner.digest', DIGEST);
    checkString(b.publishedAt, 'batch-runner.publishedAt');
  }
  return manifest;
}

/** The manifest at `file`, or an empty one when there is none yet. */
export async function readManifest(file = manifestPath()) {
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT') return { schemaVersion: MANIFEST_SCHEMA_VERSION };
    throw error;
  }
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`release manifest ${file} is not JSON: ${error.message}`);
  }
  return checkManifest(parsed);
}

/**
 * Replaces one deployable's entry and leaves the others as they are (a
 * fetchers-only release keeps the image the last release published). Written
 * to a temporary file and renamed, so a crash leaves the old manifest whole.
 */
export async function updateManifest(project, entry, file = manifestPath()) {
  const manifest = await readManifest(file);
  const next = checkManifest({ ...manifest, schemaVersion: MANIFEST_SCHEMA_VERSION, [project]: entry });
  const ordered = { schemaVersion: next.schemaVersion };
  for (const key of ['fetchers', 'batch-runner']) if (next[key] !== undefined) ordered[key] = next[key];
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(ordered, null, 2)}\n`);
  await rename(tmp, file);
  return ordered;
}
