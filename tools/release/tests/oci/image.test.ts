/**
 * The batch-runner image built without a container engine (Debian's umoci),
 * by the real `image.mjs` as a process, then published by the real
 * `publish.mjs batch-runner` to Debian's docker-registry on loopback (plain
 * HTTP), and the pushed digest checked through the registry's own API. The
 * tools are prerequisites: a machine without them fails here, naming them.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const runnerRoot = path.join(root, 'packages/batch-runner');
const imageDir = path.join(runnerRoot, 'dist/image');
const layout = path.join(imageDir, 'oci');
const publishScript = path.join(root, 'tools/release/src/publish.mjs');
const version = (JSON.parse(fs.readFileSync(path.join(runnerRoot, 'package.json'), 'utf8')) as { version: string }).version;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const missing = ['umoci', 'skopeo', 'docker-registry'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = net.createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => done(port));
    });
  });
}

let registry: ChildProcess | undefined;
let registryUrl: string;
let tmp: string;
let build: ReturnType<typeof spawnSync>;

beforeAll(async () => {
  if (missing.length > 0) throw new Error(`these tests need ${missing.join(', ')} (apt-get install umoci skopeo docker-registry), as .ci/run installs them`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-oci-'));
  build = spawnSync(process.execPath, [path.join(runnerRoot, 'scripts/image.mjs')], {
    cwd: runnerRoot,
    env: { ...process.env, FIBBARS_IMAGE_ENGINE: 'umoci' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const port = await freePort();
  registryUrl = `http://127.0.0.1:${port}`;
  const config = path.join(tmp, 'registry.yml');
  fs.writeFileSync(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(tmp, 'registry')}\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  registry = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 100; i += 1) {
    const up = await fetch(`${registryUrl}/v2/`).then((r) => r.status === 200, () => false);
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer on ${registryUrl}/v2/ within 10 s`);
});

afterAll(() => {
  registry?.kill('SIGTERM');
});

const layoutDigest = (dir: string, tag: string): string =>
  (JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] }).manifests.find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag,
  )!.digest;

function publish(args: string[], manifest: string) {
  const r = spawnSync(process.execPath, [publishScript, 'batch-runner', '--insecure', '--manifest', manifest, ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

describe('the image built without Docker', () => {
  it('builds an OCI layout tagged with the version, smoke-tested in a chroot', () => {
    expect(`${build.stderr}`).toContain('image: smoke test passed in a chroot');
    expect(build.status).toBe(0);
    const image = JSON.parse(fs.readFileSync(path.join(imageDir, 'image.json'), 'utf8')) as Record<string, unknown>;
    expect(image).toMatchObject({ image: 'fibbars/batch-runner', version, tag: version, engine: 'umoci' });
    expect(image['manifestDigest']).toBe(layoutDigest(layout, version));
    const config = JSON.parse(spawnSync('umoci', ['stat', '--image', `${layout}:${version}`, '--json'], { encoding: 'utf8' }).stdout) as { history: unknown[] };
    expect(config.history.length).toBeGreaterThan(0);
  });

  it('runs as the unprivileged user with the CLI as entrypoint', () => {
    const raw = spawnSync('skopeo', ['inspect', '--config', `oci:${layout}:${version}`], { encoding: 'utf8' });
    expect(raw.status).toBe(0);
    const { config, architecture, os: system } = JSON.parse(raw.stdout) as { config: Record<string, unknown>; architecture: string; os: string };
    expect({ architecture, os: system }).toEqual({ architecture: 'amd64', os: 'linux' });
    expect(config).toMatchObject({ User: '1000:1000', WorkingDir: '/app', Entrypoint: ['node', '--enable-source-maps', '/app/main.js'], Cmd: ['--help'] });
    expect((config['Labels'] as Record<string, string>)['org.opencontainers.image.version']).toBe(version);
  });
});

describe('publishing the image to a registry', () => {
  const repository = () => `${registryUrl.replace('http://', '')}/fibbars/batch-runner`;

  it('pushes it under its version, digest preserved, and records that digest', async () => {
    const manifest = path.join(tmp, 'release.json');
    const r = publish(['--repository', repository()], manifest);
    expect(r.stderr).toContain('(pushed sha256:');
    expect(r.code).toBe(0);
    const recorded = (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { 'batch-runner': { digest: string; tag: string; repository: string } })['batch-runner'];
    expect(recorded).toMatchObject({ tag: version, repository: repository(), digest: layoutDigest(layout, version) });
    const answer = await fetch(`${registryUrl}/v2/fibbars/batch-runner/manifests/${version}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('docker-content-digest')).toBe(recorded.digest);
  });

  it('pushes nothing the second time, leaving the manifest as it was', () => {
    const manifest = path.join(tmp, 'release.json');
    const before = fs.readFileSync(manifest);
    const r = publish(['--repository', repository()], manifest);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('(already published as sha256:');
    expect(r.stderr).not.toContain('pushing');
    expect(fs.readFileSync(manifest).equals(before)).toBe(true);
  });

  it('refuses another build under the same version, with one line, pushing nothing', async () => {
    const other = path.join(tmp, 'other-oci');
    fs.cpSync(layout, other, { recursive: true });
    expect(spawnSync('umoci', ['config', '--image', `${other}:${version}`, '--config.label', 'rebuilt=yes']).status).toBe(0);
    const otherDigest = layoutDigest(other, version);
    const r = spawnSync(
      process.execPath,
      ['-e', `import('${path.join(root, 'tools/release/src/publish-image.mjs')}').then((m) => m.publishImage({ layout: '${other}', tag: '${version}', repository: '${repository()}', insecure: true })).catch((e) => { console.error(e.message); process.exit(1); })`],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(
      `batch-runner ${version} is already published as ${layoutDigest(layout, version)}; this build is ${otherDigest}: bump @fibbars/batch-runner's version (pnpm changeset) to publish it`,
    );
    const answer = await fetch(`${registryUrl}/v2/fibbars/batch-runner/manifests/${version}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
    expect(answer.headers.get('docker-content-digest')).toBe(layoutDigest(layout, version));
  });
});
