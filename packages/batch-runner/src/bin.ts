#!/usr/bin/env node
// The executable: `batch-runner consolidate`, `batch-runner resample --days N`.
import { EXIT_CODES } from './errors.js';
import { createLogger } from './log.js';
import { main } from './main.js';

// AWS Batch stops a job that times out or is cancelled with SIGTERM (and
// SIGKILL 30 s later). Say so in the error line the run record keeps; the
// lake needs no cleanup, since nothing uncommitted is ever visible.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    createLogger(process.stdout, process.stderr).error('Terminated', `received ${signal} before the job finished; nothing was committed by the unfinished step`);
    process.exit(EXIT_CODES.failure);
  });
}

const code = await main(process.argv.slice(2), process.env);
process.exitCode = code;
// A lingering handle (an idle HTTP keep-alive socket, a native thread pool)
// must not keep a finished Batch job alive; the timer itself holds nothing.
setTimeout(() => process.exit(code), 2_000).unref();
