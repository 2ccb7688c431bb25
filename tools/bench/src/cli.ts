// `pnpm bench [--tickers N] [--years N] [--seed N] ...`: generates (or reuses)
// a synthetic history, measures fibbars and DuckDB on the same files, checks
// their results equal, prints a table and, as the last line, one JSON object.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { DuckDBConnection } from '@duckdb/node-api';
import pl from 'nodejs-polars';
import type { Dataset } from '@fibbars/ohlcv-core';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { openLake, resampleLake } from './core.js';
import { INTERVALS, compareBars, openDuck, sqlList, sqlString, type Comparison } from './duckdb.js';
import { ensureDaily, tickerName, validateScale, type DailyManifest, type Scale } from './generate.js';
import { prepareDuckState } from './increment.js';
import { measure, type MeasureOptions, type Measurement } from './measure.js';
import { writeRawSessions } from './raw.js';
import { formatTable } from './report.js';

export const USAGE = `usage: pnpm bench [options]
  --tickers N       tickers in the synthetic history (default 1000)
  --years N         years of history, ending 2025-12-31 (default 5)
  --seed N          generator seed (default 1)
  --runs N          timed runs per measurement, the median is reported (default 3)
  --warmup N        untimed runs before them (default 1)
  --raw-tickers N   tickers in the raw zone for the consolidation measurement (default: --tickers)
  --raw-sessions N  latest sessions in that raw zone (default 252, about a year)
  --only LIST       measurements to run: rebuild,lake,partitions,consolidate,increment (default all;
                    DuckDB's rebuild runs whenever one of them needs it)
                      rebuild      resample() x6 on the history in memory
                      lake         the production full build: batch-runner resample as a process
                      partitions   the same build by --partitions ticker partitions: one
                                   resample --partition i/P process each, then commit-partitions
                      consolidate  batch-runner's consolidation of a raw zone, in-process
                      increment    a daily run as the container runs it (consolidate + resample
                                   processes) with splits and a corrected earlier session
  --partitions N    ticker partitions of the partitions measurement (default 4)
  --duckdb-threads N  DuckDB threads (default 2, the cores of the reference machine)
  --data-dir DIR    cache of generated data (default .bench-data at the repo root)
  --help            this text`;

export interface BenchOptions {
  scale: Scale;
  runs: number;
  warmup: number;
  rawTickers: number;
  rawSessions: number;
  only: Set<string>;
  partitions: number;
  duckThreads: number;
  dataDir: string;
}

const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const MEASUREMENTS = ['rebuild', 'lake', 'partitions', 'consolidate', 'increment'];
/** The production job, as the container runs it. */
const BUNDLE = join(REPO_ROOT, 'packages', 'batch-runner', 'dist', 'bundle', 'main.js');
const RESAMPLE_STEP = ['resample', '--days', INTERVALS.join(',')];
/** Sessions before the increment's session of the session the vendor corrects. */
const CORRECTED_SESSIONS_BACK = 4;

export class UsageError extends Error {
  override name = 'UsageError';
}

function int(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return Number(value);
}

