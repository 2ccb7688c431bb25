#!/usr/bin/env node
// The README's quick start, as the one source of truth for what CI runs.
//
//   node tools/scripts/quickstart.mjs command N    print command N (1 or 2) of README.md's "Quick start"
//   node tools/scripts/quickstart.mjs verify LAKE  check what command 1 must leave: a committed
//                                                  ohlcv_34d version and a SUCCEEDED run record
//
// `.ci/run` runs the printed commands literally, in order, and the workspace
// test checks that the quick start holds exactly the two commands this
// script finds, so the README cannot drift from what CI executes.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The command lines of the first shell block under the `## Quick start` heading. */
export function quickStartCommands(readme) {
  const section = readme.split(/^## Quick start/m)[1];
  if (section === undefined) throw new Error('README.md has no "## Quick start" section');
  // The info string may carry attributes after the language (```sh not-run: ..., tools/scripts/README.md).
  const block = /```(?:sh|bash)?(?:[ \t][^\n]*)?\n([\s\S]*?)```/.exec(section.split(/^## /m)[0] ?? '')?.[1];
  if (block === undefined) throw new Error('README.md\'s "Quick start" has no ```sh block');
  return block
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Problems with the lake that command 1 leaves (empty when it is as promised). */
export function verifyQuickStartLake(lake) {
  const problems = [];
  const commits = path.join(lake, '_commits', 'ohlcv_34d');
  const versions = fs.existsSync(commits) ? fs.readdirSync(commits).filter((f) => /^\d{20}\.json$/.test(f)) : [];
  if (versions.length === 0) problems.push(`${commits} holds no committed version`);
  const runsDir = path.join(lake, '_runs');
  const runs = fs.existsSync(runsDir) ? fs.readdirSync(runsDir).filter((f) => f.endsWith('.json')) : [];
  const statuses = runs.map((f) => JSON.parse(fs.readFileSync(path.join(runsDir, f), 'utf8')).status);
  if (!statuses.includes('SUCCEEDED')) problems.push(`${runsDir} holds no run record with status SUCCEEDED (found: ${statuses.join(', ') || 'none'})`);
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [verb, arg] = process.argv.slice(2);
  if (verb === 'command') {
    const commands = quickStartCommands(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    const n = Number(arg);
    if (commands.length !== 2) {
      console.error(`quickstart: README.md's quick start holds ${commands.length} commands, expected 2`);
      process.exit(2);
    }
    if (n !== 1 && n !== 2) {
      console.error(`quickstart: command number must be 1 or 2, got ${String(arg)}`);
      process.exit(2);
    }
    console.log(commands[n - 1]);
  } else if (verb === 'verify' && arg) {
    const problems = verifyQuickStartLake(path.resolve(arg));
    for (const p of problems) console.error(`quickstart: ${p}`);
    if (problems.length > 0) process.exit(1);
    console.log(`quickstart: ${arg} has a committed ohlcv_34d version and a SUCCEEDED run record`);
  } else {
    console.error('usage: quickstart.mjs command 1|2 | verify LAKE');
    process.exit(2);
  }
}
