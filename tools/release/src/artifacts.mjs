#!/usr/bin/env node
// Which deployable artifacts a release ships, and the versioned copies of them.
//
//   node tools/release/src/artifacts.mjs list [--base REF] [--head REF] [--files a,b] [--json]
//       the deployables Nx counts as affected since REF (default: the last
//       release tag, base.mjs; with none, every deployable), each with its
//       version and the artifact files it deploys
//   node tools/release/src/artifacts.mjs stage <project>
//       copies a deployable's built outputs to <package>/dist/artifacts/ under
//       names that carry the package version (the `package` target calls it)
//
// The names are the contract with the deploy side:
//   fetchers      dist/artifacts/<handler>-<version>.zip       (one Lambda zip per handler)
//   batch-runner  dist/artifacts/batch-runner-image-<version>.tar
//                 (a Docker build context: `docker build -t fibbars/batch-runner:<version> - < file.tar`)
//   infra         no file: the CDK stack, deployed by `nx run infra:deploy`
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { releaseBase } from './base.mjs';
import { WORKSPACE_ROOT } from './manifest.mjs';

export { WORKSPACE_ROOT };

/**
 * Every project tagged `deployable`, and what it deploys. A deployable missing
 * here is an error, so a new one cannot ship without a name for its artifact.
 */
export const DEPLOYABLES = {
  fetchers: {
    root: 'packages/fetchers',
    kind: 'lambda-zip',
    artifacts: (version) => ['ohlcv', 'meta'].map((handler) => `dist/artifacts/${handler}-${version}.zip`),
    sources: ['ohlcv', 'meta'].map((handler) => `dist/lambda/${handler}.zip`),
  },
  'batch-runner': {
    root: 'packages/batch-runner',
    kind: 'image-context',
    image: 'fibbars/batch-runner',
    artifacts: (version) => [`dist/artifacts/batch-runner-image-${version}.tar`],
    // Exactly what the Dockerfile copies from its context (and .dockerignore lets through).
    sources: ['Dockerfile', 'dist/bundle/package.json', 'dist/bundle/main.js', 'dist/bundle/main.js.map'],
  },
  infra: {
    root: 'apps/infra-cdk',
    kind: 'stack',
    artifacts: () => [],
    sources: [],
  },
};

export class UsageError extends Error {
  name = 'UsageError';
}

function nx(args, cwd = WORKSPACE_ROOT) {
  const bin = path.join(WORKSPACE_ROOT, 'node_modules', '.bin', 'nx');
  const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
  const result = spawnSync(bin, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    const detail = (result.stderr || result.stdout || '').trim().split('\n').slice(-3).join(' ');
    throw new Error(`nx ${args.join(' ')} failed (exit ${result.status}): ${detail}`);
  }
  return result.stdout;
}

/** The `version` of the package.json under `root` (relative to the workspace). */
export async function versionOf(root) {
  const pkg = JSON.parse(await readFile(path.join(WORKSPACE_ROOT, root, 'package.json'), 'utf8'));
  return pkg.version;
}

/**
 * The deployables a release would deploy: those Nx counts as affected by the
 * change (a base ref, or an explicit file list), with versions and artifacts.
 * @param {{ base?: string, head?: string, files?: string[] }} options
 */
export async function releaseArtifacts(options = {}) {
  const affectedArgs = options.files !== undefined ? [`--files=${options.files.join(',')}`] : [];
  let everything = false;
  if (options.files === undefined) {
    const chosen = releaseBase({ base: options.base });
    options.onBase?.(chosen.reason);
    if (chosen.base === null) everything = true;
    else affectedArgs.push(`--base=${chosen.base}`);
    if (options.head !== undefined) affectedArgs.push(`--head=${options.head}`);
  }
  const deployable = JSON.parse(nx(['show', 'projects', '--projects=tag:deployable', '--json']));
  const unknown = deployable.filter((name) => !(name in DEPLOYABLES));
  if (unknown.length > 0) throw new Error(`deployable project(s) without an artifact rule in artifacts.mjs: ${unknown.join(', ')}`);
  const affected = new Set(everything ? deployable : JSON.parse(nx(['show', 'projects', '--affected', ...affectedArgs, '--json'])));
  const out = [];
  for (const name of deployable.filter((project) => affected.has(project)).sort()) {
    const rule = DEPLOYABLES[name];
    const version = await versionOf(rule.root);
    out.push({
      project: name,
      version,
      kind: rule.kind,
      artifacts: rule.artifacts(version).map((file) => `${rule.root}/${file}`),
      ...(rule.image ? { image: `${rule.image}:${version}` } : {}),
    });
  }
  return out;
}

