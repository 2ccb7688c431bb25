// Whole `fibbars` commands killed: `fibbars backfill` on a fresh lake and
// `fibbars run` on a backfilled one, each started as the built CLI
// (packages/ops-cli/dist/bin.js) in its own process group and SIGKILLed, group
// and all (the local engine's batch-runner children too), at points drawn from
// a seeded generator over the duration of an uninterrupted run. The same
// command is then re-run to completion, and the lake must equal the
// uninterrupted run's dataset by dataset: the same datasets exist, and every
// one holds the same rows. Run records and commit counts may differ. The seed
// (FIBBARS_RELIABILITY_SEED, else RELIABILITY_SEED, else a fresh random one;
// printed and in the test names) fixes each kill point as a fraction of the
// measured duration; the CLI reads the real clock only to refuse dates after
// the latest closed session, and every date here is given explicitly and long
// past.
//
// One window is too narrow for a random kill to hit in a few tries (a few
// milliseconds of a ten-second command): `run` fetches its catch-up sessions 4
// at a time, so a kill can leave a later session fetched and an earlier one
// not. For that one the lake such a kill leaves is built from the reference
// run's own raw fetches, and the re-run must repair it the same way. (The
// other one, a backfill killed between its last session and its ticker
// snapshot, is gone: the snapshot now comes first, which ops-cli's
// tests/unit/fetch-sessions.test.ts pins.)
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openLake } from '@fibbars/ohlcv-core';
import { mulberry32, seedFromEnv } from '@fibbars/testing/random';
import { missingCommittedFiles, rowsDifference, rowsOf, tally, type Row } from '../support/frames.js';
import { requireBundle, tempDir } from '../support/pipeline.js';
import { copyLake, ledger } from '../support/scenario.js';

