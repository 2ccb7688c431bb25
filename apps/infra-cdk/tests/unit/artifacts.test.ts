import { describe, it, expect, beforeAll } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { MissingArtifactError, defaultArtifactPaths, requireArtifacts, type Artifacts } from '../../src/artifacts.js';
import { createApp } from '../../src/app.js';
import { loadDefinition } from '../../src/definition.js';
import { standInArtifacts, synthesize, type Synthesized } from './support/synth.js';

function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(root, path).split(sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

describe('requireArtifacts', () => {
  it('names the Nx target that builds each missing artifact', () => {
    const empty = mkdtempSync(join(tmpdir(), 'fibbars-empty-'));
    const paths = {
      ohlcvZip: join(empty, 'ohlcv.zip'),
      metaZip: join(empty, 'meta.zip'),
      batchImageDir: join(empty, 'batch-runner'),
    };
    let error: unknown;
    try {
      requireArtifacts(paths);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(MissingArtifactError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain(`${paths.ohlcvZip} (run: nx run fetchers:package)`);
    expect(message).toContain(`${paths.metaZip} (run: nx run fetchers:package)`);
    expect(message).toContain(`${join(paths.batchImageDir, 'Dockerfile')} (run: nx run batch-runner:bundle)`);
    expect(message).toContain(`${join(paths.batchImageDir, 'dist', 'bundle', 'main.js')} (run: nx run batch-runner:bundle)`);
  });

  it('accepts a complete set of artifacts', () => {
    const artifacts = standInArtifacts();
    expect(requireArtifacts(artifacts)).toEqual(artifacts);
  });

  it('looks for the zips of the fetchers package and the batch-runner folder by default', () => {
    const paths = defaultArtifactPaths();
    expect(paths.ohlcvZip.split(sep).slice(-5).join('/')).toBe('packages/fetchers/dist/lambda/ohlcv.zip');
    expect(paths.metaZip.split(sep).slice(-5).join('/')).toBe('packages/fetchers/dist/lambda/meta.zip');
    expect(paths.batchImageDir.split(sep).slice(-2).join('/')).toBe('packages/batch-runner');
  });
});

describe('the staged assets', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthesize({ env: 'dev' });
    synth.app.synth();
  });

  it('stage the Batch image context with the Dockerfile and the bundle only', () => {
    const assetDirs = readdirSync(synth.outdir).filter(
      (name) => name.startsWith('asset.') && statSync(join(synth.outdir, name)).isDirectory(),
    );
    expect(assetDirs).toHaveLength(1);
    expect(filesUnder(join(synth.outdir, assetDirs[0] as string))).toEqual([
      'Dockerfile',
      'dist/bundle/main.js',
      'dist/bundle/package.json',
    ]);
  });

  it('stage both Lambda zips as file assets and no Docker build at synth time', () => {
    const zips = readdirSync(synth.outdir).filter((name) => name.startsWith('asset.') && name.endsWith('.zip'));
    expect(zips).toHaveLength(2);
  });
});

/**
 * The real artifacts, or a failure that says what to build. They are built by
 * the dependencies of `nx run infra:test` (fetchers:package,
 * batch-runner:bundle); a bare `jest` run without them fails here, never
 * passes as if the real synthesis had been checked.
 */
function builtArtifacts(): Artifacts {
  try {
    return requireArtifacts();
  } catch (error) {
    if (!(error instanceof MissingArtifactError)) throw error;
    throw new Error(
      `the real-artifact synthesis needs the built artifacts: ${error.message}; ` +
        'nx run infra:test builds them first (or run: nx run fetchers:package && nx run batch-runner:bundle)',
      { cause: error },
    );
  }
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('the built artifacts', () => {
  it('synthesize with the real zips and the real batch-runner context, which holds only the Dockerfile and bundle', () => {
    const artifacts = builtArtifacts();
    const outdir = mkdtempSync(join(tmpdir(), 'fibbars-real-'));
    const { app } = createApp({
      definition: loadDefinition(),
      artifacts,
      context: { env: 'dev' },
      outdir,
      cloudFormationValidation: false,
    });
    app.synth();
    const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
    const imageDirs = assets.filter((name) => statSync(join(outdir, name)).isDirectory());
    expect(imageDirs).toHaveLength(1);
    const files = filesUnder(join(outdir, imageDirs[0] as string));
    expect(files).toContain('Dockerfile');
    expect(files).toContain('dist/bundle/main.js');
    // CDK stages the context's .dockerignore with it; nothing else outside the bundle.
    expect(files.filter((f) => !f.startsWith('dist/bundle/'))).toEqual(['.dockerignore', 'Dockerfile']);
    // The staged zips are the built ones, byte for byte.
    const staged = assets.filter((name) => name.endsWith('.zip')).map((name) => sha256(join(outdir, name)));
    expect(staged.sort()).toEqual([sha256(artifacts.ohlcvZip), sha256(artifacts.metaZip)].sort());
  });
});
