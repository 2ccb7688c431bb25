import { describe, it, expect } from '@jest/globals';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, runCli, type CliDeps, type CredentialCheck } from '../../src/cli.js';
import type { ReleaseManifest } from '../../src/release.js';
import { sampleRelease } from './support/release.js';

function harness(credentials: CredentialCheck, withAssembly = true, release: ReleaseManifest | null = sampleRelease(), unpublished: string[] = []) {
  const assembly = mkdtempSync(join(tmpdir(), 'fibbars-cdkout-'));
  if (withAssembly) writeFileSync(join(assembly, 'manifest.json'), '{}');
  const calls: string[][] = [];
  const lines: string[] = [];
  const deps: CliDeps = {
    checkCredentials: async () => credentials,
    runCdk: async (args) => {
      calls.push(args);
      return 0;
    },
    cloudAssembly: assembly,
    releasePath: '/repo/apps/infra-cdk/release.json',
    loadRelease: () => release ?? undefined,
    checkPublished: async () => unpublished,
    stderr: (line) => lines.push(line),
  };
  return { deps, calls, lines, assembly };
}

describe('parseArgs', () => {
  it('defaults to dev and passes everything after -- to cdk', () => {
    expect(parseArgs(['deploy'])).toEqual({ command: 'deploy', env: 'dev', cdkArgs: [] });
    expect(parseArgs(['diff', '--env', 'prod', '--', '--context-lines', '5'])).toEqual({
      command: 'diff',
      env: 'prod',
      cdkArgs: ['--context-lines', '5'],
    });
    expect(parseArgs(['deploy', '--env=prod']).env).toBe('prod');
  });

  it('rejects unknown commands, arguments and environments with one line', () => {
    expect(() => parseArgs(['destroy'])).toThrow(/^unknown command "destroy"; usage:/);
    expect(() => parseArgs(['deploy', '--force'])).toThrow(/^unknown argument "--force"/);
    expect(() => parseArgs(['deploy', '--env', 'qa'])).toThrow('--env must be one of dev, prod, got "qa"');
    expect(() => parseArgs(['deploy', '--env'])).toThrow(/^--env needs a value/);
  });
});

describe('runCli', () => {
  it('stops before cdk with one line and exit 1 when there are no credentials', async () => {
    const reason = 'STS GetCallerIdentity: no AWS credentials found: set AWS_PROFILE (and run aws sso login) or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';
    const { deps, calls, lines } = harness({ ok: false, reason });
    expect(await runCli(['deploy', '--env', 'prod'], deps)).toBe(1);
    expect(calls).toEqual([]);
    expect(lines).toEqual([`infra: ${reason}`]);
  });

  it('deploys the synthesized stack of the chosen environment, asking before security changes', async () => {
    const { deps, calls, assembly, lines } = harness({ ok: true, source: 'account 123456789012 as arn:aws:iam::123456789012:user/ops' });
    expect(await runCli(['deploy', '--env', 'prod', '--', '--concurrency', '2'], deps)).toBe(0);
    expect(lines).toEqual(['infra: deploying prod-fibbars in account 123456789012 as arn:aws:iam::123456789012:user/ops']);
    expect(calls).toEqual([
      ['deploy', '--app', assembly, '--require-approval', 'broadening', 'prod-fibbars', '--concurrency', '2'],
    ]);
  });

  it('diffs the synthesized stack against the deployed one', async () => {
    const { deps, calls, assembly } = harness({ ok: true, source: 'AKIA…' });
    expect(await runCli(['diff'], deps)).toBe(0);
    expect(calls).toEqual([['diff', '--app', assembly, 'dev-fibbars']]);
  });

  it('names the synth target when the synthesized app is missing', async () => {
    const { deps, calls, lines, assembly } = harness({ ok: true, source: 'AKIA…' }, false);
    mkdirSync(assembly, { recursive: true });
    expect(await runCli(['deploy'], deps)).toBe(1);
    expect(calls).toEqual([]);
    expect(lines).toEqual([`infra: no synthesized app in ${assembly}; run: nx run infra:synth`]);
  });

  it('returns the exit code of cdk', async () => {
    const { deps } = harness({ ok: true, source: 'AKIA…' });
    expect(await runCli(['deploy'], { ...deps, runCdk: async () => 3 })).toBe(3);
  });

  it('exits 2 on a usage error without looking for credentials', async () => {
    let looked = false;
    const { deps, lines } = harness({ ok: true, source: 'AKIA…' });
    const code = await runCli(['deploy', '--env', 'qa'], {
      ...deps,
      checkCredentials: async () => {
        looked = true;
        return { ok: true, source: 'x' };
      },
    });
    expect([code, looked, lines.length]).toEqual([2, false, 1]);
  });
});