const GROUP = 'crashes (SIGKILL)';
const SEED = seedFromEnv(['FIBBARS_RELIABILITY_SEED', 'RELIABILITY_SEED']);
// Modest for CI time; RELIABILITY_KILLS sets both counts for a soak run.
const BACKFILL_KILLS = Number(process.env.RELIABILITY_KILLS ?? 6);
const RUN_KILLS = Number(process.env.RELIABILITY_KILLS ?? 4);
for (const [name, n] of [['kills', BACKFILL_KILLS], ['kills', RUN_KILLS]] as const) {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${String(n)}`);
}

// Synthetic market seed 2 with 30 tickers: a split on 2026-07-21 inside the
// backfill and one on 2026-08-11, the run's own session.
const MARKET = ['--source', 'synthetic', '--seed', '2', '--synthetic-tickers', '30'];
const FROM = '2026-06-15';
const TO = '2026-07-31';
const RUN_DATE = '2026-08-11';
/** The sessions `run` catches up before its own (the lake was backfilled to TO). */
const CATCH_UP = ['2026-08-03', '2026-08-04', '2026-08-05', '2026-08-06', '2026-08-07', '2026-08-10'];
const BACKFILL = ['backfill', '--from', FROM, '--to', TO, ...MARKET];
const RUN = ['run', '--date', RUN_DATE, ...MARKET];
/** What an uninterrupted run leaves: the five consolidated datasets and the six default intervals. */
const DATASETS = ['dividends', 'ohlcv_13d', 'ohlcv_1d', 'ohlcv_21d', 'ohlcv_34d', 'ohlcv_3d', 'ohlcv_5d', 'ohlcv_8d', 'splits', 'ticker_history', 'tickers'];

const opsCliDir = path.dirname(createRequire(import.meta.url).resolve('@fibbars/ops-cli/package.json'));
const CLI = path.join(opsCliDir, (JSON.parse(readFileSync(path.join(opsCliDir, 'package.json'), 'utf8')) as { bin: { fibbars: string } }).bin.fibbars);
// No POLYGON_API_KEY and nothing else from the test's environment (NODE_OPTIONS included).
const CLI_ENV = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TMPDIR: process.env.TMPDIR ?? '/tmp', FIBBARS_DEBUG: '1' };

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from spawn to exit. */
  ms: number;
  stdout: string;
  stderr: string;
}

interface Started {
  pid: number;
  exited: Promise<void>;
  done: Promise<Outcome>;
  running: () => boolean;
}

/** The CLI in a process group of its own, so one signal reaches the batch-runner children too. */
function start(argv: readonly string[], lake: string): Started {
  const began = performance.now();
  const child = spawn(process.execPath, [CLI, ...argv, '--lake', lake], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: CLI_ENV });
  if (child.pid === undefined) throw new Error(`could not start ${CLI}`);
  let stdout = '';
  let stderr = '';
  let ms = 0;
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => ((ms = Math.round(performance.now() - began)), resolve())));
  const done = new Promise<Outcome>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, ms, stdout, stderr }));
  });
  return { pid: child.pid, exited, done, running: () => child.exitCode === null && child.signalCode === null };
}

/** Members of process group `pgid` that are still alive (zombies waiting for a reaper do not count). */
function groupSurvivors(pgid: number): number[] {
  if (!existsSync('/proc/self/stat')) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const alive: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') alive.push(Number(entry));
  }
  return alive;
}

async function runToEnd(argv: readonly string[], lake: string): Promise<Outcome> {
  const outcome = await start(argv, lake).done;
  if (outcome.code !== 0) {
    throw new Error(`fibbars ${argv.join(' ')} exited ${String(outcome.code ?? outcome.signal)}:\n${outcome.stderr}\n${outcome.stdout}`);
  }
  return outcome;
}

interface Kill {
  delayMs: number;
  /** The command was still running when the group got SIGKILL, and died of it. */
  landed: boolean;
  outcome: Outcome;
}

/** Starts the command and SIGKILLs its whole process group `delayMs` later, unless it has exited by then. */
async function killAfter(argv: readonly string[], lake: string, delayMs: number): Promise<Kill> {
  const run = start(argv, lake);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const finishedFirst = await Promise.race([run.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), delayMs)))]);
  clearTimeout(timer);
  let sent = false;
  if (!finishedFirst && run.running()) {
    try {
      process.kill(-run.pid, 'SIGKILL');
      sent = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error; // exited between the check and the kill
    }
  }
  const outcome = await run.done;
  // Nothing of the killed command may still be writing when the re-run starts.
  for (let i = 0; i < 40 && groupSurvivors(run.pid).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(groupSurvivors(run.pid)).toEqual([]);
  const landed = sent && outcome.signal === 'SIGKILL';
  if (!landed) expect(outcome).toMatchObject({ code: 0, signal: null }); // it finished first: a complete run
  return { delayMs, landed, outcome };
}

/** `n` kill points spread over `[0, 0.9 * ms]`: one drawn uniformly in each of `n` equal slots. */
function schedule(random: () => number, n: number, ms: number): number[] {
  const span = 0.9 * ms;
  return Array.from({ length: n }, (_, i) => Math.round((span * (i + random())) / n));
}

// ---------------------------------------------------------------------------
// Lakes compared dataset by dataset
// ---------------------------------------------------------------------------

interface LakeState {
  /** Datasets with at least one committed version. */
  datasets: string[];
  rows: Record<string, Row[]>;
}

function keyOf(dataset: string): string[] {
  if (dataset === 'ohlcv_1d') return ['ticker', 'date'];
  if (dataset === 'splits') return ['ticker', 'execution_date'];
  if (dataset === 'tickers') return ['ticker'];
  return ['ticker', 'start_date'];
}

function sortRows(rows: Row[], key: readonly string[]): Row[] {
  const sortKey = (r: Row) => JSON.stringify([...key.map((k) => r[k]), r]);
  return rows.map((r) => [sortKey(r), r] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

async function readLake(dir: string): Promise<LakeState> {
  const lake = openLake(dir);
  const datasets = await lake.datasets();
  const rows: Record<string, Row[]> = {};
  for (const d of datasets) rows[d] = sortRows(rowsOf(await lake.read(d)), keyOf(d));
  return { datasets, rows };
}

/** Every way `actual` differs from `expected`, one line each: missing or extra datasets, keys lost or added, values. */
function lakeDifferences(actual: LakeState, expected: LakeState): string[] {
  const out: string[] = [];
  const missing = expected.datasets.filter((d) => !actual.datasets.includes(d));
  const extra = actual.datasets.filter((d) => !expected.datasets.includes(d));
  if (missing.length > 0) out.push(`datasets missing: ${missing.join(', ')}`);
  if (extra.length > 0) out.push(`datasets not in the reference: ${extra.join(', ')}`);
  for (const d of expected.datasets.filter((name) => actual.datasets.includes(name))) {
    const a = actual.rows[d] ?? [];
    const e = expected.rows[d] ?? [];
    const key = keyOf(d);
    const k = (r: Row) => key.map((c) => String(r[c])).join('|');
    const have = new Set(a.map(k));
    const want = new Set(e.map(k));
    const lost = [...want].filter((x) => !have.has(x));
    const added = [...have].filter((x) => !want.has(x));
    if (lost.length > 0) out.push(`${d}: ${lost.length} of ${e.length} rows missing (${key.join(', ')}: ${lost.slice(0, 5).join('; ')}${lost.length > 5 ? '; ...' : ''})`);
    if (added.length > 0) out.push(`${d}: ${added.length} rows not in the reference (${added.slice(0, 5).join('; ')}${added.length > 5 ? '; ...' : ''})`);
    const values = rowsDifference(a, e);
    if (lost.length === 0 && added.length === 0 && values !== null) out.push(`${d}: ${values}`);
  }
  return out;
}

// ---------------------------------------------------------------------------

let work: { dir: string; cleanup: () => Promise<void> };
/** The uninterrupted backfill's lake: the backfill's reference and the run's starting point. */
let backfilled: string;
let backfillRef: { ms: number; state: LakeState };
let runRef: { lake: string; ms: number; state: LakeState };

beforeAll(async () => {
  requireBundle();
  if (!existsSync(CLI)) throw new Error(`the fibbars CLI is not built at ${CLI}: run \`pnpm nx run ops-cli:build\` (the reliability:test target does it)`);
  work = await tempDir('command-kills');

  backfilled = path.join(work.dir, 'backfill-reference');
  const b = await runToEnd(BACKFILL, backfilled);
  backfillRef = { ms: b.ms, state: await readLake(backfilled) };

  const runLake = await copyLake(backfilled, path.join(work.dir, 'run-reference'));
  const r = await runToEnd(RUN, runLake);
  runRef = { lake: runLake, ms: r.ms, state: await readLake(runLake) };

  // The references are worth comparing with: every dataset there and holding rows, the split in each range.
  for (const ref of [backfillRef.state, runRef.state]) {
    expect(ref.datasets).toEqual(DATASETS);
    for (const d of DATASETS) expect((ref.rows[d] ?? []).length).toBeGreaterThan(0);
  }
  const sessions = (s: LakeState) => new Set((s.rows['ohlcv_1d'] ?? []).map((r) => r['date']));
  expect(sessions(backfillRef.state).size).toBe(33);
  expect([...sessions(runRef.state)].filter((d) => !sessions(backfillRef.state).has(d)).sort()).toEqual([...CATCH_UP, RUN_DATE]);
  expect((backfillRef.state.rows['splits'] ?? []).map((r) => r['execution_date'])).toContain('2026-07-21');
  expect((runRef.state.rows['splits'] ?? []).map((r) => r['execution_date'])).toContain(RUN_DATE);
  console.log(`command kills: seed ${SEED}; uninterrupted backfill ${b.ms} ms, run ${r.ms} ms (${CLI})`);
}, 120_000);

