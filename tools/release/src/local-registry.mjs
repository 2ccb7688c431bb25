// A throwaway npm registry on loopback (verdaccio), for release rehearsals
// and the publish tests: temp storage, one user, `@fibbars/*` served only
// from what was published to it (no uplink), everything else proxied from
// the npm registry.
//
// verdaccio lives in ./verdaccio/, installed with npm (`npm ci`), not pnpm:
// one of its dependencies asks for `node-fetch@cjs`, a dist-tag the registry
// no longer serves; npm's `overrides` pins it, pnpm would need a root override.
/* global fetch */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const VERDACCIO_DIR = path.resolve(here, '..', 'verdaccio');
const VERDACCIO_BIN = path.join(VERDACCIO_DIR, 'node_modules', 'verdaccio', 'bin', 'verdaccio');

/** Installs verdaccio from the committed lockfile when it is not there yet. Returns the seconds spent. */
export function ensureVerdaccio() {
  if (existsSync(VERDACCIO_BIN)) return 0;
  const started = Date.now();
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: VERDACCIO_DIR, encoding: 'utf8' });
  if (npm.status !== 0) throw new Error(`npm ci for verdaccio failed: ${(npm.stderr || npm.stdout).trim()}`);
  return (Date.now() - started) / 1000;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts verdaccio on 127.0.0.1 with its storage under `dir`.
 * @param {{ dir: string, uplink?: string }} options
 * @returns {Promise<{ url: string, token: string, npmrc: string, env: Record<string, string>, log: () => string, stop: () => Promise<void> }>}
 */
export async function startLocalRegistry({ dir, uplink = 'https://registry.npmjs.org/' }) {
  ensureVerdaccio();
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const config = path.join(dir, 'config.yaml');
  await writeFile(
    config,
    [
      `storage: ${JSON.stringify(path.join(dir, 'storage'))}`,
      'auth:',
      '  htpasswd:',
      `    file: ${JSON.stringify(path.join(dir, 'htpasswd'))}`,
      '    max_users: 1',
      'uplinks:',
      '  npmjs:',
      `    url: ${uplink}`,
      'packages:',
      "  '@fibbars/*':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      '    proxy: npmjs',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  // verdaccio's output goes to a file, not a pipe: the tests drive npm with
  // spawnSync, which blocks this process's event loop, and a pipe nobody
  // drains fills at 64 KiB and stalls verdaccio mid-request (npm install then
  // hangs; Node 24 prints enough deprecation warnings to get there).
  const logFile = path.join(dir, 'verdaccio.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [VERDACCIO_BIN, '--config', config, '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const readLog = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  let exited = null;
  child.once('exit', (code) => (exited = code ?? -1));
  const stop = async () => {
    if (exited !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(5000)]);
    if (exited === null) child.kill('SIGKILL');
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`verdaccio exited with ${exited} before answering: ${readLog().trim()}`);
    try {
      const ping = await fetch(`${url}-/ping`);
      if (ping.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`verdaccio did not answer on ${url} within 30 s: ${readLog().trim()}`);
    }
    await sleep(200);
  }

  const user = await fetch(`${url}-/user/org.couchdb.user:release`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'release', password: 'release-rehearsal' }),
  });
  const body = await user.json();
  if (!user.ok || typeof body.token !== 'string') {
    await stop();
    throw new Error(`could not create the registry user (${user.status}): ${JSON.stringify(body)}`);
  }
  const npmrc = path.join(dir, 'npmrc');
  const host = url.replace(/^http:/, '');
  await writeFile(npmrc, `registry=${url}\n@fibbars:registry=${url}\n${host}:_authToken=${body.token}\n`);
  // Every way npm, pnpm and changesets pick a registry points here, so nothing
  // can reach the public registry by accident.
  const env = { npm_config_userconfig: npmrc, npm_config_registry: url, 'npm_config_@fibbars:registry': url };
  return { url, token: body.token, npmrc, env, log: readLog, stop };
}
