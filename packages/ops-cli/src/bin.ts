#!/usr/bin/env node
// The AWS SDK prints a nine-line NodeVersionSupportWarning on Node < 22 on its
// first call; it says nothing about the command and buries its one-line
// answer. The SDK's documented switch turns it off (`fibbars doctor` still
// checks the Node version). Set before the SDK loads, which cli.js imports.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('./cli.js');

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