afterAll(async () => {
  await work?.cleanup();
});

/**
 * `kills` times: a fresh copy of `from` (or an empty lake), the command killed
 * at a drawn point, then re-run to the end; the lake must equal `reference`.
 */
async function killLoop(
  name: string,
  argv: readonly string[],
  from: string | null,
  reference: { ms: number; state: LakeState },
  kills: number,
  random: () => number,
): Promise<Kill[]> {
  const delays = schedule(random, kills, reference.ms);
  console.log(`${name}: kills at ${delays.join(', ')} ms of an uninterrupted ${reference.ms} ms (seed ${SEED})`);
  const results: Kill[] = [];
  for (const [i, delayMs] of delays.entries()) {
    const lake = path.join(work.dir, `${name}-${i + 1}`);
    if (from !== null) await copyLake(from, lake);
    const kill = await killAfter(argv, lake, delayMs);
    // What the kill left is readable: every file a commit lists exists.
    expect(await missingCommittedFiles(openLake(lake))).toEqual([]);
    const rerun = await runToEnd(argv, lake);
    const state = await readLake(lake);
    const differences = lakeDifferences(state, reference.state);
    console.log(
      `${name} kill ${i + 1}/${kills} at ${delayMs} ms: ${kill.landed ? 'landed (SIGKILL while running)' : `not landed (exited ${String(kill.outcome.code)} at ${kill.outcome.ms} ms)`}; ` +
        `re-run ${rerun.ms} ms; ${differences.length === 0 ? `${state.datasets.length} datasets equal the reference` : differences.join(' | ')}`,
    );
    expect({ kill: i + 1, delayMs, differences }).toEqual({ kill: i + 1, delayMs, differences: [] });
    const t = tally(state.rows['ohlcv_1d'] ?? [], reference.state.rows['ohlcv_1d'] ?? []);
    ledger(GROUP, `fibbars ${name}, kill ${i + 1} at ${delayMs} ms of ${reference.ms} ms`, t, kill.landed ? 1 : 0, 2, 'data');
    results.push(kill);
    await rm(lake, { recursive: true, force: true });
  }
  return results;
}

