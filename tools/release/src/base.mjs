// What a release compares with: the last release of the deployables.
//
// Every release that changes a deployed artifact gives the private infra
// package a new version (it depends on fetchers, batch-runner and
// asl-definition with `workspace:*`, so changesets bumps it with them), and
// `changeset publish` tags it `@fibbars/infra-cdk@<version>`. The newest such
// tag reachable from HEAD is therefore the last release. With none (nothing
// was ever released) every deployable counts as changed: a first release
// ships all of them. An explicit base (`--base`, `NX_BASE`) wins over both.
//
// (Comparing with origin/main instead, the usual Nx default, is what made
// `pnpm package:affected` on main print "No tasks were run": main compared
// with itself.)
import { spawnSync } from 'node:child_process';
import { WORKSPACE_ROOT } from './manifest.mjs';

export const RELEASE_TAG_PATTERN = '@fibbars/infra-cdk@*';

function git(args, cwd) {
  return spawnSync('git', args, { cwd, encoding: 'utf8' });
}

/**
 * `{ base: REF, reason }` to compare with, or `{ base: null, reason }` when
 * every deployable counts as changed.
 * @param {{ base?: string, cwd?: string, env?: NodeJS.ProcessEnv }} options
 */
export function releaseBase(options = {}) {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? WORKSPACE_ROOT;
  const explicit = options.base ?? env.NX_BASE;
  if (explicit !== undefined && explicit !== '') return { base: explicit, reason: `base ${explicit} (given)` };
  if (git(['rev-parse', '--git-dir'], cwd).status !== 0) throw new Error(`${cwd} is not a git checkout: give a base with --base REF`);
  const tag = git(['describe', '--tags', '--abbrev=0', '--match', RELEASE_TAG_PATTERN, 'HEAD'], cwd);
  if (tag.status === 0 && tag.stdout.trim() !== '') {
    const name = tag.stdout.trim();
    return { base: name, reason: `base ${name} (the last release)` };
  }
  return { base: null, reason: `no release tag (${RELEASE_TAG_PATTERN}) yet: every deployable counts as changed` };
}
