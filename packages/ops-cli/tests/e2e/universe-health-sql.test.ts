/**
 * `fibbars tickers`, `check`, `sql` and the exit convention of `gaps`, on a
 * lake built by a real local run (synthetic market, 40 tickers, 60 sessions)
 * and on copies of it with problems committed into them; then the built
 * command as a user runs it: a closed pipe, a lake path that is a file.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pl from 'nodejs-polars';
import { openLake, type HealthReport } from '@fibbars/ohlcv-core';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { plainRecords } from '../../src/lake-access.js';
import type { TickerRow } from '../../src/commands/tickers.js';
import { buildLake, cli, listFiles, tempDir } from '../support/cli.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');

let dir: { dir: string; cleanup: () => Promise<void> };
let lake: string;
let daily: Record<string, unknown>[];
let ticker: string;

beforeAll(async () => {
  dir = await tempDir('fibbars-uhs-');
  ({ lake } = await buildLake(dir.dir));
  daily = plainRecords(await openLake(lake).read('ohlcv_1d'));
  ticker = String(daily[0]?.ticker);
}, 300_000);
afterAll(async () => dir.cleanup());

/** A copy of the lake whose daily history is `change(daily)`, committed as a new version. */
async function damagedCopy(name: string, change: (df: pl.DataFrame) => pl.DataFrame): Promise<string> {
  const copy = path.join(dir.dir, name);
  await cp(lake, copy, { recursive: true });
  const l = openLake(copy);
  const head = await l.head('ohlcv_1d');
  const files = await l.writeFiles('ohlcv_1d', change(await l.read('ohlcv_1d')).sort(['ticker', 'date']));
  await l.commit('ohlcv_1d', { parent: head!.version, files, removed: head!.files.map((f) => f.path), runId: `test-${name}` });
  return copy;
}

const epochDay = (iso: string) => Math.round(Date.parse(`${iso}T00:00:00Z`) / 86_400_000);
const sessionsOf = (t: string) => daily.filter((r) => r.ticker === t).map((r) => String(r.date)).sort();

