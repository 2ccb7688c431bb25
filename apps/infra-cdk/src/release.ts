/**
 * The release manifest the stack deploys from (`@fibbars/infra-cdk/release`):
 * what each deployable last published and where, written by the `publish`
 * targets (`tools/release/src/publish.mjs`, through
 * `tools/release/src/manifest.mjs`, which checks the same shape) and committed
 * with the release, so that a deployment is named by a commit. A deploy uses
 * the published artifacts only: `Code.fromBucket` for the Lambdas, the image by
 * digest for the Batch jobs; it never builds an image.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RELEASE_MANIFEST_SCHEMA_VERSION = 1;

export interface PublishedZip {
  /** Object key in the artifact bucket: `fetchers/<version>/<handler>-<sha256>.zip`. */
  readonly key: string;
  readonly sha256: string;
  readonly bytes: number;
}

export interface PublishedFetchers {
  readonly version: string;
  readonly bucket: string;
  readonly lambdas: { readonly ohlcv: PublishedZip; readonly meta: PublishedZip };
  readonly publishedAt: string;
}

export interface PublishedImage {
  readonly version: string;
  /** `<account>.dkr.ecr.<region>.amazonaws.com/<name>` */
  readonly repository: string;
  readonly tag: string;
  /** `sha256:<hex>` of the image manifest. */
  readonly digest: string;
  readonly publishedAt: string;
}

export interface ReleaseManifest {
  readonly schemaVersion: 1;
  readonly fetchers?: PublishedFetchers;
  readonly 'batch-runner'?: PublishedImage;
}

export class ReleaseManifestError extends Error {
  override name = 'ReleaseManifestError' as const;
}

const SHA256 = /^[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
/** ECR's registry host: https://docs.aws.amazon.com/AmazonECR/latest/userguide/Registries.html */
const ECR_REPOSITORY = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/([a-z0-9][a-z0-9._/-]*)$/;

function need(condition: boolean, where: string, what: string): asserts condition {
  if (!condition) throw new ReleaseManifestError(`release manifest: ${where} ${what}`);
}

function text(value: unknown, where: string, pattern?: RegExp): string {
  need(typeof value === 'string' && value !== '', where, 'must be a non-empty string');
  if (pattern) need(pattern.test(value), where, `is not valid (${JSON.stringify(value)})`);
  return value;
}

function record(value: unknown, where: string): Record<string, unknown> {
  need(value !== null && typeof value === 'object' && !Array.isArray(value), where, 'must be an object');
  return value as Record<string, unknown>;
}

function checkFetchers(value: unknown): void {
  const f = record(value, 'fetchers');
  text(f['version'], 'fetchers.version', VERSION);
  text(f['bucket'], 'fetchers.bucket');
  text(f['publishedAt'], 'fetchers.publishedAt');
  const lambdas = record(f['lambdas'], 'fetchers.lambdas');
  for (const handler of ['ohlcv', 'meta']) {
    const zip = record(lambdas[handler], `fetchers.lambdas.${handler}`);
    text(zip['key'], `fetchers.lambdas.${handler}.key`);
    text(zip['sha256'], `fetchers.lambdas.${handler}.sha256`, SHA256);
    need(Number.isInteger(zip['bytes']) && (zip['bytes'] as number) > 0, `fetchers.lambdas.${handler}.bytes`, 'must be a positive integer');
  }
}

function checkImage(value: unknown): void {
  const b = record(value, 'batch-runner');
  text(b['version'], 'batch-runner.version', VERSION);
  text(b['repository'], 'batch-runner.repository');
  text(b['tag'], 'batch-runner.tag');
  text(b['digest'], 'batch-runner.digest', DIGEST);
  text(b['publishedAt'], 'batch-runner.publishedAt');
}

/** Checks the shape; throws `ReleaseManifestError` naming the first field that does not fit. */
export function checkReleaseManifest(value: unknown): ReleaseManifest {
  const m = record(value, 'the file');
  need(m['schemaVersion'] === RELEASE_MANIFEST_SCHEMA_VERSION, 'schemaVersion', `must be ${RELEASE_MANIFEST_SCHEMA_VERSION}`);
  for (const key of Object.keys(m)) {
    need(['schemaVersion', 'fetchers', 'batch-runner'].includes(key), key, 'is not a known deployable (fetchers, batch-runner)');
  }
  if (m['fetchers'] !== undefined) checkFetchers(m['fetchers']);
  if (m['batch-runner'] !== undefined) checkImage(m['batch-runner']);
  return m as unknown as ReleaseManifest;
}

/** `apps/infra-cdk/release.json`, or `FIBBARS_RELEASE_MANIFEST`. */
export function releaseManifestPath(env: NodeJS.ProcessEnv = process.env): string {
  const override = env['FIBBARS_RELEASE_MANIFEST'];
  if (override !== undefined && override !== '') return resolve(override);
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'release.json');
}

/** The manifest at `file`, or `undefined` when there is none (nothing published yet). */
export function loadReleaseManifest(file: string = releaseManifestPath()): ReleaseManifest | undefined {
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ReleaseManifestError(`release manifest ${file} is not JSON: ${(error as Error).message}`);
  }
  return checkReleaseManifest(parsed);
}

export interface EcrRepositoryRef {
  readonly account: string;
  readonly region: string;
  readonly name: string;
}

/** Account, region and name of an ECR repository URI; throws for any other registry. */
export function parseEcrRepository(uri: string): EcrRepositoryRef {
  const match = ECR_REPOSITORY.exec(uri);
  if (match === null) {
    throw new ReleaseManifestError(
      `release manifest: batch-runner.repository ${JSON.stringify(uri)} is not an ECR repository (<account>.dkr.ecr.<region>.amazonaws.com/<name>)`,
    );
  }
  return { account: match[1] as string, region: match[2] as string, name: match[3] as string };
}

/** What a deploy needs that the manifest does not hold: deployables never published. */
export function missingFromRelease(manifest: ReleaseManifest | undefined): string[] {
  const missing: string[] = [];
  if (manifest?.fetchers === undefined) missing.push('fetchers (run: nx run fetchers:publish)');
  if (manifest?.['batch-runner'] === undefined) missing.push('batch-runner (run: nx run batch-runner:publish)');
  return missing;
}