export function parseOptions(argv: string[]): BenchOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        tickers: { type: 'string' },
        years: { type: 'string' },
        seed: { type: 'string' },
        runs: { type: 'string' },
        warmup: { type: 'string' },
        'raw-tickers': { type: 'string' },
        'raw-sessions': { type: 'string' },
        only: { type: 'string' },
        'duckdb-threads': { type: 'string' },
        partitions: { type: 'string' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const scale: Scale = { tickers: int('tickers', v.tickers, 1000, 1), years: int('years', v.years, 5, 1), seed: int('seed', v.seed, 1, 0) };
  try {
    validateScale(scale);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const only = new Set((v.only ?? MEASUREMENTS.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
  for (const m of only) if (!MEASUREMENTS.includes(m)) throw new UsageError(`--only: unknown measurement ${JSON.stringify(m)} (expected ${MEASUREMENTS.join(', ')})`);
  const rawTickers = int('raw-tickers', v['raw-tickers'], scale.tickers, 1);
  const rawSessions = int('raw-sessions', v['raw-sessions'], 252, 1);
  if (rawTickers > scale.tickers) throw new UsageError('--raw-tickers cannot exceed --tickers');
  return {
    scale,
    runs: int('runs', v.runs, 3, 1),
    warmup: int('warmup', v.warmup, 1, 0),
    rawTickers,
    rawSessions,
    only,
    partitions: int('partitions', v.partitions, 4, 2),
    duckThreads: int('duckdb-threads', v['duckdb-threads'], 2, 1),
    dataDir: resolve(v['data-dir'] ?? join(REPO_ROOT, '.bench-data')),
  };
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/**
 * A fingerprint of ohlcv-core's sources: lakes built by the bench (raw zone,
 * increment base) are reused only while the code that wrote them is unchanged.
 */
function coreFingerprint(): string {
  const src = join(REPO_ROOT, 'packages', 'ohlcv-core', 'src');
  const hash = createHash('sha256');
  if (existsSync(src)) {
    for (const f of readdirSync(src).sort()) hash.update(f).update(readFileSync(join(src, f)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** A working copy of a lake folder: hard links, safe because lake files are never rewritten in place. */
function linkCopy(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  execFileSync('cp', ['-al', from, to]);
}

/** The raw zone for the consolidation measurement: the last `sessions` sessions of the first `tickers` tickers. */
async function ensureRawLake(dir: string, manifest: DailyManifest, tickers: number, sessions: number): Promise<{ lake: string; rows: number }> {
  const name = `raw-${tickers}x${sessions}s`;
  const lake = join(dir, name, 'lake');
  const marker = join(dir, name, 'rows.json');
  const core = coreFingerprint();
  if (existsSync(marker)) {
    const cached = JSON.parse(readFileSync(marker, 'utf8')) as { rows: number; core?: string };
    if (cached.core === core) return { lake, rows: cached.rows };
  }
  log(`writing the raw zone (${tickers} tickers x ${sessions} sessions) for the consolidation measurement`);
  rmSync(join(dir, name), { recursive: true, force: true });
  mkdirSync(lake, { recursive: true });
  const last = nyse.sessionIndex(manifest.lastSession);
  const first = nyse.sessionAt(Math.max(nyse.sessionIndex(manifest.firstSession), last - sessions + 1));
  // Ticker names sort in id order, so the first `tickers` tickers are those below the next name.
  const rows = await pl
    .scanParquet(join(dir, 'daily', '*.parquet'))
    .filter(pl.col('date').gtEq(pl.lit(new Date(`${first}T00:00:00Z`))).and(pl.col('ticker').lt(pl.lit(tickerName(tickers)))))
    .collect();
  await writeRawSessions(lake, rows);
  writeFileSync(marker, `${JSON.stringify({ rows: rows.height, core })}\n`);
  return { lake, rows: rows.height };
}

/** A lake holding the whole history as one committed `ohlcv_1d` version, built once per scale, untimed. */
async function ensureHistoryLake(dir: string, manifest: DailyManifest): Promise<string> {
  const root = join(dir, 'history-lake');
  const lakeDir = join(root, 'lake');
  const marker = join(root, 'ready');
  const core = coreFingerprint();
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === core) return lakeDir;
  log('building the lake that holds the history as one ohlcv_1d version');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(lakeDir, { recursive: true });
  const lake = openLake(lakeDir);
  // A year at a time: at 100 M rows the whole history and its month split do not fit in memory together.
  const scan = pl.scanParquet(join(dir, 'daily', '*.parquet'));
  const firstYear = Number(manifest.firstSession.slice(0, 4));
  const lastYear = Number(manifest.lastSession.slice(0, 4));
  const files = [];
  let rows = 0;
  for (let year = firstYear; year <= lastYear; year += 1) {
    const from = pl.lit(new Date(`${year}-01-01T00:00:00Z`));
    const to = pl.lit(new Date(`${year + 1}-01-01T00:00:00Z`));
    const part = await scan.filter(pl.col('date').gtEq(from).and(pl.col('date').lt(to))).collect();
    rows += part.height;
    // A month per file, as daily consolidations leave the history.
    files.push(...(await lake.writeFiles('ohlcv_1d', part, { monthly: true })));
  }
  if (rows !== manifest.rows) throw new Error(`cached history has ${rows} rows, its manifest says ${manifest.rows}`);
  // The commit bookkeeping consolidateLake keeps (DailyMeta), so its quality gate sees a normal trailing row count.
  const recentRows = (await scan.groupBy('date').len().sort('date').tail(20).collect())
    .select(pl.col('date').cast(pl.Int32), pl.col('len').cast(pl.Float64))
    .rows()
    .map(([d, n]) => [new Date(Number(d) * 86_400_000).toISOString().slice(0, 10), Number(n)]);
  await lake.commit('ohlcv_1d', {
    parent: 0,
    files,
    runId: 'bench-seed',
    meta: { fetches: {}, changedSessions: [], latestSession: manifest.lastSession, recentRows },
  });
  writeFileSync(marker, `${core}\n`);
  return lakeDir;
}

export interface IncrementSetup {
  lake: string;
  /** The corrected earlier session, then the new session, each with its raw fetch file. */
  fetches: Array<{ session: string; rawFile: string }>;
  splits: Array<{ ticker: string; executionDate: string; ratio: number }>;
  correctedRows: number;
}

/** Splits executed on the new session: at least 3 per 10,000 tickers, one of them a reverse split (1-for-4). */
function incrementSplits(tickers: number, session: string): Array<{ ticker: string; execution_date: string; split_from: number; split_to: number }> {
  const n = Math.max(4, Math.ceil((tickers * 4) / 10_000));
  const ratios: Array<[number, number]> = [[1, 2], [2, 3], [4, 1], [1, 5]];
  const ids = [...new Set(Array.from({ length: n }, (_, k) => (7 + k * 2_477) % tickers))];
  return ids.map((id, k) => {
    const [from, to] = ratios[k % ratios.length]!;
    return { ticker: tickerName(id), execution_date: session, split_from: from, split_to: to };
  });
}

/**
 * The lake the daily increment starts from: the history, all six intervals
 * built, and waiting in the raw zone the vendor's correction of an earlier
 * session (1 % of its tickers changed), the new session for every ticker, and
 * the splits executed on it. Built once per scale, untimed.
 */
async function ensureIncrementLake(dir: string, manifest: DailyManifest): Promise<IncrementSetup> {
  const root = join(dir, 'increment-base');
  const lakeDir = join(root, 'lake');
  const marker = join(root, 'setup.json');
  const core = coreFingerprint();
  if (existsSync(marker)) {
    const cached = JSON.parse(readFileSync(marker, 'utf8')) as IncrementSetup & { core: string };
    if (cached.core === core) return cached;
  }
  const history = await ensureHistoryLake(dir, manifest);
  log('building the lake the daily increment starts from (history, six intervals, a correction, a new session, splits)');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  linkCopy(history, lakeDir);
  const lake = openLake(lakeDir);
  await resampleLake(lake, { days: INTERVALS, runId: 'bench-seed' });
  const corrected = nyse.sessionAt(nyse.sessionIndex(manifest.lastSession) - CORRECTED_SESSIONS_BACK);
  const day = pl.lit(new Date(`${corrected}T00:00:00Z`));
  const old = (await pl.scanParquet(join(dir, 'daily', '*.parquet')).filter(pl.col('date').eq(day)).collect()).sort('ticker').withRowIndex('__i');
  // Every 100th ticker's close moves up 1 % (its high follows); the rest is fetched again unchanged.
  const pick = pl.col('__i').modulo(100).eq(0);
  const fixed = old
    .withColumns(pl.when(pick).then(pl.col('close').mul(1.01).round(4)).otherwise(pl.col('close')).alias('close'))
    .withColumns(pl.maxHorizontal([pl.col('high'), pl.col('close')]).alias('high'))
    .drop('__i');
  const correctedRows = Number(old.select(pick.cast(pl.Int32).sum()).row(0)[0]);
  await writeRawSessions(lakeDir, fixed);
  await writeRawSessions(lakeDir, pl.readParquet(join(dir, manifest.incrementFile)));
  const splits = incrementSplits(manifest.scale.tickers, manifest.incrementSession);
  await lake.raw.write('splits', manifest.incrementSession, [JSON.stringify({ status: 'OK', results: splits })], {
    requests: [], rows: splits.length, source: 'synthetic', fetchedAt: new Date(`${manifest.incrementSession}T22:05:00Z`),
  });
  const rawFile = (session: string) => {
    const d = join(lakeDir, 'raw', 'ohlcv', `date=${session}`);
    const gz = readdirSync(d).filter((f) => f.endsWith('.json.gz')).sort().at(-1);
    if (!gz) throw new Error(`no raw fetch for ${session} in ${lakeDir}`);
    return join(d, gz);
  };
  const setup: IncrementSetup = {
    lake: lakeDir,
    fetches: [corrected, manifest.incrementSession].map((session) => ({ session, rawFile: rawFile(session) })),
    splits: splits.map((x) => ({ ticker: x.ticker, executionDate: x.execution_date, ratio: x.split_to / x.split_from })),
    correctedRows,
  };
  writeFileSync(marker, `${JSON.stringify({ ...setup, core })}\n`);
  return setup;
}

/** The Parquet files of a dataset's head, as stored (bars on their end date's split basis). */
async function headFiles(lakeDir: string, dataset: string): Promise<{ paths: string[]; bytes: number }> {
  const head = await openLake(lakeDir).head(dataset);
  return { paths: (head?.files ?? []).map((f) => join(lakeDir, f.path)), bytes: (head?.files ?? []).reduce((n, f) => n + f.bytes, 0) };
}

async function lakeToParquet(lakeDir: string, dataset: Dataset, from: string, out: string): Promise<void> {
  const df = await openLake(lakeDir).read(dataset, { from });
  await df.lazy().sinkParquet(out, { compression: 'zstd', statistics: true, maintainOrder: true }).collect();
}

export interface BenchResult {
  scale: Scale;
  rows: number;
  machine: { cpus: number; totalMemBytes: number; node: string };
  measurements: Record<string, Measurement>;
  ratios: Record<string, number>;
  checks: Record<string, Comparison[]>;
  ok: boolean;
}

/** One bench run: its inputs, its working folder and what it has measured and checked so far. */
interface BenchRun {
  opts: BenchOptions;
  /** The cached history and its manifest. */
  dir: string;
  manifest: DailyManifest;
  /** Scratch space of this run, emptied at its start. */
  work: string;
  dailyFiles: string[];
  /** DuckDB's full build: the reference the other results are checked against. */
  duckOut: string;
  mopts: MeasureOptions;
  m: Record<string, Measurement>;
  checks: Record<string, Comparison[]>;
}

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const run = await startRun(opts);
  if (opts.only.has('lake') || opts.only.has('partitions') || opts.only.has('increment')) {
    if (!existsSync(BUNDLE)) throw new Error(`the batch-runner bundle is missing at ${BUNDLE}: run "pnpm nx run batch-runner:bundle" (pnpm bench builds it)`);
  }
  if (opts.only.has('rebuild')) await measureRebuildOurs(run);
  const historyLake = opts.only.has('lake') || opts.only.has('partitions') ? await ensureHistoryLake(run.dir, run.manifest) : null;
  if (opts.only.has('rebuild') || opts.only.has('lake') || opts.only.has('partitions') || opts.only.has('increment')) await measureRebuildDuckdb(run, historyLake);
  if (historyLake && opts.only.has('lake')) await measureLakeBuild(run, historyLake);
  if (historyLake && opts.only.has('partitions')) await measurePartitionedBuild(run, historyLake);
  await checkFullBuilds(run);
  if (opts.only.has('consolidate')) await measureConsolidate(run);
  if (opts.only.has('increment')) await measureIncrement(run);
  return benchResult(run);
}

/** The history (generated or reused) and an empty working folder. */
async function startRun(opts: BenchOptions): Promise<BenchRun> {
  const { dir, manifest } = await ensureDaily(opts.dataDir, opts.scale, log);
  log(`history: ${manifest.rows} rows, ${opts.scale.tickers} tickers, ${manifest.firstSession}..${manifest.lastSession} (${dir})`);
  const work = join(dir, 'runs');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  return {
    opts,
    dir,
    manifest,
    work,
    dailyFiles: manifest.files.map((f) => join(dir, f)),
    duckOut: join(work, 'rebuild-duckdb'),
    mopts: { runs: opts.runs, warmup: opts.warmup, log },
    m: {},
    checks: {},
  };
}

async function measureRebuildOurs({ dir, manifest, work, mopts, m }: BenchRun): Promise<void> {
  m.rebuildOurs = await measure(
    'resample() x6 in memory, fibbars',
    { kind: 'ours-rebuild', dailyGlob: join(dir, 'daily', '*.parquet'), lastSession: manifest.lastSession, outDir: join(work, 'rebuild-ours') },
    mopts,
  );
}

/** DuckDB is the reference: its bars check ours, and seed its own increment (untimed when only the increment needs it). */
async function measureRebuildDuckdb({ opts, manifest, dailyFiles, duckOut, mopts, m }: BenchRun, historyLake: string | null): Promise<void> {
  // DuckDB's full build reads the files the lake commits (the same bytes the production job reads).
  const duckInput = historyLake ? (await headFiles(historyLake, 'ohlcv_1d')).paths : dailyFiles;
  const reference = opts.only.has('rebuild') || opts.only.has('lake') || opts.only.has('partitions');
  const timed = reference ? mopts : { runs: 1, warmup: 0, log };
  m.rebuildDuckdb = await measure(
    'full build, DuckDB',
    { kind: 'duck-rebuild', dailyFiles: duckInput, lastSession: manifest.lastSession, outDir: duckOut, threads: opts.duckThreads },
    timed,
  );
  if (!reference) delete m.rebuildDuckdb;
}

/**
 * The same full build by P ticker partitions, as the Distributed Map runs it:
 * one `resample --partition i/P` process per partition (one after another
 * here; on AWS each is its own Batch job), then `commit-partitions`. Reported:
 * the sum of the work, each partition's seconds and peak RSS, the fan-in, and
 * the wall time with the partitions side by side (slowest partition + fan-in).
 */
async function measurePartitionedBuild({ opts, manifest, work, mopts, m }: BenchRun, historyLake: string): Promise<void> {
  const runLake = join(work, 'lake-partitioned');
  const P = opts.partitions;
  const steps = [
    ...Array.from({ length: P }, (_, i) => [...RESAMPLE_STEP, '--partition', `${i}/${P}`]),
    ['commit-partitions', '--days', INTERVALS.join(','), '--partitions', String(P)],
  ];
  const task = { kind: 'bundle' as const, bundle: BUNDLE, lake: runLake, steps, runId: 'bench-partitions' };
  m.partitionsOurs = await measure(`full build by ${P} ticker partitions + fan-in (processes)`, task, {
    ...mopts,
    prepare: () => {
      linkCopy(historyLake, runLake);
      return task;
    },
  });
  const jobs = (m.partitionsOurs.detail as { jobs: Array<{ seconds: number; maxRssMiB: number }> }).jobs;
  const workers = jobs.slice(0, P);
  const fanIn = jobs.at(-1)!;
  m.partitionsOurs.rowsIn = manifest.rows;
  m.partitionsOurs.rowsPerSecond = manifest.rows / m.partitionsOurs.seconds;
  m.partitionsOurs.detail = {
    ...(m.partitionsOurs.detail as object),
    partitions: P,
    workerSeconds: workers.map((j) => j.seconds),
    workerPeakRssMiB: workers.map((j) => j.maxRssMiB),
    fanInSeconds: fanIn.seconds,
    sideBySideSeconds: Math.max(...workers.map((j) => j.seconds)) + fanIn.seconds,
  };
}

/** The production full build: batch-runner's resample as a process, on a fresh copy of the history lake each run. */
async function measureLakeBuild({ manifest, work, mopts, m }: BenchRun, historyLake: string): Promise<void> {
  const runLake = join(work, 'lake-build');
  const task = { kind: 'bundle' as const, bundle: BUNDLE, lake: runLake, steps: [RESAMPLE_STEP], runId: 'bench-build' };
  m.lakeOurs = await measure('full build, batch-runner resample (process)', task, {
    ...mopts,
    prepare: () => {
      linkCopy(historyLake, runLake);
      return task;
    },
  });
  m.lakeOurs.rowsIn = manifest.rows;
  m.lakeOurs.rowsPerSecond = manifest.rows / m.lakeOurs.seconds;
}

/** Our full builds (in memory, and the lake's) against DuckDB's, interval by interval. */
async function checkFullBuilds({ manifest, work, duckOut, m, checks }: BenchRun): Promise<void> {
  const { con, close } = await openDuck({ memoryLimit: '8GB' });
  try {
    if (m.rebuildOurs) {
      checks.rebuild = [];
      for (const days of INTERVALS) {
        const f = `ohlcv_${days}d.parquet`;
        checks.rebuild.push(await compareBars(con, `${days}d`, [join(work, 'rebuild-ours', f)], [join(duckOut, f)]));
      }
    }
    for (const [key, folder] of [['lake', 'lake-build'], ['partitions', 'lake-partitioned']] as const) {
      if (!m[key === 'lake' ? 'lakeOurs' : 'partitionsOurs']) continue;
      checks[key] = [];
      for (const days of INTERVALS) {
        const lakeDir = join(work, folder);
        const head = await openLake(lakeDir).head(`ohlcv_${days}d`);
        // Without a splits version the stored files are what lake.read returns (no factor applies):
        // DuckDB reads them in place, so a 100 M-row lake is checked without loading it into this process.
        let ours = (await headFiles(lakeDir, `ohlcv_${days}d`)).paths;
        if (Number(head?.meta['splitsVersion'] ?? 0) > 0) {
          ours = [join(work, `${folder}-${days}d.parquet`)];
          await lakeToParquet(lakeDir, `ohlcv_${days}d`, manifest.firstSession, ours[0]!);
        }
        checks[key].push(await compareBars(con, `${days}d`, ours, [join(duckOut, `ohlcv_${days}d.parquet`)]));
      }
    }
  } finally {
    close();
  }
}

async function measureConsolidate({ opts, dir, manifest, work, mopts, m }: BenchRun): Promise<void> {
  const raw = await ensureRawLake(dir, manifest, opts.rawTickers, opts.rawSessions);
  const runLake = join(work, 'consolidate-lake');
  m.consolidateOurs = await measure(
    `consolidate raw zone (${opts.rawTickers} tickers x ${opts.rawSessions} sessions), fibbars`,
    { kind: 'ours-consolidate', lake: runLake },
    {
      ...mopts,
      prepare: () => {
        linkCopy(raw.lake, runLake);
        return { kind: 'ours-consolidate', lake: runLake };
      },
    },
  );
  if (!m.consolidateOurs.rowsIn) m.consolidateOurs.rowsIn = raw.rows;
  m.consolidateOurs.rowsPerSecond = m.consolidateOurs.rowsIn / m.consolidateOurs.seconds;
}

/** The daily increment, ours and DuckDB's, from the same starting lake; then what ours wrote, and the bars checked. */
async function measureIncrement(run: BenchRun): Promise<void> {
  const { dir, manifest, work, mopts, m } = run;
  const setup = await ensureIncrementLake(dir, manifest);
  const runLake = join(work, 'increment-lake');
  const task = { kind: 'bundle' as const, bundle: BUNDLE, lake: runLake, steps: [['consolidate'], RESAMPLE_STEP], runId: 'bench-increment' };
  m.incrementOurs = await measure('daily increment, batch-runner consolidate + resample (processes)', task, {
    ...mopts,
    prepare: () => {
      linkCopy(setup.lake, runLake);
      return task;
    },
  });
  const duckState = await measureIncrementDuckdb(run, setup);
  // Rows received: the corrected session and the new one.
  const rowsIn = m.incrementOurs.rowsIn;
  for (const k of ['incrementOurs', 'incrementDuckdb'] as const) {
    m[k]!.rowsIn = rowsIn;
    m[k]!.rowsPerSecond = rowsIn / m[k]!.seconds;
  }
  // Bytes the increment wrote into the bar datasets, against the bar bytes of the lake it leaves.
  let barBytes = 0;
  for (const days of INTERVALS) barBytes += (await headFiles(runLake, `ohlcv_${days}d`)).bytes;
  const written = (m.incrementOurs.detail as { bytesWritten: number }).bytesWritten;
  m.incrementOurs.detail = { ...(m.incrementOurs.detail as object), barBytes, bytesShare: written / barBytes, splits: setup.splits.length, correctedRows: setup.correctedRows };
  await checkIncrement(run, setup, runLake, duckState);
}

/** DuckDB's increment, from its full build turned into its own starting state; returns the folder of its result. */
async function measureIncrementDuckdb({ opts, dir, work, dailyFiles, duckOut, mopts, m }: BenchRun, setup: IncrementSetup): Promise<string> {
  const duckBase = join(dir, 'increment-duckdb-base');
  const { con: c1, close: close1 } = await openDuck();
  try {
    await prepareDuckState(c1, dailyFiles, duckOut, duckBase);
  } finally {
    close1();
  }
  const duckState = join(work, 'increment-duckdb');
  const duckTask = { kind: 'duck-increment' as const, stateDir: duckState, fetches: setup.fetches, splits: setup.splits, threads: opts.duckThreads };
  m.incrementDuckdb = await measure('daily increment, DuckDB', duckTask, {
    ...mopts,
    prepare: () => {
      linkCopy(duckBase, duckState);
      return duckTask;
    },
  });
  return duckState;
}

/** Compare the stored bars (both on their end date's split basis) from the earliest recomputed bucket on, and the new daily rows. */
async function checkIncrement({ manifest, work, checks }: BenchRun, setup: IncrementSetup, runLake: string, duckState: string): Promise<void> {
  const { con: c2, close: close2 } = await openDuck();
  try {
    checks.increment = [];
    for (const days of INTERVALS) {
      const idx = nyse.sessionIndex(setup.fetches[0]!.session);
      const first = nyse.sessionAt(Math.floor(idx / days) * days);
      const ours = join(work, `increment-ours-${days}d.parquet`);
      const stored = (await headFiles(runLake, `ohlcv_${days}d`)).paths;
      await c2.run(`COPY (SELECT * FROM read_parquet(${sqlList(stored)}) WHERE end_date >= DATE ${sqlString(first)}) TO ${sqlString(ours)} (FORMAT parquet)`);
      const duck = join(work, `increment-duckdb-${days}d.parquet`);
      await c2.run(
        `COPY (SELECT * FROM read_parquet(${sqlString(join(duckState, `ohlcv_${days}d`, '*', '*.parquet'))}) WHERE end_date >= DATE ${sqlString(first)}) TO ${sqlString(duck)} (FORMAT parquet)`,
      );
      checks.increment.push(await compareBars(c2, `${days}d`, [ours], [duck]));
    }
    checks.incrementDaily = [await checkIncrementDaily(c2, manifest, work, runLake)];
  } finally {
    close2();
  }
}

/** The new session's daily rows in our lake: as many as the generator wrote for it. */
async function checkIncrementDaily(con: DuckDBConnection, manifest: DailyManifest, work: string, runLake: string): Promise<Comparison> {
  const oursDaily = join(work, 'increment-ours-1d.parquet');
  await lakeToParquet(runLake, 'ohlcv_1d', manifest.incrementSession, oursDaily);
  const n = Number((await con.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlList([oursDaily])})`)).getRows()[0]![0]);
  return {
    interval: '1d',
    oursRows: n,
    duckRows: manifest.incrementRows,
    onlyOurs: Math.max(0, n - manifest.incrementRows),
    onlyDuck: Math.max(0, manifest.incrementRows - n),
    differ: 0,
    equal: n === manifest.incrementRows,
    checksums: { ours: { volume: 0, closeE4: 0, nDays: n }, duck: { volume: 0, closeE4: 0, nDays: manifest.incrementRows } },
  };
}

/** Our times against DuckDB's, whether every check found the results equal, and the machine. */
function benchResult({ opts, manifest, m, checks }: BenchRun): BenchResult {
  const ratios: Record<string, number> = {};
  if (m.rebuildOurs && m.rebuildDuckdb) ratios.rebuild = m.rebuildOurs.seconds / m.rebuildDuckdb.seconds;
  if (m.lakeOurs && m.rebuildDuckdb) ratios.lake = m.lakeOurs.seconds / m.rebuildDuckdb.seconds;
  if (m.partitionsOurs && m.rebuildDuckdb) ratios.partitions = m.partitionsOurs.seconds / m.rebuildDuckdb.seconds;
  if (m.partitionsOurs && m.lakeOurs) ratios.partitionsVsOne = m.partitionsOurs.seconds / m.lakeOurs.seconds;
  if (m.incrementOurs && m.incrementDuckdb) ratios.increment = m.incrementOurs.seconds / m.incrementDuckdb.seconds;
  const ok = Object.values(checks).every((cs) => cs.every((c) => c.equal));
  return {
    scale: opts.scale,
    rows: manifest.rows,
    machine: { cpus: cpus().length, totalMemBytes: totalmem(), node: process.version },
    measurements: m,
    ratios,
    checks,
    ok,
  };
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions | 'help';
  try {
    opts = parseOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const result = await runBench(opts);
  process.stdout.write(`${formatTable(result)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!result.ok) process.stderr.write('bench: fibbars and DuckDB results differ (see "checks")\n');
  return result.ok ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
      if (process.env.BENCH_DEBUG && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
      process.exit(1);
    },
  );
}

