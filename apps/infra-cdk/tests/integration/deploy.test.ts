/**
 * The real deploy command as a child process: the SDK's default credential
 * chain and region, no profile files, no instance metadata, and STS served
 * by a loopback AWS control plane (`@fibbars/testing`). Missing or refused
 * credentials and a missing region must stop it at once, with one line and
 * a non-zero exit, before the aws-cdk CLI is started.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { runNode, startAwsControlPlane, startS3Server, type ControlPlane, type TestS3Server } from '@fibbars/testing';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { sampleRelease } from '../unit/support/release.js';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Inside the package so that the bundle resolves the package's dependencies;
// its own folder has no cdk.out, as on a fresh checkout.
const bundleRoot = join(packageRoot, '.test-results', 'cli-bundle');
const cli = join(bundleRoot, 'dist', 'cli.js');

let aws: ControlPlane;

afterAll(async () => {
  await aws?.close();
});

beforeAll(async () => {
  aws = await startAwsControlPlane();
  mkdirSync(join(bundleRoot, 'dist'), { recursive: true });
  await build({
    entryPoints: [join(packageRoot, 'src', 'cli.ts')],
    outfile: cli,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    conditions: ['@fibbars/source'],
    logLevel: 'silent',
  });
});

/** An environment with no AWS configuration at all. */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'fibbars-home-'));
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AWS_') && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return {
    ...env,
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/** The command as a child process (asynchronous: the control plane answers from this process). */
const spawnCli = (args: string[], env: NodeJS.ProcessEnv) => runNode(cli, args, env);

const KEYS = { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE00', AWS_SECRET_ACCESS_KEY: 'secret-example' };

describe('deploy stops before cdk, with one line', () => {
  const run = async (env: NodeJS.ProcessEnv) => {
    const result = await spawnCli(['deploy', '--env', 'prod'], env);
    return { ...result, lines: result.stderr.trim().split('\n') };
  };

  it('without credentials', async () => {
    const result = await run(bareEnv({ AWS_REGION: 'us-east-1' }));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.lines).toEqual([
      'infra: STS GetCallerIdentity: no AWS credentials found: set AWS_PROFILE (and run aws sso login) or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    ]);
  });

  it('with an empty shared credentials file, like no credentials', async () => {
    const env = bareEnv({ AWS_REGION: 'us-east-1' });
    writeFileSync(env.AWS_SHARED_CREDENTIALS_FILE as string, '[default]\n');
    const result = await spawnCli(['diff'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^infra: STS GetCallerIdentity: no AWS credentials found/);
  });

  it('without a region', async () => {
    const result = await run(bareEnv(KEYS));
    expect(result.code).toBe(1);
    expect(result.lines).toEqual([
      "infra: STS GetCallerIdentity: no AWS region: export AWS_REGION=<region of the stack>, e.g. us-east-1, or set region in the profile's config",
    ]);
  });

  it('with keys STS refuses (fake or expired)', async () => {
    aws.state.fault = { status: 403, code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' };
    try {
      const result = await run(bareEnv({ ...KEYS, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: aws.url }));
      expect(result.code).toBe(1);
      expect(result.lines).toHaveLength(1);
      expect(result.lines[0]).toMatch(/^infra: STS GetCallerIdentity: AWS refused the credentials \(InvalidClientTokenId: .*\): they are wrong or expired/);
    } finally {
      delete aws.state.fault;
    }
  });
});

describe('deploy with credentials STS accepts', () => {
  it('gets past the check and asks for a release to deploy, then for the synthesized app', async () => {
    const env = bareEnv({ ...KEYS, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: aws.url });
    const result = await spawnCli(['deploy'], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `infra: nothing published to deploy: ${join(bundleRoot, 'release.json')} names no fetchers (run: nx run fetchers:publish), no batch-runner (run: nx run batch-runner:publish)`,
    );
    const diff = await spawnCli(['diff'], env);
    expect(diff.stderr.trim()).toBe(`infra: no synthesized app in ${join(bundleRoot, 'cdk.out')}; run: nx run infra:synth`);
    expect(aws.calls.map((c) => c.operation)).toContain('GetCallerIdentity');
  });
});

describe('a bad argument', () => {
  it('exits 2 with the usage on one line', async () => {
    const result = await spawnCli(['deploy', '--env', 'staging'], bareEnv());
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('infra: --env must be one of dev, prod, got "staging"');
  });
});

describe('deploy refuses artifacts that are not published', () => {
  // The artifact bucket on the loopback S3 server, ECR on the control plane:
  // the real CLI asks S3 HeadObject and ECR DescribeImages through the SDK.
  let s3: TestS3Server;
  let env: NodeJS.ProcessEnv;
  const release = sampleRelease();
  const repository = 'fibbars/batch-runner';
  const digest = release['batch-runner']!.digest;

  beforeAll(async () => {
    s3 = await startS3Server();
    const manifest = { ...release, fetchers: { ...release.fetchers!, bucket: s3.bucket } };
    const file = join(mkdtempSync(join(tmpdir(), 'fibbars-release-')), 'release.json');
    writeFileSync(file, JSON.stringify(manifest));
    env = bareEnv({ ...KEYS, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: aws.url, AWS_ENDPOINT_URL_S3: s3.endpoint, FIBBARS_RELEASE_MANIFEST: file });
  });

  afterAll(async () => {
    await s3?.stop();
  });

  const putZip = (handler: 'ohlcv' | 'meta', bytes: number) =>
    s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: release.fetchers!.lambdas[handler].key, Body: Buffer.alloc(bytes, 1) }));

  it('names the first missing zip and counts the rest', async () => {
    aws.state.ecr = {};
    const result = await spawnCli(['deploy'], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `infra: fetchers 0.1.0 ohlcv zip s3://${s3.bucket}/${release.fetchers!.lambdas.ohlcv.key} is not published (NotFound): run nx run fetchers:publish (and 2 more)`,
    );
  });

  it('says when a zip is not the one the manifest names', async () => {
    await putZip('ohlcv', 99);
    await putZip('meta', release.fetchers!.lambdas.meta.bytes);
    const result = await spawnCli(['deploy'], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(/^infra: fetchers 0\.1\.0 ohlcv zip s3:\/\/\S+ holds 99 bytes, the manifest says 1234: publish again \(nx run fetchers:publish\) \(and 1 more\)$/);
  });

  it('names the image when ECR has no such repository, or no such digest in it', async () => {
    await putZip('ohlcv', release.fetchers!.lambdas.ohlcv.bytes);
    const where = `batch-runner 0.1.0 image 123456789012.dkr.ecr.us-east-1.amazonaws.com/${repository}@${digest}`;
    aws.state.ecr = {};
    let result = await spawnCli(['deploy'], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`infra: ${where} is not published (RepositoryNotFoundException): run nx run batch-runner:publish`);
    aws.state.ecr = { [repository]: { digests: [`sha256:${'d'.repeat(64)}`] } };
    result = await spawnCli(['deploy'], env);
    expect(result.stderr.trim()).toBe(`infra: ${where} is not published (ImageNotFoundException): run nx run batch-runner:publish`);
    const describe = aws.calls.filter((c) => c.service === 'ecr').pop();
    expect(describe?.params).toEqual({ registryId: '123456789012', repositoryName: repository, imageIds: [{ imageDigest: digest }] });
  });

  it('goes on to the synthesized app once every artifact is published', async () => {
    aws.state.ecr = { [repository]: { digests: [digest] } };
    const result = await spawnCli(['deploy'], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`infra: no synthesized app in ${join(bundleRoot, 'cdk.out')}; run: nx run infra:synth`);
  });
});
