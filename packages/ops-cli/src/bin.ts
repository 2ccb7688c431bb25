#!/usr/bin/env node
import { main } from './cli.js';

// A reader that stops early (`fibbars gaps | head -3`) closes the pipe: that
// ends the command quietly with exit 0, as it does for other Unix tools.
// Commits are atomic, so stopping mid-command leaves the lake as it was.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
process.exitCode = code;
