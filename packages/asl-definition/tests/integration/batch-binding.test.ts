import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { batchRunnerBundlePath, createBatchRunnerBinding, type BatchJob } from '../../src/local.js';

const bundle = batchRunnerBundlePath();
let scratch: string;

beforeAll(async () => {
  if (!existsSync(bundle)) {
    throw new Error(`batch-runner bundle missing at ${bundle}: run \`nx run batch-runner:bundle\` (the nx test target does it)`);
  }
  scratch = await mkdtemp(path.join(tmpdir(), 'fibbars-binding-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const job = (command: string[], environment: Record<string, string>, attempt = 1): BatchJob => ({
  state: 'Consolidate',
  jobId: 'job-1',
  jobName: 'fibbars-test',
  jobQueue: 'arn:aws:batch:local:000000000000:job-queue/fibbars-local',
  jobDefinition: 'arn:aws:batch:local:000000000000:job-definition/fibbars-consolidate',
  attempt,
  logStreamName: 'consolidate/default/task-1',
  command,
  environment,
});

describe('the batch-runner binding, with the real bundle', () => {
  it('reports exit code 2 for a ConfigError, with the JSON error line at the end of the log', async () => {
    const result = await createBatchRunnerBinding()(job(['consolidate'], { FIBBARS_LAKE: 'ftp://host/lake', FIBBARS_RUN_ID: 'r1' }), new AbortController().signal);
    expect(result.exitCode).toBe(2);
    const line = JSON.parse(result.logTail?.find((l) => l.includes('"level":"error"')) ?? '{}');
    expect(line).toMatchObject({ level: 'error', error: 'ConfigError', message: expect.stringMatching(/unsupported scheme/) });
  });

  it('reports exit code 2 for a bad resample flag', async () => {
    const result = await createBatchRunnerBinding()(job(['resample', '--days', 'seven'], { FIBBARS_LAKE: scratch }), new AbortController().signal);
    expect(result.exitCode).toBe(2);
  });
});

describe('the batch-runner binding, process contract', () => {
  it('runs `node <bundle> <Command...>` in a fresh working directory with the job Environment, not the engine environment', async () => {
    const script = path.join(scratch, 'print-env.mjs');
    await writeFile(
      script,
      'console.log("log line");\nconsole.log(JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), env: process.env }));\n',
    );
    process.env.FIBBARS_SHOULD_NOT_LEAK = 'x';
    try {
      const result = await createBatchRunnerBinding({ bundle: script, extraEnv: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1' } })(
        job(['resample', '--days', '5'], { FIBBARS_LAKE: '/lake', FIBBARS_RUN_ID: 'run-7' }),
        new AbortController().signal,
      );
      const report = result.report as { argv: string[]; cwd: string; env: Record<string, string> };
      expect(result.exitCode).toBe(0);
      expect(report.argv).toEqual(['resample', '--days', '5']);
      expect(report.env).toMatchObject({
        FIBBARS_LAKE: '/lake',
        FIBBARS_RUN_ID: 'run-7',
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1',
        AWS_BATCH_JOB_ID: 'job-1',
        AWS_BATCH_JQ_NAME: 'fibbars-local',
        AWS_BATCH_JOB_ATTEMPT: '1',
      });
      expect(report.env.FIBBARS_SHOULD_NOT_LEAK).toBeUndefined();
      expect(report.env.NODE_OPTIONS).toBeUndefined();
      expect(path.basename(report.cwd)).toMatch(/^fibbars-job-/);
      expect(existsSync(report.cwd)).toBe(false);
    } finally {
      delete process.env.FIBBARS_SHOULD_NOT_LEAK;
    }
  });

  it('reports the exit code and the end of stderr of a failed job, and the attempt it was', async () => {
    const script = path.join(scratch, 'exit3.mjs');
    await writeFile(script, 'console.error("attempt " + process.env.AWS_BATCH_JOB_ATTEMPT + ": quality gate said no"); process.exit(3);\n');
    const result = await createBatchRunnerBinding({ bundle: script })(job(['consolidate'], {}, 2), new AbortController().signal);
    expect(result).toEqual({ exitCode: 3, logTail: ['attempt 2: quality gate said no'] });
  });

  it('reports a crash as exit code 1', async () => {
    const result = await createBatchRunnerBinding({ bundle: path.join(scratch, 'missing.mjs') })(job(['consolidate'], {}), new AbortController().signal);
    expect(result.exitCode).toBe(1);
    expect(result.logTail?.join('\n')).toMatch(/Cannot find module/);
  });

  it('reports a process killed by a signal as 128 + the signal number, as Docker does', async () => {
    const script = path.join(scratch, 'kill9.mjs');
    await writeFile(script, 'process.kill(process.pid, "SIGKILL");\n');
    const result = await createBatchRunnerBinding({ bundle: script })(job(['consolidate'], {}), new AbortController().signal);
    expect(result).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
  });

  it('terminates the job when the execution stops it', async () => {
    const script = path.join(scratch, 'forever.mjs');
    await writeFile(script, 'setInterval(() => {}, 1000);\n');
    const stop = new AbortController();
    const run = createBatchRunnerBinding({ bundle: script })(job(['consolidate'], {}), stop.signal);
    setTimeout(() => stop.abort(), 200);
    await expect(run).resolves.toMatchObject({ exitCode: 143, signal: 'SIGTERM' });
  });
});
