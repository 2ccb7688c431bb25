// Builds the batch-runner image, tagged with the package version, into an OCI
// image layout (dist/image/oci) plus dist/image/image.json (version, tag,
// manifest digest), which `publish.mjs batch-runner` pushes.
//
// - With a running Docker or Podman: `docker build` of the Dockerfile, a
//   smoke run, then the image exported to the same layout (`docker save`,
//   then `skopeo copy docker-archive:... oci:...`). Not exercised here: no
//   engine runs on the machines this is tested on.
// - Without one: the daemonless build of scripts/oci-image.mjs with Debian's
//   umoci (node from npm, glibc from Debian's .debs), smoke-tested in a chroot.
// - Neither: exit 1 with one line. A build that built nothing never succeeds.
//
//   node scripts/image.mjs                   build
//   node scripts/image.mjs --check-context   only check the Docker build context (prints that no image was built)
//   FIBBARS_IMAGE_ENGINE=docker|podman|umoci forces the engine
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOciImage, findTool, manifestDigest } from './oci-image.mjs';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
for (const arg of args) {
  if (!['--context', '--check-context'].includes(arg) && args[args.indexOf(arg) - 1] !== '--context') {
    console.error(`image: unknown argument ${arg}; usage: image.mjs [--check-context] [--context DIR]`);
    process.exit(2);
  }
}
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
    if (!['docker', 'podman', 'umoci'].includes(forced)) {
      console.error(`image: FIBBARS_IMAGE_ENGINE must be docker, podman or umoci (got "${forced}")`);
      process.exit(2);
    }
    return forced;
  }
  for (const engine of ['docker', 'podman']) {
    if (run(engine, ['info'], { stdio: 'ignore' }).status === 0) return engine;
  }
  if (findTool('umoci') !== undefined) return 'umoci';
  fail('no container engine is running and umoci is not installed: start Docker or Podman, or install umoci (apt-get install umoci)');
}

function gitSha() {
  return run('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: packageRoot }).stdout?.trim() ?? '';
}

/** docker/podman build, a smoke run, and the image exported to the OCI layout. */
function buildWithEngine(engine, version, outDir) {
  const tag = `${IMAGE}:${version}`;
  console.error(`image: building ${tag} with ${engine}`);
  const built = run(engine, ['build', '--platform', 'linux/amd64', '-t', tag, '-f', 'Dockerfile', '.'], { cwd: context, stdio: 'inherit' });
  if (built.status !== 0) fail(`${engine} build failed with exit code ${built.status}`);
  const smoke = run(engine, ['run', '--rm', tag, '--version']);
  if (smoke.status !== 0 || smoke.stdout.trim() !== version) fail(`the image does not start: ${smoke.stderr.trim() || smoke.stdout.trim()}`);
  if (findTool('skopeo') === undefined) fail('skopeo is needed to export the image to an OCI layout (apt-get install skopeo)');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const archive = join(outDir, 'image.tar');
  if (run(engine, ['save', '-o', archive, tag]).status !== 0) fail(`${engine} save failed`);
  const copied = run('skopeo', ['copy', `docker-archive:${archive}`, `oci:${join(outDir, 'oci')}:${version}`]);
  if (copied.status !== 0) fail(`skopeo could not export the image: ${copied.stderr.trim()}`);
  rmSync(archive);
  return { image: IMAGE, version, tag: version, manifestDigest: manifestDigest(join(outDir, 'oci'), version), engine, builtAt: new Date().toISOString() };
}

const sources = checkContext();
if (args.includes('--check-context')) {
  console.log(`image: build context checked, no image built: ${sources.join(', ')} present`);
  process.exit(0);
}
const engine = detectEngine();
const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'));
const outDir = join(packageRoot, 'dist', 'image');
const started = Date.now();
try {
  const image =
    engine === 'umoci'
      ? buildOciImage({ bundleDir: join(context, 'dist', 'bundle'), outDir, workspaceRoot: join(packageRoot, '..', '..'), version, revision: gitSha(), log: (l) => console.error(l) })
      : buildWithEngine(engine, version, outDir);
  writeFileSync(join(outDir, 'image.json'), `${JSON.stringify(image, null, 2)}\n`);
  console.log(`image: built ${IMAGE}:${version} with ${engine} in ${((Date.now() - started) / 1000).toFixed(0)} s: ${join(outDir, 'oci')} (${image.manifestDigest})`);
} catch (error) {
  fail(error.message.split('\n')[0]);
}
