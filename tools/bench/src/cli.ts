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
import pl from 'nodejs-polars';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { openLake, resampleLake } from './core.js';
import { INTERVALS, compareBars, openDuck, sqlList, sqlString, type Comparison } from './duckdb.js';
import { ensureDaily, tickerName, validateScale, type DailyManifest, type Scale } from './generate.js';
import { prepareDuckState } from './increment.js';
import { measure, type Measurement } from './measure.js';
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
  --only LIST       measurements to run: rebuild,proposal,consolidate,increment (default all;
                    DuckDB's rebuild runs whenever a rebuild or the increment does)
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
  duckThreads: number;
  dataDir: string;
}

const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const MEASUREMENTS = ['rebuild', 'proposal', 'consolidate', 'increment'];

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

async function readDaily(dir: string, manifest: DailyManifest): Promise<pl.DataFrame> {
  return pl.scanParquet(join(dir, 'daily', '*.parquet')).collect().then((df) => {
    if (df.height !== manifest.rows) throw new Error(`cached history has ${df.height} rows, its manifest says ${manifest.rows}`);
    return df;
  });
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

/**
 * The lake the daily increment starts from: the whole history committed as
 * `ohlcv_1d`, all six intervals built by resampleLake, and the next session's
 * raw fetch waiting to be consolidated. Built once per scale, untimed.
 */
async function ensureIncrementLake(dir: string, manifest: DailyManifest): Promise<string> {
  const root = join(dir, 'increment-base');
  const lakeDir = join(root, 'lake');
  const marker = join(root, 'ready');
  const core = coreFingerprint();
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === core) return lakeDir;
  log('building the lake the daily increment starts from (history, six intervals, one pending raw session)');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(lakeDir, { recursive: true });
  const lake = openLake(lakeDir);
  const daily = await readDaily(dir, manifest);
  // The commit bookkeeping consolidateLake keeps (DailyMeta), so its quality gate sees a normal trailing row count.
  const recentRows = daily
    .groupBy('date')
    .len()
    .sort('date')
    .tail(20)
    .select(pl.col('date').cast(pl.Int32), pl.col('len').cast(pl.Float64))
    .rows()
    .map(([d, n]) => [new Date(Number(d) * 86_400_000).toISOString().slice(0, 10), Number(n)]);
  const files = await lake.writeFiles('ohlcv_1d', daily);
  await lake.commit('ohlcv_1d', {
    parent: 0,
    files,
    runId: 'bench-seed',
    meta: { fetches: {}, changedSessions: [], latestSession: manifest.lastSession, recentRows },
  });
  await resampleLake(lake, { days: INTERVALS, runId: 'bench-seed' });
  await writeRawSessions(lakeDir, pl.readParquet(join(dir, manifest.incrementFile)));
  writeFileSync(marker, `${core}\n`);
  return lakeDir;
}