describe('deploy deploys published artifacts only', () => {
  const ok: CredentialCheck = { ok: true, source: 'account 123456789012 as arn:aws:iam::123456789012:user/ops' };

  it('refuses with one line when nothing was published', async () => {
    const { deps, calls, lines } = harness(ok, true, null);
    expect(await runCli(['deploy'], deps)).toBe(1);
    expect(calls).toEqual([]);
    expect(lines).toEqual([
      'infra: nothing published to deploy: /repo/apps/infra-cdk/release.json names no fetchers (run: nx run fetchers:publish), no batch-runner (run: nx run batch-runner:publish)',
    ]);
  });

  it('refuses when the manifest names only one deployable', async () => {
    const { 'batch-runner': _image, ...fetchersOnly } = sampleRelease();
    const { deps, calls, lines } = harness(ok, true, fetchersOnly);
    expect(await runCli(['deploy'], deps)).toBe(1);
    expect(calls).toEqual([]);
    expect(lines).toEqual(['infra: nothing published to deploy: /repo/apps/infra-cdk/release.json names no batch-runner (run: nx run batch-runner:publish)']);
  });

  it('refuses, naming the first, when an artifact the manifest names is not published', async () => {
    const { deps, calls, lines } = harness(ok, true, sampleRelease(), ['zip one is not published', 'image is not published']);
    expect(await runCli(['deploy'], deps)).toBe(1);
    expect(calls).toEqual([]);
    expect(lines).toEqual(['infra: zip one is not published (and 1 more)']);
  });

  it('refuses a synthesized app that would build an image or upload a local zip', async () => {
    for (const assets of [
      { dockerImages: { abc: { source: { directory: 'asset.abc' } } }, files: {} },
      { files: { def: { source: { path: 'asset.def.zip', packaging: 'file' } } } },
    ]) {
      const { deps, calls, lines, assembly } = harness(ok);
      writeFileSync(join(assembly, 'dev-fibbars.assets.json'), JSON.stringify(assets));
      expect(await runCli(['deploy'], deps)).toBe(1);
      expect(calls).toEqual([]);
      expect(lines).toEqual([
        `infra: the synthesized app in ${assembly} would build or upload artifacts from this machine (it was not synthesized from /repo/apps/infra-cdk/release.json): run nx run infra:synth`,
      ]);
    }
  });

  it('deploys an app whose only asset is its template', async () => {
    const { deps, calls, assembly } = harness(ok);
    writeFileSync(join(assembly, 'dev-fibbars.assets.json'), JSON.stringify({ files: { t: { source: { path: 'dev-fibbars.template.json', packaging: 'file' } } } }));
    expect(await runCli(['deploy'], deps)).toBe(0);
    expect(calls).toHaveLength(1);
  });

  it('diff needs no release', async () => {
    const { deps, calls } = harness(ok, true, null);
    expect(await runCli(['diff'], deps)).toBe(0);
    expect(calls).toHaveLength(1);
  });
});

describe('bootstrap', () => {
  it('deploys the artifact store, with no release needed', async () => {
    const { deps, calls, lines, assembly } = harness({ ok: true, source: 'account 123456789012 as x' }, true, null);
    expect(await runCli(['bootstrap'], deps)).toBe(0);
    expect(lines).toEqual(['infra: deploying fibbars-artifacts (where releases publish) in account 123456789012 as x']);
    expect(calls).toEqual([['deploy', '--app', assembly, '--require-approval', 'broadening', 'fibbars-artifacts']]);
  });
});
