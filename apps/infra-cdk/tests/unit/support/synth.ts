/**
 * Builds the app once per test file against small stand-in artifacts: the
 * template assertions are about the infrastructure, not about the zips'
 * contents, so the tests do not wait for the fetchers and image builds.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp, type FibbarsApp } from '../../../src/app.js';
import type { Artifacts } from '../../../src/artifacts.js';
import { loadDefinition } from '../../../src/definition.js';
import type { ReleaseManifest } from '../../../src/release.js';
import type { FibbarsStack } from '../../../src/stack.js';

export function standInArtifacts(root = mkdtempSync(join(tmpdir(), 'fibbars-infra-'))): Artifacts {
  const lambdaDir = join(root, 'fetchers', 'dist', 'lambda');
  const imageDir = join(root, 'batch-runner');
  mkdirSync(lambdaDir, { recursive: true });
  mkdirSync(join(imageDir, 'dist', 'bundle'), { recursive: true });
  mkdirSync(join(imageDir, 'node_modules', 'some-dependency'), { recursive: true });
  mkdirSync(join(imageDir, 'src'), { recursive: true });
  mkdirSync(join(imageDir, 'tests'), { recursive: true });
  writeFileSync(join(lambdaDir, 'ohlcv.zip'), 'ohlcv stand-in');
  writeFileSync(join(lambdaDir, 'meta.zip'), 'meta stand-in');
  writeFileSync(join(imageDir, 'Dockerfile'), 'FROM scratch\nCOPY dist/bundle/main.js /app/main.js\n');
  writeFileSync(join(imageDir, 'dist', 'bundle', 'main.js'), 'console.log("bundle");\n');
  writeFileSync(join(imageDir, 'dist', 'bundle', 'package.json'), '{}\n');
  writeFileSync(join(imageDir, 'dist', 'index.js'), 'export {};\n');
  writeFileSync(join(imageDir, 'node_modules', 'some-dependency', 'index.js'), '');
  writeFileSync(join(imageDir, 'src', 'main.ts'), '');
  writeFileSync(join(imageDir, 'tests', 'main.test.ts'), '');
  writeFileSync(join(imageDir, 'package.json'), '{}\n');
  return {
    ohlcvZip: join(lambdaDir, 'ohlcv.zip'),
    metaZip: join(lambdaDir, 'meta.zip'),
    batchImageDir: imageDir,
  };
}

export interface Synthesized extends FibbarsApp {
  readonly stack: FibbarsStack;
  readonly template: Template;
  readonly outdir: string;
}

/**
 * Synthesizes the app with the given context and returns its only or first
 * stack; with a release manifest, the deployables it names come from it.
 */
export function synthesize(context: Record<string, unknown> = { env: 'dev' }, release?: ReleaseManifest, partitions = 1): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'fibbars-cdk-out-'));
  const built = createApp({
    definition: loadDefinition({ partitions }),
    artifacts: standInArtifacts(),
    ...(release ? { release } : {}),
    context,
    outdir,
    cloudFormationValidation: false,
  });
  const stack = built.stacks[0];
  if (stack === undefined) throw new Error('the app has no stack');
  return { ...built, stack, template: Template.fromStack(stack), outdir };
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

/** The template's resources of one type, by logical id. */
export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

/** The logical id of the only resource of a type whose properties contain `match`. */
export function logicalIdOf(template: Template, type: string, match: Record<string, unknown> = {}): string {
  const found = Object.keys(template.findResources(type, { Properties: match }));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as string;
}