async function lakeToParquet(lakeDir: string, dataset: string, from: string, out: string): Promise<void> {
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

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const { dir, manifest } = await ensureDaily(opts.dataDir, opts.scale, log);
  log(`history: ${manifest.rows} rows, ${opts.scale.tickers} tickers, ${manifest.firstSession}..${manifest.lastSession} (${dir})`);
  const work = join(dir, 'runs');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const dailyFiles = manifest.files.map((f) => join(dir, f));
  const m: Record<string, Measurement> = {};
  const checks: Record<string, Comparison[]> = {};
  const mopts = { runs: opts.runs, warmup: opts.warmup, log };
  const duckOut = join(work, 'rebuild-duckdb');

  const rebuilds: Array<[key: string, name: string, kind: 'ours-rebuild' | 'proposal-rebuild', out: string]> = [];
  if (opts.only.has('rebuild')) rebuilds.push(['rebuildOurs', 'full rebuild, fibbars resample()', 'ours-rebuild', join(work, 'rebuild-ours')]);
  if (opts.only.has('proposal')) rebuilds.push(['rebuildProposal', 'full rebuild, proposed plan', 'proposal-rebuild', join(work, 'rebuild-proposal')]);
  for (const [key, name, kind, outDir] of rebuilds) {
    m[key] = await measure(name, { kind, dailyGlob: join(dir, 'daily', '*.parquet'), lastSession: manifest.lastSession, outDir }, mopts);
  }
  if (rebuilds.length > 0 || opts.only.has('increment')) {
    // DuckDB is the reference: its bars check ours, and seed its own increment.
    const timed = rebuilds.length > 0 ? mopts : { runs: 1, warmup: 0, log };
    m.rebuildDuckdb = await measure(
      'full rebuild, DuckDB',
      { kind: 'duck-rebuild', dailyFiles, lastSession: manifest.lastSession, outDir: duckOut, threads: opts.duckThreads },
      timed,
    );
    if (rebuilds.length === 0) delete m.rebuildDuckdb;
  }
  if (rebuilds.length > 0) {
    const { con, close } = await openDuck();
    try {
      for (const [key, , , outDir] of rebuilds) {
        const stage = key === 'rebuildOurs' ? 'rebuild' : 'rebuildProposal';
        checks[stage] = [];
        for (const days of INTERVALS) {
          const f = `ohlcv_${days}d.parquet`;
          // The proposed plan writes one file per ticker chunk.
          const ours = stage === 'rebuild' ? join(outDir, f) : join(outDir, `ohlcv_${days}d`, '*.parquet');
          checks[stage].push(await compareBars(con, `${days}d`, [ours], [join(duckOut, f)]));
        }
      }
    } finally {
      close();
    }
  }

  if (opts.only.has('consolidate')) {
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

  if (opts.only.has('increment')) {
    const base = await ensureIncrementLake(dir, manifest);
    const runLake = join(work, 'increment-lake');
    m.incrementOurs = await measure(
      'daily increment, fibbars',
      { kind: 'ours-increment', lake: runLake },
      {
        ...mopts,
        prepare: () => {
          linkCopy(base, runLake);
          return { kind: 'ours-increment', lake: runLake };
        },
      },
    );
    const rawFile = join(base, 'raw', 'ohlcv', `date=${manifest.incrementSession}`);
    const rawGz = readdirSync(rawFile).find((f) => f.endsWith('.json.gz'));
    if (!rawGz) throw new Error(`no raw fetch for ${manifest.incrementSession} in ${base}`);
    const duckBase = join(dir, 'increment-duckdb-base');
    const { con, close } = await openDuck();
    try {
      await prepareDuckState(con, dailyFiles, duckOut, duckBase);
    } finally {
      close();
    }
    const duckState = join(work, 'increment-duckdb');
    const duckTask = { kind: 'duck-increment' as const, stateDir: duckState, rawFile: join(rawFile, rawGz), session: manifest.incrementSession, threads: opts.duckThreads };
    m.incrementDuckdb = await measure('daily increment, DuckDB', duckTask, {
      ...mopts,
      prepare: () => {
        linkCopy(duckBase, duckState);
        return duckTask;
      },
    });
    for (const k of ['incrementOurs', 'incrementDuckdb'] as const) {
      m[k]!.rowsIn = manifest.incrementRows;
      m[k]!.rowsPerSecond = manifest.incrementRows / m[k]!.seconds;
    }
    // Compare every bar that starts on or after the earliest bucket the new session touched.
    const { con: c2, close: close2 } = await openDuck();
    try {
      checks.increment = [];
      for (const days of INTERVALS) {
        const idx = nyse.sessionIndex(manifest.incrementSession);
        const first = nyse.sessionAt(Math.floor(idx / days) * days);
        const ours = join(work, `increment-ours-${days}d.parquet`);
        await lakeToParquet(runLake, `ohlcv_${days}d`, first, ours);
        const duck = join(work, `increment-duckdb-${days}d.parquet`);
        await c2.run(
          `COPY (SELECT * FROM read_parquet(${sqlString(join(duckState, `ohlcv_${days}d`, '*', '*.parquet'))}) WHERE end_date >= DATE ${sqlString(first)}) TO ${sqlString(duck)} (FORMAT parquet)`,
        );
        checks.increment.push(await compareBars(c2, `${days}d`, [ours], [duck]));
      }
      const oursDaily = join(work, 'increment-ours-1d.parquet');
      await lakeToParquet(runLake, 'ohlcv_1d', manifest.incrementSession, oursDaily);
      const n = Number((await c2.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlList([oursDaily])})`)).getRows()[0]![0]);
      checks.incrementDaily = [
        {
          interval: '1d',
          oursRows: n,
          duckRows: manifest.incrementRows,
          onlyOurs: Math.max(0, n - manifest.incrementRows),
          onlyDuck: Math.max(0, manifest.incrementRows - n),
          differ: 0,
          equal: n === manifest.incrementRows,
          checksums: { ours: { volume: 0, closeE4: 0, nDays: n }, duck: { volume: 0, closeE4: 0, nDays: manifest.incrementRows } },
        },
      ];
    } finally {
      close2();
    }
  }

  const ratios: Record<string, number> = {};
  if (m.rebuildOurs && m.rebuildDuckdb) ratios.rebuild = m.rebuildOurs.seconds / m.rebuildDuckdb.seconds;
  if (m.rebuildProposal && m.rebuildDuckdb) ratios.rebuildProposal = m.rebuildProposal.seconds / m.rebuildDuckdb.seconds;
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