describe('fibbars tickers', () => {
  it('lists the snapshot with each ticker\'s first and last session and row count in the lake', async () => {
    const res = await cli(['tickers', '--lake', lake, '--json']);
    expect(res.code).toBe(0);
    const got = (JSON.parse(res.stdout) as { tickers: TickerRow[] }).tickers;
    const snapshot = plainRecords(await openLake(lake).read('tickers'));
    expect(got.map((t) => t.ticker)).toEqual([...new Set([...snapshot.map((r) => String(r.ticker)), ...daily.map((r) => String(r.ticker))])].sort());
    for (const t of got) {
      const own = sessionsOf(t.ticker);
      const ref = snapshot.find((r) => r.ticker === t.ticker);
      expect(t).toEqual({
        ticker: t.ticker,
        name: ref?.name ?? null,
        type: ref?.type ?? null,
        exchange: ref?.primary_exchange ?? null,
        active: ref?.active ?? null,
        first: own[0] ?? null,
        last: own.at(-1) ?? null,
        rows: own.length,
        // The synthetic market renames nothing: each listed symbol is its own security, by its composite FIGI.
        security_id: ref ? ((ref.composite_figi as string | null) ?? t.ticker) : null,
        history: ref ? [expect.objectContaining({ ticker: t.ticker })] : [],
      });
    }
    // The text table shows the same rows.
    const text = await cli(['tickers', '--lake', lake, '--limit', '1000']);
    const line = text.stdout.split('\n').find((l) => l.startsWith(`${ticker} `));
    const own = sessionsOf(ticker);
    expect(line).toMatch(new RegExp(`^${ticker}\\s.*\\s${own[0]}\\s+${own.at(-1)}\\s+${own.length}$`));
    expect(text.stdout).toContain(`${got.length} tickers\n`);
  });

  it('filters by glob, by text in the name, and by status; --active and --delisted split the universe', async () => {
    const all = (JSON.parse((await cli(['tickers', '--lake', lake, '--json'])).stdout) as { tickers: TickerRow[] }).tickers;
    const json = async (...argv: string[]) => (JSON.parse((await cli(['tickers', ...argv, '--lake', lake, '--json'])).stdout) as { tickers: TickerRow[] }).tickers;
    const glob = `${ticker.slice(0, 1).toLowerCase()}*`;
    expect((await json(glob)).map((t) => t.ticker)).toEqual(all.filter((t) => t.ticker.startsWith(ticker.slice(0, 1))).map((t) => t.ticker));
    const word = String(all.find((t) => t.ticker === ticker)?.name).split(' ')[0]!;
    expect((await json(word.toLowerCase())).map((t) => t.ticker)).toEqual(
      all.filter((t) => t.ticker.includes(word.toUpperCase()) || (t.name ?? '').toUpperCase().includes(word.toUpperCase())).map((t) => t.ticker),
    );
    const active = await json('--active');
    const delisted = await json('--delisted');
    expect(active.every((t) => t.active === true) && delisted.every((t) => t.active === false)).toBe(true);
    expect(active.length + delisted.length).toBe(all.filter((t) => t.active !== null).length);
    expect(active.length).toBeGreaterThan(0);
  });

  it('exits 1 with one line when nothing matches, and 2 for contradictory flags', async () => {
    const none = await cli(['tickers', 'ZZZZZZ', '--lake', lake]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^fibbars: no ticker matches "ZZZZZZ" among \d+ in lake .*: try a shorter pattern, or "fibbars tickers" for all\n$/);
    const both = await cli(['tickers', '--active', '--delisted', '--lake', lake]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('fibbars: --active and --delisted exclude each other: pass one of them, or neither for all tickers\n');
  });
});

describe('fibbars check', () => {
  it('finds a price jump and a zero-volume streak committed into a copy of the lake, and exits 1', async () => {
    const before = await cli(['check', '--lake', lake, '--json']);
    expect(before.code).toBe(0);
    expect((JSON.parse(before.stdout) as HealthReport).problems).toBe(0);

    const own = sessionsOf(ticker);
    const jumpDate = own[30]!;
    const other = String(daily.find((r) => r.ticker !== ticker)?.ticker);
    const zeroDays = sessionsOf(other).slice(10, 14);
    const copy = await damagedCopy('damaged', (df) =>
      df.withColumns(
        ...['open', 'high', 'low', 'close'].map((c) =>
          pl.when(pl.col('ticker').eq(pl.lit(ticker)).and(pl.col('date').cast(pl.Int32).gtEq(epochDay(jumpDate)))).then(pl.col(c).mul(3)).otherwise(pl.col(c)).alias(c),
        ),
        pl.when(pl.col('ticker').eq(pl.lit(other)).and(pl.col('date').cast(pl.Int32).isIn(zeroDays.map(epochDay))))
          .then(pl.lit(0))
          .otherwise(pl.col('volume'))
          .cast(pl.Float64)
          .alias('volume'),
      ),
    );
    const res = await cli(['check', '--lake', copy, '--json']);
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as HealthReport;
    const jump = report.jumps.filter((j) => j.ticker === ticker);
    expect(jump.map((j) => [j.date, j.previousDate])).toEqual([[jumpDate, own[29]]]);
    expect(jump[0]!.change).toBeGreaterThan(1.5);
    expect(report.zeroVolume.filter((z) => z.ticker === other)).toEqual([{ ticker: other, from: zeroDays[0], to: zeroDays.at(-1), sessions: zeroDays.length }]);
    expect(res.stderr).toMatch(/^fibbars: check found problems in lake .*damaged: .*1 jumps.*1 zero-volume streaks/);

    const text = await cli(['check', '--lake', copy]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^FAIL price jumps above 50% with no split to explain them: ${report.jumps.length}$`, 'm'));
    expect(text.stdout).toContain(`  ${ticker.padEnd(8)} ${own[29]} -> ${jumpDate}`);
    expect(text.stdout).toMatch(/^FAIL zero-volume streaks of 3\+ sessions: \d+$/m);
    // A higher threshold lets this jump pass; a longer streak minimum lets the streak pass.
    const lenient = JSON.parse((await cli(['check', '--lake', copy, '--json', '--jump', '300%', '--zero-volume', '5'])).stdout) as HealthReport;
    expect(lenient.jumps.filter((j) => j.ticker === ticker)).toEqual([]);
    expect(lenient.zeroVolume.filter((z) => z.ticker === other)).toEqual([]);
  });

  it('exits 0 with every section ok on the lake a run built (the synthetic market has none of these problems)', async () => {
    const res = await cli(['check', '--lake', lake]);
    expect([res.code, res.stderr]).toEqual([0, '']);
    const sections = res.stdout.split('\n').filter((l) => /^(ok {2}|FAIL) /.test(l));
    expect(sections).toHaveLength(6);
    expect(sections.every((l) => l.startsWith('ok '))).toBe(true);
    expect(res.stdout.split('\n')[0]).toBe(`lake ${lake}: ${daily.length.toLocaleString('en-US')} daily rows, ${new Set(daily.map((r) => r.ticker)).size} tickers, ${sessionsOf(ticker)[0]} .. ${sessionsOf(ticker).at(-1)}`);
  });

  it('refuses bad thresholds with one line and exit 2', async () => {
    for (const [argv, want] of [
      [['--jump', 'lots'], 'fibbars: --jump "lots" is not a positive share: e.g. --jump 0.5 or --jump 50% (a 50% close-to-close move)\n'],
      [['--stale', '0'], 'fibbars: --stale must be at least 1, got 0: e.g. --stale 5\n'],
    ] as const) {
      const res = await cli(['check', ...argv, '--lake', lake]);
      expect([res.code, res.stderr]).toEqual([2, want]);
    }
  });
});

describe('fibbars gaps and check on a lake with a missing session', () => {
  it('both report it and exit 1', async () => {
    const all = [...new Set(daily.map((r) => String(r.date)))].sort();
    const dropped = all[20]!;
    const copy = await damagedCopy('gap', (df) => df.filter(pl.col('date').cast(pl.Int32).neq(epochDay(dropped))));
    const gaps = await cli(['gaps', '--lake', copy]);
    expect(gaps.code).toBe(1);
    expect(gaps.stdout).toContain(`missing sessions: ${dropped}`);
    expect(gaps.stderr).toMatch(/^fibbars: gaps found in lake .*gap: 1 missing sessions, \d+ holes in \d+ tickers\n$/);
    const json = await cli(['gaps', '--lake', copy, '--json']);
    expect([json.code, (JSON.parse(json.stdout) as { missingSessions: string[] }).missingSessions]).toEqual([1, [dropped]]);
    const check = await cli(['check', '--lake', copy, '--json']);
    expect(check.code).toBe(1);
    expect((JSON.parse(check.stdout) as HealthReport).gaps.missingSessions).toEqual([dropped]);
    expect(nyse.isSession(dropped)).toBe(true);
  });
});

describe('fibbars sql', () => {
  it('returns the bars lake.read returns (split-adjusted), as JSON, CSV and Parquet', async () => {
    const l = openLake(lake);
    const splits = plainRecords(await l.read('splits'));
    // A ticker with a split in the lake's range if there is one: its bars are the ones adjustment changes.
    const t = String(splits.find((s) => daily.some((r) => r.ticker === s.ticker))?.ticker ?? ticker);
    const want = plainRecords(await l.read('ohlcv_5d', { tickers: [t] }));
    const q = `SELECT * FROM ohlcv_5d WHERE ticker = '${t}' ORDER BY start_date`;
    const json = await cli(['sql', q, '--lake', lake, '--format', 'json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(want);
    const csv = await cli(['sql', q, '--lake', lake, '--format', 'csv']);
    const lines = csv.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(Object.keys(want[0]!).join(','));
    expect(lines).toHaveLength(want.length + 1);
    const out = path.join(dir.dir, 'q.parquet');
    const pq = await cli(['sql', q, '--lake', lake, '--format', 'parquet', '--out', out]);
    expect(pq.code).toBe(0);
    expect(plainRecords(pl.readParquet(out))).toEqual(want);
    expect(pq.stderr).toBe(`wrote ${want.length} rows (${Object.keys(want[0]!).length} columns) to ${out} as parquet\n`);
  });

  it('aggregates and joins across datasets, and prints a table with the row count', async () => {
    const q = 'SELECT d.ticker, t.name, count(*) AS n, min(d.date) AS first FROM ohlcv_1d d JOIN tickers t ON d.ticker = t.ticker GROUP BY d.ticker, t.name ORDER BY d.ticker';
    const res = await cli(['sql', q, '--lake', lake, '--json']);
    const rows = JSON.parse(res.stdout) as { ticker: string; n: number; first: string }[];
    const tickers = [...new Set(daily.map((r) => String(r.ticker)))].sort();
    expect(rows.map((r) => [r.ticker, r.n, r.first])).toEqual(tickers.map((x) => [x, sessionsOf(x).length, sessionsOf(x)[0]]));
    const text = await cli(['sql', q, '--lake', lake, '--max-rows', '3']);
    expect(text.stdout.split('\n')[0]).toMatch(/^ticker\s+name\s+n\s+first$/);
    expect(text.stdout).toContain(`${rows.length} rows, 3 shown (raise --max-rows, or use --format csv)`);
    const dated = JSON.parse((await cli(['sql', `SELECT count(*) AS n FROM ohlcv_1d WHERE date >= '${sessionsOf(ticker)[50]}'`, '--lake', lake, '--json'])).stdout) as { n: number }[];
    expect(dated[0]!.n).toBe(daily.filter((r) => String(r.date) >= sessionsOf(ticker)[50]!).length);
  });

  it('answers a bad query, an unknown table and parquet without --out with one line, exit 2, nothing written', async () => {
    const out = path.join(dir.dir, 'never.csv');
    for (const [argv, want] of [
      [['SELEC 1', '--out', out], /^fibbars: SQL error: sql parser error: .*SELEC.* \(tables: ohlcv_1d, ohlcv_3d, .*splits, dividends, tickers, ticker_history, quarantine\)\n$/],
      [['SELECT * FROM ohlcv_7d', '--out', out], /^fibbars: SQL error: relation 'ohlcv_7d' was not found \(tables: .*\)\n$/],
      [['SELECT nope FROM ohlcv_1d', '--out', out], /^fibbars: SQL error: .*unable to find column "nope".*\n$/],
      [['SELECT 1 FROM ohlcv_1d', '--format', 'parquet'], /^fibbars: --format parquet writes a file: add --out FILE.parquet\n$/],
    ] as const) {
      const res = await cli(['sql', ...argv, '--lake', lake]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(want);
    }
    expect(existsSync(out)).toBe(false);
  });
});

describe('fibbars export with tickers and a range', () => {
  it('exports exactly the named tickers, and refuses an unknown one or --from after --to with one line, exit 2, no file', async () => {
    const other = String(daily.find((r) => r.ticker !== ticker)?.ticker);
    const out = path.join(dir.dir, 'two.csv');
    const ok = await cli(['export', '--days', '1', '--tickers', `${ticker},${other.toLowerCase()}`, '--out', out, '--lake', lake, '--json']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { rows: number }).rows).toBe(sessionsOf(ticker).length + sessionsOf(other).length);
    const bad = path.join(dir.dir, 'bad.csv');
    const unknown = await cli(['export', '--days', '1', '--tickers', `${ticker},NOPE,ZZZQ`, '--out', bad, '--lake', lake]);
    expect([unknown.code, unknown.stdout]).toEqual([2, '']);
    expect(unknown.stderr).toBe(`fibbars: unknown tickers NOPE, ZZZQ: no rows in the lake's daily history; check the symbols ("fibbars tickers NO*" lists similar ones)\n`);
    const sessions = sessionsOf(ticker);
    const reversed = await cli(['export', '--days', '5', '--from', sessions[40]!, '--to', sessions[10]!, '--out', bad, '--lake', lake]);
    expect([reversed.code, reversed.stderr]).toEqual([
      2,
      `fibbars: --from ${sessions[40]} is after --to ${sessions[10]}: the range would be empty; swap them (--from ${sessions[10]} --to ${sessions[40]})\n`,
    ]);
    expect(existsSync(bad)).toBe(false);
  });
});

/** Splits an example line as a POSIX shell would (double and single quotes), dropping the leading `fibbars`. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words.slice(1);
}

describe('the examples in --help', () => {
  it.each(['tickers', 'check', 'sql', 'duckdb-views', 'gaps', 'bars', 'export'])('of "%s" run as written on the lake', async (command) => {
    const help = await cli([command, '--help']);
    const examples = help.stdout
      .split('\n')
      .filter((l) => l.startsWith('  $ fibbars '))
      .map((l) => l.slice(4).split(' || ')[0]!);
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const res = await cli(shellWords(example), { env: { FIBBARS_LAKE: lake }, cwd: dir.dir });
      // 0, or 1 for a check that found something: never a usage error.
      expect([example, res.code, res.code === 1 ? /^fibbars: (check|gaps) found|no ticker matches/.test(res.stderr) : true]).toEqual([example, res.code === 1 ? 1 : 0, true]);
    }
  });

  it('of the top level, bars and plot name symbols that the synthetic market has', async () => {
    const helps = await Promise.all([['--help'], ['bars', '--help'], ['plot', '--help']].map((argv) => cli(argv)));
    const symbols = helps.flatMap((h) => [...h.stdout.matchAll(/fibbars (?:bars|plot) ([A-Z]+) /g)].map((m) => m[1]!));
    expect(symbols.length).toBeGreaterThanOrEqual(5);
    for (const s of symbols) expect(daily.some((r) => r.ticker === s)).toBe(true);
  });
});

describe('the built fibbars, as a user runs it', () => {
  const run = (script: string) => spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, FIBBARS_LAKE: lake } });

  it('ends quietly with exit 0 when the reader closes the pipe', () => {
    expect(existsSync(BIN)).toBe(true);
    // Far more output than a pipe buffers, so the writer meets the closed pipe.
    for (const argv of [`sql "SELECT * FROM ohlcv_1d" --format csv`, `sql "SELECT * FROM ohlcv_1d" --json`, `bars ${ticker} --days 1 --last 1000 --json`]) {
      const res = run(`node ${BIN} ${argv} | head -2; echo "exit \${PIPESTATUS[0]}" >&2`);
      expect(res.stdout.split('\n')).toHaveLength(3);
      expect(res.stderr).toBe('exit 0\n');
    }
  });

  it('refuses a lake path that is a file with one line and exit 2, writing nothing', async () => {
    const file = path.join(dir.dir, 'not-a-lake.txt');
    await writeFile(file, 'notes\n');
    const before = await listFiles(dir.dir);
    for (const argv of [['run'], ['backfill', '--from', '2026-11-02', '--to', '2026-11-06'], ['bars', ticker, '--days', '5'], ['check'], ['sql', 'SELECT 1']]) {
      const res = spawnSync('node', [BIN, ...argv, '--lake', file], { encoding: 'utf8' });
      expect([argv[0], res.status, res.stdout]).toEqual([argv[0], 2, '']);
      expect(res.stderr).toBe(`fibbars: lake path "${file}" is a file, not a folder: pass --lake with a folder (a missing one is created by the commands that write) or s3://bucket/prefix\n`);
    }
    expect(await listFiles(dir.dir)).toEqual(before);
    expect(await readFile(file, 'utf8')).toBe('notes\n');
  });

  it('explains --last 0 by what is allowed', () => {
    const res = spawnSync('node', [BIN, 'bars', ticker, '--days', '5', '--last', '0', '--lake', lake], { encoding: 'utf8' });
    expect([res.status, res.stderr]).toEqual([2, 'fibbars: --last must be at least 1, got 0: e.g. --last 5\n']);
  });
});
