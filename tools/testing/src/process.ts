/**
 * Child processes for end-to-end tests of the built commands.
 *
 * `runNode` is asynchronous on purpose: the loopback servers of this package
 * answer from the test's own process, which a blocking `spawnSync` would
 * freeze until the child times out.
 */
import { spawn } from 'node:child_process';

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <script> ...args` with exactly `env` (in `options.cwd`, default this process's), collecting its output. */
export function runNode(script: string, args: readonly string[], env: NodeJS.ProcessEnv, options: { cwd?: string } = {}): Promise<ProcessResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script, ...args], { env, ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/**
 * What a shell on a fresh machine has for the AWS SDK, plus `extra`: PATH
 * only, no home, no profile files, no instance metadata, so nothing but
 * `extra` can supply a region, credentials or an endpoint.
 */
export function bareAwsEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    AWS_CONFIG_FILE: '/nonexistent/config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}
