/**
 * The real deploy command as a child process: the SDK's default credential
 * chain, no credentials anywhere, no instance metadata. It must stop at once,
 * with one line and a non-zero exit, before the aws-cdk CLI is started.
 */
import { describe, it, expect, beforeAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Inside the package so that the bundle resolves the package's dependencies;
// its own folder has no cdk.out, as on a fresh checkout.
const bundleRoot = join(packageRoot, '.test-results', 'cli-bundle');
const cli = join(bundleRoot, 'dist', 'cli.js');

beforeAll(async () => {
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

describe('deploy without AWS credentials', () => {
  it('stops at once with one clear line and exit 1, starting no cdk', () => {
    const started = Date.now();
    const result = spawnSync(process.execPath, [cli, 'deploy', '--env', 'prod'], { env: bareEnv(), encoding: 'utf8' });
    const elapsed = Date.now() - started;
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^infra: no AWS credentials \(.+\); set AWS_PROFILE or run aws sso login \/ aws configure, then retry$/);
    // "At once": well inside the 5 s credential timeout, with room for a loaded machine.
    expect(elapsed).toBeLessThan(15_000);
  });

  it('treats an empty shared credentials file like no credentials', () => {
    const env = bareEnv();
    writeFileSync(env.AWS_SHARED_CREDENTIALS_FILE as string, '[default]\n');
    const result = spawnSync(process.execPath, [cli, 'diff'], { env, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^infra: no AWS credentials/);
  });
});

describe('deploy with credentials from the environment', () => {
  it('gets past the credential check and asks for the synthesized app', () => {
    const env = bareEnv({ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE00', AWS_SECRET_ACCESS_KEY: 'secret-example' });
    const result = spawnSync(process.execPath, [cli, 'deploy'], { env, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe(`infra: no synthesized app in ${join(bundleRoot, 'cdk.out')}; run: nx run infra:synth`);
  });
});

describe('a bad argument', () => {
  it('exits 2 with the usage on one line', () => {
    const result = spawnSync(process.execPath, [cli, 'deploy', '--env', 'staging'], { env: bareEnv(), encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe('infra: --env must be one of dev, prod, got "staging"');
  });
});
