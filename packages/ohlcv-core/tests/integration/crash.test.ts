import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { cp } from 'node:fs/promises';
import * as path from 'node:path';
import { mulberry32, seedFromEnv } from '@fibbars/testing/random';
import { consolidateLake } from '../../src/jobs.js';
import { openLake, type Lake } from '../../src/lake.js';
import { buildChild } from '../helpers/build-child.js';
import { framesEqual, missingCommittedFiles, snapshot } from '../helpers/lake-checks.js';
import { bar, writeOhlcv, writeSplits, writeTickers } from '../helpers/raw.js';
import { tempDir } from '../helpers/temp.js';

const KILLS = 20;
const KILLS_PER_ROUND = 5;
const DATASETS = ['ohlcv_1d', 'splits', 'tickers'] as const;
const TICKERS = Array.from({ length: 150 }, (_, i) => `C${String(i).padStart(4, '0')}`);
const bars = (k: number) => TICKERS.map((t, i) => bar(t, 20 + i / 7 + k / 3, 5000 + i * k));

let work: { dir: string; cleanup: () => Promise<void> };
let child: string;
let base: string;
let before: Awaited<ReturnType<typeof snapshot>>;
let after: Awaited<ReturnType<typeof snapshot>>;
let childMs = 0;

/** Runs the child; `killAfterMs` counts from the moment its modules are loaded and the job starts. */
function runChild(lakeDir: string, killAfterMs?: number): Promise<{ code: number | null; signal: string | null; ms: number }> {
  return new Promise((resolve, reject) => {
    let started = Date.now();
    const proc = spawn(process.execPath, [child, lakeDir, 'crash-run'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let timer: ReturnType<typeof setTimeout> | undefined;
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      if (!d.toString().includes('start')) return;
      started = Date.now();
      if (killAfterMs !== undefined) timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code !== 0 && signal === null) reject(new Error(`child failed (${code}): ${stderr}`));
      else resolve({ code, signal, ms: Date.now() - started });
    });
  });
}

async function copyOf(name: string): Promise<Lake> {
  const dir = path.join(work.dir, name);
  await cp(base, dir, { recursive: true });
  return openLake(dir);
}

beforeAll(async () => {
  work = await tempDir('fibbars-crash');
  child = await buildChild('tests/helpers/crash-child.ts', 'crash-child');
  // Base lake: four consolidated sessions, then pending raw fetches across a year
  // boundary, a refetch of an old session, a split and a ticker snapshot.
  base = path.join(work.dir, 'base');
  const lake = openLake(base);
  const first = ['2023-12-21', '2023-12-22', '2023-12-26', '2023-12-27'];
  for (const [i, s] of first.entries()) await writeOhlcv(lake.raw, s, bars(i));
  await consolidateLake(lake, { runId: 'base' });
  const more = ['2023-12-28', '2023-12-29', '2024-01-02', '2024-01-03', '2024-01-04'];
  for (const [i, s] of more.entries()) await writeOhlcv(lake.raw, s, [...bars(10 + i), { ...bar('ZBAD', 3), l: 5 }]);
  await writeOhlcv(lake.raw, '2023-12-22', bars(99));
  await writeSplits(lake.raw, '2024-01-03', [{ ticker: 'C0001', execution_date: '2024-01-03', split_from: 1, split_to: 2 }]);
  await writeTickers(lake.raw, '2024-01-04', TICKERS.map((t) => ({ ticker: t, name: `Company ${t}`, active: true })));
  before = await snapshot(lake, DATASETS);

  const reference = await copyOf('reference');
  await consolidateLake(reference, { runId: 'reference' });
  after = await snapshot(reference, DATASETS);

  // One uninterrupted child run: it works, and it tells how long a run takes.
  const timed = await copyOf('timed');
  childMs = (await runChild(timed.store.uri)).ms;
  const done = await snapshot(timed, DATASETS);
  for (const d of [...DATASETS, 'quarantine']) expect(framesEqual(done[d], after[d])).toBe(true);
}, 120_000);

