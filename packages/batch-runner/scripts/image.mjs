// Builds the batch-runner image with docker or podman, tagged with the package
// version and the git sha. Where no engine runs it says so on one line and
// checks the build context instead: the bundle, its package.json and every
// file the Dockerfile copies must be there and not excluded by .dockerignore.
// Exit 0 only when the image was built, or when no engine runs and the context
// is complete.
//
//   node scripts/image.mjs [--context DIR]
//   FIBBARS_IMAGE_ENGINE=docker|podman|none forces the engine (none: check only)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const contextArg = process.argv.indexOf('--context');
const context = contextArg === -1 ? packageRoot : resolve(process.argv[contextArg + 1] ?? '.');
const IMAGE = 'fibbars/batch-runner';
const EXTERNAL = ['nodejs-polars', 'nodejs-polars-linux-x64-gnu'];

function fail(message) {
  console.error(`image: ${message}`);
  process.exit(1);
}

function run(command, args, options = {}) {
  return spawnSync(command, args, { encoding: 'utf8', ...options });
}

/** Sources of the Dockerfile's COPY/ADD instructions that read the build context. */
function contextSources(dockerfile) {
  const joined = dockerfile.replace(/\\\r?\n/g, ' ');
  const sources = [];
  for (const line of joined.split(/\r?\n/)) {
    const match = /^\s*(COPY|ADD)\s+(.*)$/i.exec(line);
    if (match === null) continue;
    const words = match[2].trim().split(/\s+/);
    if (words.some((word) => word.startsWith('--from='))) continue;
    const args = words.filter((word) => !word.startsWith('--'));
    sources.push(...args.slice(0, -1));
  }
  return [...new Set(sources)];
}

function globToRegExp(pattern) {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const char = pattern[i];
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i += 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Docker's .dockerignore rule: the last pattern matching the path or a parent decides. */
function ignored(path, rules) {
  const candidates = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const { negate, regexp } of rules) {
    if (candidates.some((candidate) => regexp.test(candidate))) excluded = !negate;
  }
  return excluded;
}

function checkContext() {
  const problems = [];
  const dockerfilePath = join(context, 'Dockerfile');
  if (!existsSync(dockerfilePath)) fail(`no Dockerfile in ${context}`);
  const rules = existsSync(join(context, '.dockerignore'))
    ? readFileSync(join(context, '.dockerignore'), 'utf8')
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== '' && !line.startsWith('#'))
        .map((line) => ({ negate: line.startsWith('!'), regexp: globToRegExp(line.replace(/^!/, '').replace(/^\/+|\/+$/g, '')) }))
    : [];
  const sources = contextSources(readFileSync(dockerfilePath, 'utf8'));
  for (const required of ['dist/bundle/main.js', 'dist/bundle/package.json']) {
    if (!sources.includes(required)) problems.push(`the Dockerfile does not copy ${required}`);
  }
  for (const source of sources) {
    if (!existsSync(join(context, source))) problems.push(`${source} is missing (run the bundle target first)`);
    else if (ignored(source, rules)) problems.push(`${source} is excluded by .dockerignore`);
  }
  const bundlePackage = join(context, 'dist/bundle/package.json');
  if (existsSync(bundlePackage)) {
    const pkg = JSON.parse(readFileSync(bundlePackage, 'utf8'));
    for (const name of EXTERNAL) {
      if (pkg.dependencies?.[name] === undefined) problems.push(`dist/bundle/package.json does not list ${name}`);
    }
    if (pkg.type !== 'module') problems.push('dist/bundle/package.json is not "type": "module"');
  }
  if (problems.length > 0) fail(`build context incomplete: ${problems.join('; ')}`);
  return sources;
}

function detectEngine() {
  const forced = process.env.FIBBARS_IMAGE_ENGINE;
  if (forced !== undefined && forced !== '') {
    if (!['docker', 'podman', 'none'].includes(forced)) fail(`FIBBARS_IMAGE_ENGINE must be docker, podman or none (got "${forced}")`);
    return forced === 'none' ? { reason: 'no container engine used (FIBBARS_IMAGE_ENGINE=none)' } : { engine: forced };
  }
  for (const engine of ['docker', 'podman']) {
    if (run(engine, ['info'], { stdio: 'ignore' }).status === 0) return { engine };
  }
  return { reason: 'no container engine is running (docker info and podman info failed)' };
}

const sources = checkContext();
const { engine, reason } = detectEngine();
if (engine === undefined) {
  console.log(`image: ${reason}; build context checked instead: ${sources.join(', ')} present`);
  process.exit(0);
}

const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'));
const sha = run('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: packageRoot }).stdout.trim();
if (sha === '') fail('cannot read the git sha (git rev-parse HEAD failed)');
const tags = [`${IMAGE}:${version}`, `${IMAGE}:${sha}`];
console.log(`image: building ${tags.join(', ')} with ${engine}`);
const built = run(engine, ['build', '--platform', 'linux/amd64', ...tags.flatMap((tag) => ['-t', tag]), '-f', 'Dockerfile', '.'], {
  cwd: context,
  stdio: 'inherit',
});
if (built.status !== 0) fail(`${engine} build failed with exit code ${built.status}`);
const smoke = run(engine, ['run', '--rm', tags[0], '--version']);
if (smoke.status !== 0 || smoke.stdout.trim() !== version) fail(`the image does not start: ${smoke.stderr.trim() || smoke.stdout.trim()}`);
console.log(`image: built ${tags.join(', ')}`);
