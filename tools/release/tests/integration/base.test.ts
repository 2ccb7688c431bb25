/**
 * What a release compares with (`src/base.mjs`): the newest infra release tag
 * reachable from HEAD; with none, every deployable; an explicit base wins.
 * Exercised on a throwaway git repository with real git.
 */
import { describe, it, expect, beforeAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { releaseBase } from '../../src/base.mjs';

type Base = { base: string | null; reason: string };
const base = releaseBase as (options?: { base?: string; cwd?: string; env?: NodeJS.ProcessEnv }) => Base;

let repo: string;
const git = (...args: string[]) => {
  const r = spawnSync('git', args, { cwd: repo, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
const commit = (file: string) => {
  writeFileSync(join(repo, file), file);
  git('add', file);
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', file);
};

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'fibbars-base-'));
  git('init', '-q', '-b', 'main');
  commit('a');
});

describe('releaseBase', () => {
  it('counts every deployable as changed before the first release', () => {
    expect(base({ cwd: repo, env: {} })).toEqual({ base: null, reason: 'no release tag (@fibbars/infra-cdk@*) yet: every deployable counts as changed' });
  });

  it('compares with the newest infra release tag reachable from HEAD, not other packages\' tags', () => {
    git('tag', '@fibbars/infra-cdk@0.1.0');
    commit('b');
    git('tag', '@fibbars/infra-cdk@0.1.1');
    commit('c');
    git('tag', '@fibbars/ops-cli@0.3.0');
    expect(base({ cwd: repo, env: {} })).toEqual({ base: '@fibbars/infra-cdk@0.1.1', reason: 'base @fibbars/infra-cdk@0.1.1 (the last release)' });
  });

  it('takes --base, then NX_BASE, over the tag', () => {
    expect(base({ cwd: repo, base: 'HEAD~2', env: { NX_BASE: 'HEAD~1' } }).base).toBe('HEAD~2');
    expect(base({ cwd: repo, env: { NX_BASE: 'HEAD~1' } }).base).toBe('HEAD~1');
  });

  it('says so outside a git checkout', () => {
    const plain = mkdtempSync(join(tmpdir(), 'fibbars-nogit-'));
    expect(() => base({ cwd: plain, env: { GIT_CEILING_DIRECTORIES: tmpdir() } })).toThrow(/is not a git checkout: give a base with --base REF/);
  });
});