afterAll(async () => {
  await work?.cleanup();
});

describe('a consolidation killed with SIGKILL at random points', () => {
  // A kill is aimed at a random point of the uninterrupted run's duration, so some
  // children finish before it lands (a rerun after a partial commit has less to do).
  // Children keep coming until KILLS kills have landed, at most MAX_CHILDREN of them,
  // so how many landed never depends on the machine's load; every finished child is
  // checked too, as a rerun that completes the work. The kill window follows the load:
  // a child that finishes on a fresh lake resets it to that child's duration, so a run
  // timed while the machine was busy does not aim later kills past the end of quick runs.
  const MAX_CHILDREN = KILLS * 3;
  // The kill points come from a seeded PRNG: FIBBARS_CRASH_SEED replays a run (the seed is printed).
  const seed = seedFromEnv('FIBBARS_CRASH_SEED');
  const random = mulberry32(seed);
  it(`leaves every dataset at its last good version after each of ${KILLS} kills, and a rerun completes it (seed ${seed})`, async () => {
    console.log(`crash test seed ${seed}: FIBBARS_CRASH_SEED=${seed} replays these kill points`);
    const outcomes = { killed: 0, finished: 0, partial: 0 };
    let lake = await copyOf('kill-0');
    let killsOnLake = 0;
    let window = childMs * 1.1;
    for (let i = 0; outcomes.killed < KILLS && i < MAX_CHILDREN; i += 1) {
      // Up to KILLS_PER_ROUND kills on one lake: each later child is the rerun of the killed one.
      const delay = Math.floor(random() * window);
      const result = await runChild(lake.store.uri, delay);
      const killed = result.signal === 'SIGKILL';
      if (killed) outcomes.killed += 1;
      else outcomes.finished += 1;
      if (!killed && killsOnLake === 0) window = result.ms * 1.1;

      expect(await missingCommittedFiles(lake)).toEqual([]);
      const seen = await snapshot(lake, DATASETS);
      let datasetsDone = 0;
      for (const d of DATASETS) {
        const isBefore = framesEqual(seen[d], before[d]);
        const isAfter = framesEqual(seen[d], after[d]);
        expect({ dataset: d, kill: i, delay, readsAsAVersion: isBefore || isAfter }).toEqual({ dataset: d, kill: i, delay, readsAsAVersion: true });
        if (isAfter && !isBefore) datasetsDone += 1;
      }
      // The quarantine belongs to ohlcv_1d's version.
      const dailyDone = framesEqual(seen['ohlcv_1d'], after['ohlcv_1d']);
      expect(framesEqual(seen['quarantine'], dailyDone ? after['quarantine'] : before['quarantine'])).toBe(true);
      if (datasetsDone > 0 && datasetsDone < DATASETS.length) outcomes.partial += 1;

      killsOnLake += killed ? 1 : 0;
      const last = outcomes.killed === KILLS || i === MAX_CHILDREN - 1;
      if (!killed || killsOnLake === KILLS_PER_ROUND || last) {
        if (killed) await consolidateLake(lake, { runId: `rerun-${i}` });
        const repaired = await snapshot(lake, DATASETS);
        for (const d of [...DATASETS, 'quarantine']) expect({ d, kill: i, equal: framesEqual(repaired[d], after[d]) }).toEqual({ d, kill: i, equal: true });
        expect((await consolidateLake(lake, { runId: `again-${i}` })).status).toBe('no-change');
        expect(await missingCommittedFiles(lake)).toEqual([]);
        lake = await copyOf(`kill-${i + 1}`);
        killsOnLake = 0;
      }
    }
    process.stdout.write(`crash test: ${JSON.stringify(outcomes)}, uninterrupted job ${childMs} ms after start-up\n`);
    expect(outcomes.killed).toBe(KILLS);
    // Kills that land between two dataset commits are the ones that test the protocol.
    expect(outcomes.partial).toBeGreaterThan(0);
  }, 600_000);
});
