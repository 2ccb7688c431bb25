/**
 * `fibbars gc` and LAKE.md's DuckDB recipe, on one folder lake built by
 * `fibbars backfill` from the synthetic market (40 tickers, 2023-04 .. 2024-05:
 * six splits, one ticker split twice), in-process through main().
 *
 * The lake is built so that every kind of dead file is there: extensions
 * (superseded daily, bar, splits and tickers files), a --refetch of sessions
 * already held (a splits version committed without a new bar version, so the
 * bars pin the previous one), and two orphan files, one written now and one
 * two hours old.
 */
import { copyFile, readFile, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { DEFAULT_GC_GRACE_MS, openLake, type Lake } from '@fibbars/ohlcv-core';
import { formatDuration } from '../../src/config.js';
import { plainRecords } from '../../src/lake-access.js';
import type { GcResult } from '../../src/commands/gc.js';
import { cli, listFiles, tempDir } from '../support/cli.js';

const SYN = ['--synthetic-tickers', '40'];
const LAKE_MD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../ohlcv-core/LAKE.md');
const BAR_DATASETS = ['ohlcv_3d', 'ohlcv_5d', 'ohlcv_8d', 'ohlcv_13d', 'ohlcv_21d', 'ohlcv_34d'] as const;

/** What `fibbars gc --json` prints. */
type GcJson = GcResult;

let dir: { dir: string; cleanup: () => Promise<void> };
let lake: string;
let youngOrphan: string;
let oldOrphan: string;

async function backfill(...args: string[]): Promise<void> {
  const res = await cli(['backfill', ...args, '--lake', lake, ...SYN]);
  if (res.code !== 0) throw new Error(`backfill ${args.join(' ')} failed (exit ${res.code}):\n${res.stderr}`);
}

/** Splits versions the bar heads record (readers adjust bars with them). */
async function pinnedSplitsVersions(l: Lake): Promise<number[]> {
  const out = new Set<number>();
  for (const ds of BAR_DATASETS) out.add(Number((await l.head(ds))?.meta['splitsVersion']));
  return [...out].sort((a, b) => a - b);
}

/** Lake keys a gc with no grace period removes: every data file neither a head nor a pinned splits version lists. */
async function deadFiles(l: Lake): Promise<string[]> {
  const live = new Set<string>();
  for (const ds of await l.datasets()) {
    const head = await l.head(ds);
    for (const f of [...(head?.files ?? []), ...(head?.quarantine ?? [])]) live.add(f.path);
  }
  const splits = await l.history('splits');
  for (const v of await pinnedSplitsVersions(l)) for (const f of splits.find((c) => c.version === v)?.files ?? []) live.add(f.path);
  const all = [...(await l.store.list('silver/')), ...(await l.store.list('quarantine/'))].map((o) => o.key);
  return all.filter((k) => !live.has(k)).sort();
}

async function readAll(l: Lake): Promise<Record<string, Record<string, unknown>[]>> {
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const ds of await l.datasets()) out[ds] = plainRecords(await l.read(ds));
  return out;
}

beforeAll(async () => {
  dir = await tempDir('fibbars-gc-');
  lake = path.join(dir.dir, 'lake');
  await backfill('--from', '2023-04-03', '--to', '2024-04-30');
  await backfill('--from', '2024-05-01', '--to', '2024-05-08');
  // Sessions added to a month the lake holds: its daily file, the latest bar blocks, splits and tickers are rewritten.
  await backfill('--from', '2024-05-09', '--to', '2024-05-10');
  await backfill('--from', '2024-05-09', '--to', '2024-05-10', '--refetch');
  const l = openLake(lake);
  const some = (await l.head('ohlcv_5d'))!.files[0]!.path;
  youngOrphan = 'silver/ohlcv_5d/year=2024/part-orphan-young.parquet';
  oldOrphan = 'silver/ohlcv_3d/year=2024/part-orphan-old.parquet';
  await copyFile(path.join(lake, some), path.join(lake, youngOrphan));
  await copyFile(path.join(lake, some), path.join(lake, oldOrphan));
  const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
  await utimes(path.join(lake, oldOrphan), twoHoursAgo, twoHoursAgo);
}, 300_000);

