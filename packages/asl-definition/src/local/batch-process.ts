/**
 * The local binding of `batch:submitJob.sync`'s jobs: one attempt of a Batch
 * job runs as a process, `node <batch-runner bundle> <Command...>`, exactly as
 * the container runs it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as osConstants, tmpdir } from 'node:os';
import path from 'node:path';
import type { BatchJob, BatchJobResult } from './types.js';

/** Path of the esbuild bundle that the batch image runs. */
export function batchRunnerBundlePath(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@fibbars/batch-runner/package.json')), 'dist', 'bundle', 'main.js');
}

// Variables a job inherits from the engine: what node and the AWS SDK need, nothing else.
const INHERITED_ENV = /^(PATH|HOME|TMPDIR|TZ|LANG|AWS_[A-Z0-9_]+)$/;
const LOG_TAIL_LINES = 20;

function lastJsonLine(text: string, accept: (value: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]?.trim();
    if (!line || !line.startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value) && accept(value as Record<string, unknown>)) {
        return value as Record<string, unknown>;
      }
    } catch {
      // not a JSON line: a log line of some other shape
    }
  }
  return undefined;
}

/** The environment of one attempt: the engine's inherited variables, `extraEnv`, what AWS Batch sets, the job's own Environment. */
function jobEnvironment(job: BatchJob, extraEnv: Record<string, string> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && INHERITED_ENV.test(key)) env[key] = value;
  }
  // What AWS Batch sets in every container, then the job's own Environment.
  const batchEnv = {
    AWS_BATCH_JOB_ID: job.jobId,
    AWS_BATCH_JQ_NAME: job.jobQueue.split('/').pop() ?? job.jobQueue,
    AWS_BATCH_JOB_ATTEMPT: String(job.attempt),
  };
  Object.assign(env, extraEnv, batchEnv, job.environment);
  return env;
}

interface ProcessOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the bundle with the job's command; resolves when the process closed (killed by `signal` too). */
function runJobProcess(
  bundle: string,
  job: BatchJob,
  spawnOptions: { cwd: string; env: Record<string, string>; signal: AbortSignal },
  hooks: { onStderr?: (job: BatchJob, line: string) => void },
): Promise<ProcessOutcome> {
  return new Promise<ProcessOutcome>((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [bundle, ...job.command], {
      ...spawnOptions,
      stdio: ['ignore', 'pipe', 'pipe'],
      killSignal: 'SIGTERM',
    });
    let out = '';
    let err = '';
    let pending = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      if (hooks.onStderr) {
        pending += chunk;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) hooks.onStderr(job, line);
      }
    });
    child.on('error', (error) => {
      if ((error as { name?: string }).name === 'AbortError') return; // 'close' reports the kill
      reject(error);
    });
    child.on('close', (c, s) => resolve({ code: c, signal: s, stdout: out, stderr: err }));
  });
}

/** How the attempt ended, as the binding reports it: the exit code (128 + the signal number when killed), the report, the end of stderr. */
function jobResult({ code, signal: killedBy, stdout, stderr }: ProcessOutcome): BatchJobResult {
  const logTail = stderr.split('\n').filter((l) => l.trim() !== '').slice(-LOG_TAIL_LINES);
  if (code === 0) {
    // The last stdout line is the report, bare or as batch-runner logs it: { msg: 'done', report }.
    const line = lastJsonLine(stdout, () => true);
    const report = line && typeof line.report === 'object' && line.report !== null ? line.report : line;
    return report === undefined ? { exitCode: 0, logTail } : { exitCode: 0, report, logTail };
  }
  if (code === null) {
    const number = killedBy ? osConstants.signals[killedBy] : undefined;
    return { exitCode: 128 + (number ?? 0), signal: String(killedBy), logTail };
  }
  return { exitCode: code, logTail };
}

/**
 * Runs one attempt of a Batch job as the container would: `node <bundle>
 * <Command...>`, the job's Environment plus what Batch sets, a fresh working
 * directory. Reports the exit code (a process killed by a signal exits with
 * 128 + its number, as Docker reports it) and the end of stderr; the job's
 * JSON error line stays in its log, as on AWS, where only the exit code
 * reaches Step Functions.
 */
export function createBatchRunnerBinding(
  options: { bundle?: string; extraEnv?: Record<string, string>; onStderr?: (job: BatchJob, line: string) => void } = {},
): (job: BatchJob, signal: AbortSignal) => Promise<BatchJobResult> {
  return async (job, signal) => {
    const bundle = options.bundle ?? batchRunnerBundlePath();
    const cwd = await mkdtemp(path.join(tmpdir(), 'fibbars-job-'));
    const env = jobEnvironment(job, options.extraEnv);
    try {
      return jobResult(await runJobProcess(bundle, job, { cwd, env, signal }, options));
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  };
}
