// Runs dist/bundle/main.js the way the container does: `node main.js <args>`,
// a clean environment holding only what the job definition would pass, and a
// working directory of its own. Asynchronous, so an S3 server in the test
// process keeps answering while the job runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BUNDLE = join(PACKAGE_ROOT, 'dist', 'bundle', 'main.js');

export interface JobResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed line by line (every line must be JSON). */
  lines: Record<string, unknown>[];
  /** The JSON lines of stderr. */
  errors: Record<string, unknown>[];
  /** stderr lines that are not JSON: native Polars writes its warnings straight to fd 2. */
  stderrNoise: string[];
}

function parseLines(text: string, stream: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`${stream} line is not JSON: ${line}`);
      }
    });
}

export function runBundle(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd: string; onSpawn?: (child: ChildProcess) => void },
): Promise<JobResult> {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run the bundle target first`);
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: options.cwd, FIBBARS_HEARTBEAT_MS: '0', ...options.env };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUNDLE, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    options.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        const stderrLines = stderr.split('\n').filter((line) => line.trim() !== '');
        const isJson = (line: string) => line.startsWith('{');
        resolve({
          code,
          stdout,
          stderr,
          lines: parseLines(stdout, 'stdout'),
          errors: parseLines(stderrLines.filter(isJson).join('\n'), 'stderr'),
          stderrNoise: stderrLines.filter((line) => !isJson(line)),
        });
      } catch (error) {
        reject(new Error(`${(error as Error).message}\n--- stderr ---\n${stderr}`));
      }
    });
  });
}

/** The `report` of the final `done` line, failing with the job's stderr if there is none. */
export function doneReport(result: JobResult): Record<string, unknown> {
  const last = result.lines.at(-1);
  if (result.code !== 0 || last?.['msg'] !== 'done') {
    throw new Error(`job failed (exit ${result.code}):\n${result.stderr}\n${result.stdout.slice(-2000)}`);
  }
  return last['report'] as Record<string, unknown>;
}