afterAll(async () => dir.cleanup());

describe('fibbars gc', () => {
  let dead: string[];

  beforeAll(async () => {
    dead = await deadFiles(openLake(lake));
  });

  it('builds a lake with every kind of dead file; the bars pin the splits version before the refetch, which keeps its file', async () => {
    const l = openLake(lake);
    for (const prefix of ['silver/ohlcv_1d/', 'silver/ohlcv_5d/', 'silver/tickers/']) {
      expect({ prefix, found: dead.some((k) => k.startsWith(prefix)) }).toEqual({ prefix, found: true });
    }
    expect(dead).toEqual(expect.arrayContaining([youngOrphan, oldOrphan]));
    const splitsHead = (await l.head('splits'))!;
    expect(await pinnedSplitsVersions(l)).toEqual([splitsHead.version - 1]);
    // A refetch that changes no split records its fetches in a new version listing the same file.
    const pinned = await l.commitAt('splits', splitsHead.version - 1);
    expect(splitsHead.files.map((f) => f.path)).toEqual(pinned.files.map((f) => f.path));
  });

  it('--grace 0 --dry-run lists every file no live version references, and deletes nothing', async () => {
    const before = await listFiles(lake);
    const res = await cli(['gc', '--lake', lake, '--grace', '0', '--dry-run']);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    const [summary, ...paths] = res.stdout.trimEnd().split('\n');
    expect(summary).toMatch(
      new RegExp(
        `^would remove ${dead.length} files \\(\\d+\\.\\d\\d MB\\) no live version references; would keep 0 younger than the grace period \\(0\\); dry run, nothing deleted$`,
      ),
    );
    expect([...paths].sort()).toEqual(dead);
    const json = JSON.parse((await cli(['gc', '--lake', lake, '--grace', '0', '--dry-run', '--json'])).stdout) as GcJson;
    let bytes = 0;
    for (const k of dead) bytes += (await stat(path.join(lake, k))).size;
    expect(json).toMatchObject({ dryRun: true, graceMs: 0, files: dead.length, bytes, kept: 0 });
    expect([...json.removed].sort()).toEqual(dead);
    expect(await listFiles(lake)).toEqual(before);
  });

  it('keeps what became unreferenced within the grace period (default one hour), removing only older files', async () => {
    const res = await cli(['gc', '--lake', lake]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(
      new RegExp(`^removed 1 file \\(\\d+\\.\\d\\d MB\\) no live version references; kept ${dead.length - 1} younger than the grace period\\n$`),
    );
    expect(await listFiles(lake)).not.toContain(oldOrphan);
    const again = JSON.parse((await cli(['gc', '--lake', lake, '--grace', '1h', '--json'])).stdout) as GcJson;
    expect(again).toMatchObject({ dryRun: false, graceMs: 3_600_000, removed: [], files: 0, bytes: 0, kept: dead.length - 1 });
    const files = await listFiles(lake);
    for (const k of dead.filter((d) => d !== oldOrphan)) expect(files).toContain(k);
  });

  it('--grace 0 removes them: each silver folder then holds exactly its head files (splits: and the version the bars pin), and every dataset reads as before', async () => {
    const l = openLake(lake);
    const before = await readAll(l);
    const res = await cli(['gc', '--lake', lake, '--grace', '0']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(
      new RegExp(`^removed ${dead.length - 1} files \\(\\d+\\.\\d\\d MB\\) no live version references; kept 0 younger than the grace period\\n$`),
    );
    const splitsHistory = await l.history('splits');
    const pinned = await pinnedSplitsVersions(l);
    for (const ds of await l.datasets()) {
      const head = (await l.head(ds))!;
      const want = head.files.map((f) => f.path);
      if (ds === 'splits') for (const v of pinned) want.push(...splitsHistory.find((c) => c.version === v)!.files.map((f) => f.path));
      const listed = (await l.store.list(`silver/${ds}/`)).map((o) => o.key);
      expect({ ds, files: listed.sort() }).toEqual({ ds, files: [...new Set(want)].sort() });
    }
    expect((await l.store.list('silver/splits/')).length).toBe(1);
    const quarantine = (await l.head('ohlcv_1d'))!.quarantine.map((f) => f.path).sort();
    expect((await l.store.list('quarantine/')).map((o) => o.key).sort()).toEqual(quarantine);
    expect(await readAll(openLake(lake))).toEqual(before);
    const second = JSON.parse((await cli(['gc', '--lake', lake, '--grace', '0', '--json'])).stdout) as GcJson;
    expect(second.files).toBe(0);
  }, 60_000);

  it.each([
    ['10', 'fibbars: --grace "10" has no unit: add one (ms, s, m, h, d), e.g. --grace 1h, --grace 30m or --grace 0\n'],
    ['1x', 'fibbars: --grace "1x" is not a duration: use a number with a unit (ms, s, m, h, d), e.g. --grace 1h, --grace 30m or --grace 0\n'],
    ['-1h', 'fibbars: --grace "-1h" is not a duration: use a number with a unit (ms, s, m, h, d), e.g. --grace 1h, --grace 30m or --grace 0\n'],
  ])('refuses --grace %s with one line and exit 2, deleting nothing', async (grace, message) => {
    const orphan = path.join(lake, 'silver/ohlcv_3d/part-orphan-refused.parquet');
    await copyFile(path.join(lake, (await openLake(lake).head('ohlcv_3d'))!.files[0]!.path), orphan);
    await utimes(orphan, new Date(0), new Date(0));
    try {
      const before = await listFiles(lake);
      const res = await cli(['gc', '--lake', lake, '--grace', grace]);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe(message);
      expect(res.stdout).toBe('');
      expect(await listFiles(lake)).toEqual(before);
    } finally {
      await cli(['gc', '--lake', lake, '--grace', '0']);
    }
  });

  it('refuses a lake that does not exist with one line and exit 2, creating nothing', async () => {
    const missing = path.join(dir.dir, 'no-lake');
    const res = await cli(['gc', '--lake', missing, '--grace', '0']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      `fibbars: lake ${missing} does not exist or holds no committed daily history: run "fibbars run --lake ${missing}" first, or point --lake / FIBBARS_LAKE at an existing lake\n`,
    );
    expect(await listFiles(missing)).toEqual([]);
  });

  it('says in --help what the default grace period is and why', async () => {
    const res = await cli(['gc', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`default: ${formatDuration(DEFAULT_GC_GRACE_MS)}`);
    expect(res.stdout).toContain('Why one hour by default');
  });
});

// ---------------------------------------------------------------------------
// LAKE.md: "Reading the lake without ohlcv-core (DuckDB)"
// ---------------------------------------------------------------------------

/** The ```sql blocks of LAKE.md's DuckDB section, in order. */
async function recipeBlocks(): Promise<string[]> {
  const md = await readFile(LAKE_MD, 'utf8');
  const start = md.indexOf('\n## Reading the lake without ohlcv-core (DuckDB)\n');
  if (start < 0) throw new Error('LAKE.md has no section "Reading the lake without ohlcv-core (DuckDB)"');
  const end = md.indexOf('\n## ', start + 1);
  const section = md.slice(start, end < 0 ? undefined : end);
  // The info string may carry a `not-run: ...` marker (tools/scripts/README.md).
  return [...section.matchAll(/```sql(?:[ \t][^\n]*)?\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** Runs every statement of `sql` and returns the last one's rows, as JSON-able values. */
async function runScript(con: DuckDBConnection, sql: string): Promise<{ columns: string[]; rows: Record<string, unknown>[] }> {
  const statements = await con.extractStatements(sql);
  let columns: string[] = [];
  let rows: Record<string, unknown>[] = [];
  for (let i = 0; i < statements.count; i++) {
    const result = await (await statements.prepare(i)).runAndReadAll();
    columns = result.columnNames();
    rows = result.getRowObjectsJson() as Record<string, unknown>[];
  }
  return { columns, rows };
}

/** Cells that differ: numbers beyond 1e-9 relative, anything else by its text. */
function differences(got: Record<string, unknown>[], want: Record<string, unknown>[], columns: string[]): string[] {
  const out: string[] = [];
  if (got.length !== want.length) return [`${got.length} rows, want ${want.length}`];
  want.forEach((w, i) => {
    for (const c of columns) {
      const a = got[i]?.[c];
      const b = w[c];
      const same =
        typeof b === 'number' && a !== null && a !== undefined
          ? Math.abs(Number(a) - b) <= 1e-9 * Math.max(Math.abs(b), 1e-12)
          : String(a ?? null) === String(b ?? null);
      if (!same) out.push(`row ${i} (${String(w['ticker'])} ${String(w['start_date'])}) ${c}: ${String(a)}, want ${String(b)}`);
    }
  });
  return out;
}

describe('LAKE.md: reading the lake without ohlcv-core (DuckDB)', () => {
  let exact: string;
  let glob: string;
  let totalReturn: string;
  let duck: DuckDBInstance;
  let con: DuckDBConnection;

  beforeAll(async () => {
    const blocks = await recipeBlocks();
    expect(blocks).toHaveLength(3);
    [exact, glob, totalReturn] = blocks.map((b) => b.replaceAll("'/data/lake", `'${lake}`)) as [string, string, string];
    expect(totalReturn).toContain(`SET VARIABLE lake = '${lake}';`);
    expect(exact).toContain(`SET VARIABLE lake = '${lake}';`);
    expect(exact).toContain("SET VARIABLE dataset = 'ohlcv_5d';");
    expect(glob).toContain(`'${lake}/silver/ohlcv_5d/**/*.parquet'`);
    duck = await DuckDBInstance.create(':memory:');
    con = await duck.connect();
  });

  afterAll(() => {
    con.closeSync();
    duck.closeSync();
  });

  it('has bars the split adjustment changes: bars ending before a split of their ticker, one before two splits', async () => {
    const l = openLake(lake);
    const splits = plainRecords(await l.read('splits'));
    expect(splits.length).toBeGreaterThanOrEqual(5);
    const twice = [...new Set(splits.map((s) => s['ticker']))].find((t) => splits.filter((s) => s['ticker'] === t).length >= 2);
    expect(twice).toBeDefined();
    const firstSplit = splits.filter((s) => s['ticker'] === twice).map((s) => String(s['execution_date'])).sort()[0]!;
    const bars = plainRecords(await l.read('ohlcv_5d', { tickers: [twice as string] }));
    expect(bars.some((b) => String(b['end_date']) < firstSplit)).toBe(true);
  });

  it.each(BAR_DATASETS)('the exact recipe (head commit, its splits version) gives lake.read for %s', async (dataset) => {
    const sql = exact.replace("SET VARIABLE dataset = 'ohlcv_5d';", `SET VARIABLE dataset = '${dataset}';`);
    const { columns, rows } = await runScript(con, sql);
    const df = await openLake(lake).read(dataset);
    expect(columns).toEqual(df.columns);
    const want = plainRecords(df);
    expect(differences(rows, want, df.columns)).toEqual([]);
    // Without the factors the stored files would not match: the adjustment is what the recipe is tested for.
    const stored = (
      await con.runAndReadAll("SELECT * FROM read_parquet(getvariable('bar_files'), hive_partitioning = false) ORDER BY ticker, start_date")
    ).getRowObjectsJson() as Record<string, unknown>[];
    const unadjusted = differences(stored, want, ['close', 'volume']);
    expect(unadjusted.length).toBeGreaterThan(0);
  });

  it('the glob shortcut would be wrong without the split factors: the stored files are on their end dates\' basis', async () => {
    expect((await openLake(lake).store.list('silver/splits/')).length).toBe(1);
    const stored = (
      await con.runAndReadAll(`SELECT * FROM read_parquet('${path.join(lake, 'silver', 'ohlcv_5d', '**', '*.parquet')}', hive_partitioning = false) ORDER BY ticker, start_date`)
    ).getRowObjectsJson() as Record<string, unknown>[];
    const want = plainRecords(await openLake(lake).read('ohlcv_5d'));
    expect(differences(stored, want, ['close']).length).toBeGreaterThan(0);
    const { rows } = await runScript(con, glob);
    expect(differences(rows, want, want.length > 0 ? Object.keys(want[0]!) : []).length).toBe(0);
  });

  it('the total-return recipe gives lake.read(ohlcv_1d, total-return), which differs from split-adjusted for the payers', async () => {
    const l = openLake(lake);
    const dividends = plainRecords(await l.read('dividends'));
    expect(new Set(dividends.map((d) => d['ticker'])).size).toBeGreaterThanOrEqual(5);
    const df = await l.read('ohlcv_1d', { adjust: 'total-return' });
    const want = plainRecords(df);
    const { columns, rows } = await runScript(con, totalReturn);
    expect(columns).toEqual(df.columns);
    expect(differences(rows, want, df.columns)).toEqual([]);
    const split = plainRecords(await l.read('ohlcv_1d', { adjust: 'splits' }));
    expect(differences(split, want, ['close']).length).toBeGreaterThan(100);
    expect(differences(split, want, ['volume'])).toEqual([]);
  });

  it('the glob shortcut gives lake.read once gc has run past the grace period and silver/splits holds one file', async () => {
    await backfill('--from', '2024-05-13', '--to', '2024-05-14');
    const l = openLake(lake);
    // Right after a run its own gc keeps what it superseded: the glob sees old and new bars.
    const superseded = await runScript(con, glob);
    expect(superseded.rows.length).toBeGreaterThan((await l.read('ohlcv_5d')).height);
    expect((await cli(['gc', '--lake', lake, '--grace', '0'])).code).toBe(0);
    expect((await l.store.list('silver/splits/')).length).toBe(1);
    const { columns, rows } = await runScript(con, glob);
    const df = await l.read('ohlcv_5d');
    expect(columns).toEqual(df.columns);
    expect(differences(rows, plainRecords(df), df.columns)).toEqual([]);
  }, 120_000);
});

describe('fibbars duckdb-views', () => {
  it('writes views that DuckDB reads as lake.read returns every dataset, bars split-adjusted', async () => {
    const out = path.join(dir.dir, 'views.sql');
    const res = await cli(['duckdb-views', '--lake', lake, '--out', out]);
    expect(res.code).toBe(0);
    const l = openLake(lake);
    const datasets = await l.datasets();
    expect(res.stderr).toBe(`wrote DuckDB views of ${datasets.length} datasets to ${out}: run it with duckdb -c ".read ${out}"\n`);
    const script = await readFile(out, 'utf8');
    const duck = await DuckDBInstance.create(':memory:');
    const con = await duck.connect();
    try {
      await runScript(con, script);
      for (const dataset of [...BAR_DATASETS, 'ohlcv_1d', 'splits'] as const) {
        const order = dataset === 'ohlcv_1d' ? 'ticker, date' : dataset === 'splits' ? 'ticker, execution_date' : 'ticker, start_date';
        const { columns, rows } = await runScript(con, `SELECT * FROM ${dataset} ORDER BY ${order}`);
        const df = await l.read(dataset);
        expect([dataset, columns]).toEqual([dataset, df.columns]);
        expect([dataset, differences(rows, plainRecords(df), df.columns)]).toEqual([dataset, []]);
      }
    } finally {
      con.closeSync();
      duck.closeSync();
    }
    // The same script on stdout.
    const stdout = await cli(['duckdb-views', '--lake', lake]);
    expect(stdout.stdout.split('\n').slice(1)).toEqual(script.split('\n').slice(1));
  }, 120_000);
});
