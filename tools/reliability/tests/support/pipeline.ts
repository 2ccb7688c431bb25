/**
 * Runs the real local pipeline (the golden definition on aws-local-stepfunctions,
 * the fetcher handlers in process, the batch-runner bundle as child processes)
 * and captures everything it says: fetcher log lines, the Batch jobs' stderr
 * and environments, alerts.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  batchRunnerBundlePath,
  createBatchRunnerBinding,
  runLocalPipeline,
  type Alert,
  type BatchJob,
  type PipelineRunRecord,
  type RunLocalPipelineOptions,
} from '@fibbars/asl-definition/local';

export interface CapturedRun {
  record: PipelineRunRecord;
  logs: string[];
  jobStderr: string[];
  jobEnvs: Record<string, string>[];
  alerts: Alert[];
}

export function requireBundle(): string {
  const bundle = batchRunnerBundlePath();
  if (!existsSync(bundle)) {
    throw new Error(`batch-runner bundle missing at ${bundle}: run \`pnpm nx run batch-runner:bundle\` (the reliability:test target does it)`);
  }
  return bundle;
}

export async function runPipeline(options: RunLocalPipelineOptions): Promise<CapturedRun> {
  const logs: string[] = [];
  const jobStderr: string[] = [];
  const jobEnvs: Record<string, string>[] = [];
  const alerts: Alert[] = [];
  const line = (level: string) => (message: string, extra?: Record<string, unknown>) => void logs.push(JSON.stringify({ level, message, ...extra }));
  const real = createBatchRunnerBinding({
    ...(options.batchEnv ? { extraEnv: options.batchEnv } : {}),
    onStderr: (_job: BatchJob, l: string) => void jobStderr.push(l),
  });
  const record = await runLocalPipeline({
    retryWaitScale: 0.001,
    logger: { info: line('info'), warn: line('warn'), error: line('error') },
    ...options,
    bindings: {
      batch: (job, signal) => {
        jobEnvs.push({ ...job.environment });
        return real(job, signal);
      },
      alert: (a) => void alerts.push(a),
      ...options.bindings,
    },
  });
  return { record, logs, jobStderr, jobEnvs, alerts };
}

/** A temp folder, removed by `cleanup`. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `fibbars-rel-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every file under a folder (relative path -> size and mtime), to prove nothing was written. */
export async function listTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    const s = await stat(full);
    out[path.relative(root, full)] = `${s.size}:${s.mtimeMs}`;
  }
  return out;
}

/** Every file under a folder with its bytes. */
export async function readTree(root: string): Promise<{ file: string; bytes: Buffer }[]> {
  const files = Object.keys(await listTree(root));
  return Promise.all(files.map(async (file) => ({ file, bytes: await readFile(path.join(root, file)) })));
}