describe(`fibbars commands SIGKILLed at seeded points (seed ${SEED}; FIBBARS_RELIABILITY_SEED to replay)`, () => {
  it(`backfill killed ${BACKFILL_KILLS} times, each re-run equals the uninterrupted backfill`, async () => {
    const kills = await killLoop('backfill', BACKFILL, null, backfillRef, BACKFILL_KILLS, mulberry32(SEED));
    // Asserted, not hoped for: the kills really cut the command short.
    expect(kills.filter((k) => k.landed).length).toBeGreaterThanOrEqual(1);
  }, 240_000);

  it(`run on a backfilled lake killed ${RUN_KILLS} times, each re-run equals the uninterrupted run`, async () => {
    const kills = await killLoop('run', RUN, backfilled, runRef, RUN_KILLS, mulberry32(SEED + 1));
    expect(kills.filter((k) => k.landed).length).toBeGreaterThanOrEqual(1);
  }, 240_000);
});

/** Copies the raw fetches of `sessions` (kind `kind`) from one lake's raw zone to another's. */
async function copyRaw(from: string, to: string, kind: string, sessions: readonly string[]): Promise<void> {
  for (const s of sessions) {
    const src = path.join(from, 'raw', kind, `date=${s}`);
    expect((await readdir(src)).some((f) => f.endsWith('.meta.json'))).toBe(true);
    await mkdir(path.join(to, 'raw', kind), { recursive: true });
    await cp(src, path.join(to, 'raw', kind, `date=${s}`), { recursive: true });
  }
}

describe('a window a random kill rarely hits: the lake a kill there leaves, then the re-run', () => {
  it('run killed during its catch-up, a later session fetched before an earlier one (4 fetches in flight)', async () => {
    // The backfilled lake plus the catch-up's splits (one range listing, written first, under
    // its last session), and the daily bars of three of its sessions: 2026-08-06's fetch
    // finished, 2026-08-05's had not.
    const lake = await copyLake(backfilled, path.join(work.dir, 'run-catch-up-out-of-order'));
    await copyRaw(runRef.lake, lake, 'splits', [CATCH_UP.at(-1)!]);
    await copyRaw(runRef.lake, lake, 'ohlcv', ['2026-08-03', '2026-08-04', '2026-08-06']);
    await runToEnd(RUN, lake);
    const state = await readLake(lake);
    expect(lakeDifferences(state, runRef.state)).toEqual([]);
    ledger(GROUP, 'fibbars run, killed mid catch-up with fetches finished out of order', tally(state.rows['ohlcv_1d'] ?? [], runRef.state.rows['ohlcv_1d'] ?? []), 1, 1, 'data');
  }, 90_000);
});
