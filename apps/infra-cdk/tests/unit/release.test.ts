/**
 * The stack deploys what the release manifest names: the Lambdas' code from
 * the artifact bucket by key, the Batch image by digest, and nothing for cdk
 * to build or upload; a fetchers-only release changes the Lambda code and
 * nothing else.
 */
import { describe, it, expect } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ReleaseManifestError, checkReleaseManifest, loadReleaseManifest, missingFromRelease, parseEcrRepository } from '../../src/release.js';
import { sampleRelease } from './support/release.js';
import { synthesize } from './support/synth.js';

const resources = (template: { toJSON(): unknown }) => (template.toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> }).Resources;

/** Paths (resource id / property path) whose values differ between two templates. */
function differences(a: unknown, b: unknown, path = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) return [path];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((key) => differences((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}/${key}`));
}

describe('a stack synthesized from a release manifest', () => {
  const release = sampleRelease();
  const built = synthesize({ env: 'dev' }, release);

  it('takes each Lambda from the artifact bucket under the published key', () => {
    for (const [name, zip] of [['dev-fibbars-ohlcv', release.fetchers!.lambdas.ohlcv], ['dev-fibbars-meta', release.fetchers!.lambdas.meta]] as const) {
      built.template.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: name,
        Code: { S3Bucket: release.fetchers!.bucket, S3Key: zip.key },
      });
    }
  });

  it('runs both job definitions on the published image by digest', () => {
    const images = Object.values(resources(built.template))
      .filter((r) => r.Type === 'AWS::Batch::JobDefinition')
      .map((r) => JSON.stringify((r.Properties?.['ContainerProperties'] as { Image: unknown }).Image));
    expect(images).toHaveLength(2);
    for (const image of images) {
      expect(image).toContain('123456789012.dkr.ecr.us-east-1.');
      expect(image).toContain(`/fibbars/batch-runner@${release['batch-runner']!.digest}`);
    }
  });

  it('lets the jobs pull that repository, and only it', () => {
    built.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['ecr:BatchGetImage']),
            Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecr:us-east-1:123456789012:repository/fibbars/batch-runner']] },
          }),
        ]),
      },
    });
  });

  it('leaves cdk nothing to build or upload but the template', () => {
    const stackName = built.stack.stackName;
    const assets = JSON.parse(readFileSync(join(built.outdir, `${stackName}.assets.json`), 'utf8')) as {
      dockerImages?: object;
      files?: Record<string, { source: { path: string } }>;
    };
    expect(Object.keys(assets.dockerImages ?? {})).toEqual([]);
    expect(Object.values(assets.files ?? {}).map((f) => f.source.path)).toEqual([`${stackName}.template.json`]);
  });

  it('changes only the Lambda code for a fetchers-only release', () => {
    const next = synthesize({ env: 'dev' }, sampleRelease({ fetchersVersion: '0.1.1', ohlcvSha: 'e'.repeat(64) }));
    const changed = differences(resources(built.template), resources(next.template));
    expect(changed.sort()).toEqual(['/MetaFunction*/Properties/Code/S3Key', '/OhlcvFunction*/Properties/Code/S3Key'].map((p) => expect.stringMatching(new RegExp(`^${p.replace(/\//g, '\\/').replace('*', '[A-Z0-9]*')}$`))));
  });

  it('changes only the job definitions for an image-only release', () => {
    const next = synthesize({ env: 'dev' }, sampleRelease({ digest: `sha256:${'f'.repeat(64)}` }));
    const changed = differences(resources(built.template), resources(next.template));
    expect(changed.length).toBe(2);
    for (const path of changed) expect(path).toMatch(/^\/(Consolidate|Resample)JobDefinition[A-Z0-9]*\/Properties\/ContainerProperties\/Image/);
  });
});

describe('the release manifest', () => {
  it('reads a manifest as the publish targets write it, and none as nothing published', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fibbars-release-'));
    expect(loadReleaseManifest(join(dir, 'release.json'))).toBeUndefined();
    expect(missingFromRelease(undefined)).toHaveLength(2);
    writeFileSync(join(dir, 'release.json'), JSON.stringify(sampleRelease()));
    const read = loadReleaseManifest(join(dir, 'release.json'));
    expect(read).toEqual(sampleRelease());
    expect(missingFromRelease(read)).toEqual([]);
  });

  it('rejects a malformed manifest naming the field', () => {
    const bad = (value: unknown) => () => checkReleaseManifest(value);
    expect(bad({ schemaVersion: 2 })).toThrow('release manifest: schemaVersion must be 1');
    expect(bad({ ...sampleRelease(), 'batch-runner': { ...sampleRelease()['batch-runner'], digest: 'latest' } })).toThrow(
      'release manifest: batch-runner.digest is not valid ("latest")',
    );
    expect(bad({ ...sampleRelease(), ops: {} })).toThrow(ReleaseManifestError);
    const dir = mkdtempSync(join(tmpdir(), 'fibbars-release-'));
    writeFileSync(join(dir, 'release.json'), '{');
    expect(() => loadReleaseManifest(join(dir, 'release.json'))).toThrow(/is not JSON/);
  });

  it('parses ECR repository URIs and refuses other registries', () => {
    expect(parseEcrRepository('123456789012.dkr.ecr.eu-west-1.amazonaws.com/fibbars/batch-runner')).toEqual({
      account: '123456789012',
      region: 'eu-west-1',
      name: 'fibbars/batch-runner',
    });
    expect(() => parseEcrRepository('127.0.0.1:5000/fibbars/batch-runner')).toThrow(/is not an ECR repository/);
  });
});

describe('the artifact store (nx run infra:bootstrap)', () => {
  const store = Template.fromStack(synthesize({ env: 'dev' }).artifactStore);

  it('keeps every published zip: a retained, versioned, private bucket that refuses plain HTTP', () => {
    store.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      }),
    });
    store.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('names one digest per image tag for good', () => {
    store.hasResource('AWS::ECR::Repository', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ RepositoryName: 'fibbars/batch-runner', ImageTagMutability: 'IMMUTABLE', ImageScanningConfiguration: { ScanOnPush: true } }),
    });
    expect(Object.keys((store.toJSON() as { Outputs: object }).Outputs).sort()).toEqual(['ArtifactBucketName', 'ImageRepositoryUri']);
  });
});
