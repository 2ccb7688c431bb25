/**
 * Where the deployable artifacts of the sibling packages live. They are built
 * by Nx targets (`fetchers:package`, `batch-runner:bundle`) that `infra:synth`
 * and `infra:test` depend on; when one is missing the error names the target.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface Artifacts {
  /** esbuild zip of the `ohlcv` Lambda (handler `index.handler`). */
  readonly ohlcvZip: string;
  /** esbuild zip of the `meta` Lambda (handler `index.handler`). */
  readonly metaZip: string;
  /** Docker build context of the Batch image (holds a Dockerfile). */
  readonly batchImageDir: string;
}

export class MissingArtifactError extends Error {
  override name = 'MissingArtifactError' as const;
}

function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve(`${name}/package.json`));
}

/** The artifact paths inside the workspace, whether or not they are built. */
export function defaultArtifactPaths(): Artifacts {
  const fetchers = packageDir('@fibbars/fetchers');
  return {
    ohlcvZip: join(fetchers, 'dist', 'lambda', 'ohlcv.zip'),
    metaZip: join(fetchers, 'dist', 'lambda', 'meta.zip'),
    batchImageDir: packageDir('@fibbars/batch-runner'),
  };
}

/** Which local artifacts a synthesis needs: those the release manifest does not name. */
export interface NeededArtifacts {
  readonly fetchers: boolean;
  readonly image: boolean;
}

/**
 * Checks that every needed artifact exists and returns the paths; throws
 * `MissingArtifactError` with the Nx target to run otherwise.
 */
export function requireArtifacts(
  paths: Artifacts = defaultArtifactPaths(),
  needed: NeededArtifacts = { fetchers: true, image: true },
): Artifacts {
  const missing: string[] = [];
  for (const zip of needed.fetchers ? [paths.ohlcvZip, paths.metaZip] : []) {
    if (!existsSync(zip) || !statSync(zip).isFile()) missing.push(`${zip} (run: nx run fetchers:package)`);
  }
  if (needed.image) {
    const dockerfile = join(paths.batchImageDir, 'Dockerfile');
    if (!existsSync(dockerfile)) missing.push(`${dockerfile} (run: nx run batch-runner:bundle)`);
    // The file the image runs: a bundle folder without it is a failed or partial build.
    const bundle = join(paths.batchImageDir, 'dist', 'bundle', 'main.js');
    if (!existsSync(bundle)) missing.push(`${bundle} (run: nx run batch-runner:bundle)`);
  }
  if (missing.length > 0) {
    throw new MissingArtifactError(`missing build artifacts: ${missing.join('; ')}`);
  }
  return paths;
}

/**
 * The Docker build context of the Batch image, as `.dockerignore` patterns
 * (`IgnoreMode.DOCKER`): the Dockerfile and the bundle, nothing else. The
 * workspace's symlinked node_modules, sources and tests never reach the
 * image nor change its hash.
 */
export const BATCH_IMAGE_EXCLUDES: readonly string[] = ['*', '!Dockerfile', '!dist', 'dist/*', '!dist/bundle'];
