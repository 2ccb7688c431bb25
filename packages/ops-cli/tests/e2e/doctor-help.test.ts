import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { cli, listFiles, tempDir } from '../support/cli.js';

interface DoctorJson {
  ok: boolean;
  checks: { name: string; status: string; detail: string; fix?: string }[];
}

describe('fibbars doctor', () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  let server: Server;
  let baseUrl: string;
  const seen: string[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    // The vendor, locally: accepts one key, refuses others, like the real API.
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      const ok = req.headers.authorization === 'Bearer good-key' && req.url?.startsWith('/v3/reference/tickers');
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { status: 'OK', results: [{ ticker: 'A' }] } : { status: 'ERROR', error: 'Unknown API Key' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await dir.cleanup();
  });
  beforeEach(() => {
    seen.length = 0;
  });

  it('passes with a writable lake and an accepted key, leaving nothing behind', async () => {
    const lake = path.join(dir.dir, 'lake-ok');
    await mkdir(lake);
    const res = await cli(['doctor', '--lake', lake, '--json'], { env: { POLYGON_API_KEY: 'good-key', POLYGON_BASE_URL: baseUrl } });
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as DoctorJson;
    expect(out.ok).toBe(true);
    expect(out.checks.map((c) => [c.name, c.status])).toEqual([
      ['node', 'ok'],
      ['lake read', 'warn'],
      ['lake write', 'ok'],
      ['lake freshness', 'warn'],
      ['api key', 'ok'],
    ]);
    expect(seen).toEqual(['GET /v3/reference/tickers?limit=1 Bearer good-key']);
    expect(await listFiles(lake)).toEqual([]);
  });

  it('fails with exit 1 and prints the fix when the key is rejected', async () => {
    const lake = path.join(dir.dir, 'lake-ok');
    const res = await cli(['doctor', '--lake', lake], { env: { POLYGON_API_KEY: 'bad-key', POLYGON_BASE_URL: baseUrl } });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^FAIL api key\s+key rejected by http:\/\/127\.0\.0\.1:\d+ \(HTTP 401\)$/m);
    expect(res.stdout).toMatch(/fix: check POLYGON_API_KEY/);
    expect(res.stderr).toBe('fibbars: 1 check(s) failed: api key\n');
  });

  it('warns about a missing key and a lake not created yet, without creating it', async () => {
    const lake = path.join(dir.dir, 'not-yet');
    const res = await cli(['doctor', '--lake', lake]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^WARN lake\s+.*not-yet does not exist yet$/m);
    expect(res.stdout).toMatch(/^WARN api key\s+POLYGON_API_KEY is not set: runs use the synthetic market$/m);
    expect(existsSync(lake)).toBe(false);
  });

  // doctor --aws runs against a loopback AWS control plane in aws-setup.test.ts.
});

describe('fibbars --help', () => {
  const commands = ['run', 'backfill', 'consolidate', 'resample', 'gaps', 'check', 'tickers', 'bars', 'export', 'sql', 'duckdb-views', 'plot', 'executions', 'describe', 'schedule', 'doctor', 'gc'];

  it.each(commands)('documents "%s" with an example', async (command) => {
    const res = await cli([command, '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`Usage: fibbars ${command}`);
    expect(res.stdout).toMatch(new RegExp(`Examples:\\n  \\$ fibbars ${command}`));
  });

  it('lists every command at the top level', async () => {
    const res = await cli(['--help']);
    expect(res.code).toBe(0);
    for (const c of commands) expect(res.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
  });

  it('starts without loading Polars: the native module is loaded by the commands that use it', async () => {
    // A preload that notes every module the process loads whose name holds "nodejs-polars"
    // (ESM imports of a CommonJS package pass through Module._load too).
    const dir = await tempDir('fibbars-help-');
    try {
      const hook = path.join(dir.dir, 'note-polars.cjs');
      await writeFile(
        hook,
        "const M = require('module'); const load = M._load; let seen = false;\n" +
          "M._load = function (request, ...rest) { if (String(request).includes('nodejs-polars')) seen = true; return load.call(this, request, ...rest); };\n" +
          "process.on('exit', () => process.stderr.write(`polars loaded: ${seen}\\n`));\n",
      );
      const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');
      const run = (args: string[]) => spawnSync(process.execPath, ['--require', hook, bin, ...args], { encoding: 'utf8' });
      const help = run(['--help']);
      expect(help.status).toBe(0);
      expect(help.stderr).toContain('polars loaded: false');
      // The hook does see Polars when something loads it, so the line above can fail.
      const direct = spawnSync(process.execPath, ['--require', hook, '--input-type=module', '-e', "import('nodejs-polars')"], { encoding: 'utf8', cwd: path.dirname(bin) });
      expect(direct.stderr).toContain('polars loaded: true');
    } finally {
      await dir.cleanup();
    }
  });

  it('prints the help on stderr with exit 2 when no command is given', async () => {
    const res = await cli([]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('Usage: fibbars [options] [command]');
    expect(res.stdout).toBe('');
  });

  it('answers an unknown command with one line and exit 2', async () => {
    const res = await cli(['bras']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: unknown command \'bras\' (Did you mean bars?) (see "fibbars --help")\n');
  });
});