const TAR_MTIME = new Date('2000-01-01T00:00:00Z');

/** Copies a deployable's built outputs to versioned names under dist/artifacts. */
export async function stage(project) {
  const rule = DEPLOYABLES[project];
  if (rule === undefined) throw new UsageError(`unknown deployable "${project}" (known: ${Object.keys(DEPLOYABLES).join(', ')})`);
  const root = path.join(WORKSPACE_ROOT, rule.root);
  const missing = [];
  for (const source of rule.sources) {
    try {
      await stat(path.join(root, source));
    } catch {
      missing.push(source);
    }
  }
  if (missing.length > 0) throw new Error(`${project}: missing build outputs ${missing.join(', ')} (run its bundle/package step first)`);
  const version = await versionOf(rule.root);
  const outDir = path.join(root, 'dist', 'artifacts');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const targets = rule.artifacts(version);
  if (rule.kind === 'lambda-zip') {
    for (const [i, source] of rule.sources.entries()) await copyFile(path.join(root, source), path.join(root, targets[i]));
  } else if (rule.kind === 'image-context') {
    const tar = await import('tar');
    // Sorted entries, fixed times, no owner: equal inputs give equal bytes.
    await tar.create({ cwd: root, file: path.join(root, targets[0]), portable: true, noDirRecurse: true, mtime: TAR_MTIME }, [...rule.sources].sort());
  }
  const manifest = { project, version, kind: rule.kind, ...(rule.image ? { image: `${rule.image}:${version}` } : {}), files: [] };
  for (const target of targets) {
    const bytes = await readFile(path.join(root, target));
    manifest.files.push({ path: target, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  await writeFile(path.join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function parseArgs(argv) {
  const [command, ...rest] = argv;
  const options = { json: false };
  const positional = [];
  for (let i = 0; i < rest.length; i += 1) {
    const arg = rest[i];
    const [flag, inline] = arg.split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? rest[(i += 1)];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--json') options.json = true;
    else if (flag === '--base') options.base = value();
    else if (flag === '--head') options.head = value();
    else if (flag === '--files') options.files = value().split(',').filter(Boolean);
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  return { command, options, positional };
}

const USAGE = 'usage: artifacts.mjs list [--base REF] [--head REF] [--files a,b] [--json] | artifacts.mjs stage <project>';

export async function main(argv) {
  const { command, options, positional } = parseArgs(argv);
  if (command === 'list') {
    if (positional.length > 0) throw new UsageError(`unexpected argument ${positional[0]}`);
    if (options.files !== undefined && (options.base !== undefined || options.head !== undefined)) {
      throw new UsageError('--files cannot be combined with --base/--head');
    }
    const result = await releaseArtifacts({ ...options, onBase: (reason) => console.error(`artifacts: ${reason}`) });
    if (options.json) console.log(JSON.stringify(result, null, 2));
    else if (result.length === 0) console.log('no deployable is affected: this release deploys nothing');
    else {
      for (const d of result) {
        console.log(`${d.project} ${d.version} (${d.kind})`);
        for (const file of d.artifacts) console.log(`  ${file}`);
        if (d.image) console.log(`  image ${d.image}`);
        if (d.kind === 'stack') console.log('  stack: nx run infra:deploy');
      }
    }
    return 0;
  }
  if (command === 'stage') {
    if (positional.length !== 1) throw new UsageError('stage needs exactly one project name');
    const manifest = await stage(positional[0]);
    for (const file of manifest.files) console.log(`artifact: ${path.join(DEPLOYABLES[positional[0]].root, file.path)} (${(file.bytes / 1024).toFixed(0)} KiB)`);
    return 0;
  }
  throw new UsageError(command === undefined ? USAGE : `unknown command "${command}"; ${USAGE}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    console.error(`artifacts: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}
