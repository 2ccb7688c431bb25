#!/usr/bin/env node
// The executable: `batch-runner consolidate`, `batch-runner resample --days N`.
import { main } from './main.js';

const code = await main(process.argv.slice(2), process.env);
process.exitCode = code;
// A lingering handle (an idle HTTP keep-alive socket, a native thread pool)
// must not keep a finished Batch job alive; the timer itself holds nothing.
setTimeout(() => process.exit(code), 2_000).unref();
