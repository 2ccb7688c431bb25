/**
 * Every lake command against one lake built by a real local run (synthetic
 * market, 40 tickers, 60 sessions), in-process through main().
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { chromium } from 'playwright-core';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import { openLake, resample } from '@fibbars/ohlcv-core';
import { nyse } from '@fibbars/ohlcv-core/calendar';
import { buildLake, cli, listFiles, RUN_DATE, tableRows, tempDir, type CliResult } from '../support/cli.js';
import { headlessChromium } from '../support/browser.js';

let dir: { dir: string; cleanup: () => Promise<void> };
let lake: string;
let first: CliResult;
let ticker: string;

const iso = (v: unknown) => (Object.prototype.toString.call(v) === '[object Date]' ? (v as Date).toISOString().slice(0, 10) : String(v));
const r4 = (v: unknown) => (typeof v === 'number' ? Math.round(v * 1e4) / 1e4 : null);

beforeAll(async () => {
  dir = await tempDir();
  ({ lake, result: first } = await buildLake(dir.dir));
  // The ticker with the most rows: present over the whole range.
  const daily = (await openLake(lake).read('ohlcv_1d')).toRecords();
  const counts = new Map<string, number>();
  for (const r of daily) counts.set(String(r.ticker), (counts.get(String(r.ticker)) ?? 0) + 1);
  ticker = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
}, 300_000);

afterAll(async () => dir.cleanup());

describe('fibbars run', () => {
  it('says which source it uses in one line at start', () => {
    expect(first.stderr.split('\n')[0]).toBe('no POLYGON_API_KEY: using the synthetic market (seed 42, 40 tickers)');
  });

  it('backfills a fresh lake first, so the summary covers every session in the lake', async () => {
    const daily = await openLake(lake).read('ohlcv_1d');
    const dates = new Set(daily.getColumn('date').toArray().map(iso));
    expect(first.stderr).toMatch(/fresh lake .*: backfilling 59 sessions/);
    expect(first.stdout).toContain(`SUCCEEDED for ${RUN_DATE}`);
    expect(first.stdout).toContain(`sessions fetched: ${dates.size} (59 backfilled first)`);
    const m = /rows: (\d+) accepted, (\d+) collapsed, (\d+) quarantined/.exec(first.stdout);
    expect(Number(m?.[1])).toBe(daily.height);
    expect(first.stdout).toMatch(/bars written: 3d \d+, 5d \d+, 8d \d+, 13d \d+, 21d \d+, 34d \d+/);
    expect(first.stdout).toMatch(/elapsed \d/);
  });

  it('prints each state as plain lines with durations when stderr is not a TTY', () => {
    expect(first.stderr).not.toContain('\x1b[');
    for (const state of ['FetchOhlcv', 'FetchMeta', 'Consolidate', 'Resample3d', 'Resample34d']) {
      expect(first.stderr).toMatch(new RegExp(`> ${state}\\s+running`));
      expect(first.stderr).toMatch(new RegExp(`✓ ${state}\\s+done\\s+\\d+(\\.\\d)? m?s`));
    }
  });

  it('catches up a missed session, runs the next one incrementally, and its --json numbers match the lake', async () => {
    const missed = nyse.nextSession(RUN_DATE);
    const next = nyse.nextSession(missed);
    const res = await cli(['run', '--lake', lake, '--date', next, '--json', '--synthetic-tickers', '40']);
    expect(res.code).toBe(0);
    const summary = JSON.parse(res.stdout) as {
      status: string;
      sessionsFetched: number;
      backfilled: number;
      rows: { accepted: number };
      barsWritten: Record<string, number>;
      runId: string;
    };
    expect(res.stderr).toContain(`missed sessions since ${RUN_DATE}: backfilling 1 session (${missed} .. ${missed}) first`);
    const added = await openLake(lake).read('ohlcv_1d', { from: missed, to: next });
    expect(summary).toMatchObject({ status: 'SUCCEEDED', sessionsFetched: 2, backfilled: 1 });
    expect(summary.rows.accepted).toBe(added.height);
    expect(Object.keys(summary.barsWritten)).toEqual(['3d', '5d', '8d', '13d', '21d', '34d']);
    for (const n of Object.values(summary.barsWritten)) expect(n).toBeGreaterThan(0);
    // The same numbers as the run record the engine wrote.
    const described = JSON.parse((await cli(['describe', summary.runId, '--lake', lake, '--json'])).stdout) as { status: string };
    expect(described.status).toBe(summary.status);
    const runs = await cli(['executions', '--lake', lake, '--json']);
    expect((JSON.parse(runs.stdout) as { executions: { name: string }[] }).executions.map((e) => e.name)).toContain(summary.runId);
  }, 120_000);
});

describe('fibbars run --partitions', () => {
  it('resamples in ticker partitions (a Distributed Map per interval and a fan-in commit) to the same bars as one partition', async () => {
    const one = path.join(dir.dir, 'p1');
    const four = path.join(dir.dir, 'p4');
    const args = ['run', '--date', RUN_DATE, '--backfill-sessions', '8', '--synthetic-tickers', '40'];
    expect((await cli([...args, '--lake', one])).code).toBe(0);
    const res = await cli([...args, '--lake', four, '--partitions', '4']);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/Commit34dPartitions/);
    for (const days of [3, 34]) {
      const a = await openLake(one).read(`ohlcv_${days}d`);
      const b = await openLake(four).read(`ohlcv_${days}d`);
      expect(b.height).toBeGreaterThan(0);
      expect(b.toRecords()).toEqual(a.toRecords());
      expect((await openLake(four).head(`ohlcv_${days}d`))?.meta.partitions).toBe(4);
    }
  }, 300_000);

  it('refuses a bad partition count, and --partitions with --aws, with one line and exit 2', async () => {
    const bad = await cli(['run', '--lake', path.join(dir.dir, 'never'), '--partitions', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n').at(-1)).toMatch(/--partitions must be/);
    const aws = await cli(['run', '--aws', '--partitions', '4']);
    expect(aws.code).toBe(2);
    expect(aws.stderr).toContain('--partitions applies to local runs');
    expect(existsSync(path.join(dir.dir, 'never'))).toBe(false);
  });
});

describe('fibbars bars', () => {
  it('prints the stored calendar bars, and --json carries the same numbers', async () => {
    const text = await cli(['bars', ticker, '--days', '5', '--last', '8', '--lake', lake]);
    const json = await cli(['bars', ticker, '--days', '5', '--last', '8', '--lake', lake, '--json']);
    expect(text.code).toBe(0);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { bars: Record<string, unknown>[] };
    const rows = tableRows(text.stdout, 'start');
    expect(rows).toHaveLength(8);
    expect(parsed.bars).toHaveLength(8);
    rows.forEach((cells, i) => {
      const b = parsed.bars[i]!;
      expect(cells.slice(0, 10)).toEqual([
        b.start_date,
        b.end_date,
        String(b.open),
        String(b.high),
        String(b.low),
        String(b.close),
        String(b.volume),
        b.vwap === null ? '-' : String(b.vwap),
        String(b.n_days),
        b.is_complete ? 'yes' : 'no',
      ]);
    });
    // Reference: the committed ohlcv_5d dataset itself.
    const stored = (await openLake(lake).read('ohlcv_5d', { tickers: [ticker] })).toRecords().slice(-8);
    expect(parsed.bars.map((b) => [b.start_date, b.close])).toEqual(stored.map((r) => [iso(r.start_date), r4(r.close)]));
  });

  it.each(['ticker', 'latest'] as const)('computes %s-anchored bars at read time like ohlcv-core resample does', async (anchor) => {
    const res = await cli(['bars', ticker, '--days', '8', '--anchor', anchor, '--last', '100', '--lake', lake, '--json']);
    expect(res.code).toBe(0);
    const l = openLake(lake);
    const ref = resample(await l.read('ohlcv_1d', { tickers: [ticker] }), {
      days: 8,
      anchor,
      splits: await l.read('splits', { tickers: [ticker] }),
    }).toRecords();
    const got = (JSON.parse(res.stdout) as { bars: { start_date: string; close: number; n_days: number }[] }).bars;
    expect(got.length).toBeGreaterThan(0);
    expect(got.map((b) => [b.start_date, b.close, b.n_days])).toEqual(ref.map((r) => [iso(r.start_date), r4(r.close), r.n_days]));
  });

  it('prints the daily history with --days 1', async () => {
    const res = await cli(['bars', ticker, '--days', '1', '--last', '3', '--lake', lake, '--json']);
    expect(res.code).toBe(0);
    const got = (JSON.parse(res.stdout) as { bars: { start_date: string; end_date: string; n_days: number }[] }).bars;
    const daily = (await openLake(lake).read('ohlcv_1d', { tickers: [ticker] })).toRecords().slice(-3);
    expect(got.map((b) => b.start_date)).toEqual(daily.map((r) => iso(r.date)));
    expect(got.every((b) => b.start_date === b.end_date && b.n_days === 1)).toBe(true);
    // Daily bars have no buckets: the text header names no anchor.
    const text = await cli(['bars', ticker, '--days', '1', '--last', '3', '--lake', lake]);
    expect(text.stdout.split('\n')[0]).toBe(`${ticker} daily bars (split-adjusted), last 3`);
  });
});

describe('fibbars export', () => {
  it('writes the daily history as CSV that DuckDB reads as is (ISO dates, header, no index)', async () => {
    const out = path.join(dir.dir, 'daily.csv');
    const res = await cli(['export', '--days', '1', '--format', 'csv', '--out', out, '--lake', lake, '--json']);
    expect(res.code).toBe(0);
    const daily = await openLake(lake).read('ohlcv_1d');
    expect(JSON.parse(res.stdout)).toMatchObject({ dataset: 'ohlcv_1d', format: 'csv', rows: daily.height });
    const text = await readFile(out, 'utf8');
    expect(text.split('\n')[0]).toBe(daily.columns.join(','));
    const duck = await DuckDBInstance.create(':memory:');
    const con = await duck.connect();
    try {
      const described = (await con.runAndReadAll(`DESCRIBE SELECT * FROM read_csv('${out}')`)).getRowObjectsJson();
      expect(described.find((c) => c.column_name === 'date')?.column_type).toBe('DATE');
      expect(described.map((c) => c.column_name)).toEqual(daily.columns);
      const [row] = (
        await con.runAndReadAll(`SELECT count(*)::INT AS n, min(date)::VARCHAR AS lo, max(date)::VARCHAR AS hi FROM read_csv('${out}')`)
      ).getRowObjectsJson();
      const dates = daily.getColumn('date').toArray().map(iso).sort();
      expect(row).toEqual({ n: daily.height, lo: dates[0], hi: dates[dates.length - 1] });
    } finally {
      con.closeSync();
      duck.closeSync();
    }
  });

  it('writes bars as Parquet that DuckDB reads with the same rows and text output naming the count', async () => {
    const out = path.join(dir.dir, 'bars_8d.parquet');
    const res = await cli(['export', '--days', '8', '--out', out, '--lake', lake]);
    expect(res.code).toBe(0);
    const bars = await openLake(lake).read('ohlcv_8d');
    expect(res.stdout).toContain(`wrote ${bars.height.toLocaleString('en-US')} rows of ohlcv_8d`);
    const duck = await DuckDBInstance.create(':memory:');
    const con = await duck.connect();
    try {
      const [row] = (
        await con.runAndReadAll(`SELECT count(*)::INT AS n, sum(volume)::DOUBLE AS v, typeof(any_value(start_date)) AS t FROM read_parquet('${out}')`)
      ).getRowObjectsJson();
      const vol = (bars.getColumn('volume').toArray() as number[]).reduce((a, b) => a + b, 0);
      expect(row?.n).toBe(bars.height);
      expect(row?.t).toBe('DATE');
      expect(Number(row?.v)).toBeCloseTo(vol, 0);
    } finally {
      con.closeSync();
      duck.closeSync();
    }
  });
});

function distinctColours(png: PNG): Set<number> {
  const colours = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) colours.add(png.data.readUInt32BE(i));
  return colours;
}

const rgba = (hex: string) => (parseInt(hex.slice(1), 16) * 256 + 255) >>> 0;

describe('fibbars plot', () => {
  it('renders a PNG without a browser: the requested size, candles in both colours, not blank', async () => {
    const out = path.join(dir.dir, 'chart.png');
    const res = await cli(['plot', ticker, '--days', '5', '--out', out, '--lake', lake, '--width', '900', '--height', '500', '--json']);
    expect(res.code).toBe(0);
    const meta = JSON.parse(res.stdout) as { bars: number; width: number; height: number };
    const bars = (await openLake(lake).read('ohlcv_5d', { tickers: [ticker] })).height;
    expect(meta.bars).toBe(Math.min(bars, 120));
    const png = PNG.sync.read(await readFile(out));
    expect([png.width, png.height]).toEqual([900, 500]);
    const colours = distinctColours(png);
    expect(colours.size).toBeGreaterThan(20);
    // Up and down candles are drawn (a real series has both).
    expect(colours.has(rgba('#26a69a'))).toBe(true);
    expect(colours.has(rgba('#ef5350'))).toBe(true);
  });

  it('writes a self-contained HTML chart that draws in headless Chromium with no request leaving the machine', async () => {
    // The system Chromium, else the one @sparticuz/chromium ships; throws if neither.
    const { executablePath, args } = await headlessChromium();
    const out = path.join(dir.dir, 'chart.html');
    const text = await cli(['plot', ticker, '--days', '8', '--out', out, '--lake', lake]);
    expect(text.code).toBe(0);
    const stored = (await openLake(lake).read('ohlcv_8d', { tickers: [ticker] })).height;
    expect(text.stdout).toContain(`wrote ${ticker} 8-session bars chart (${stored} bars`);
    const html = await readFile(out, 'utf8');
    expect(html).not.toMatch(/(src|href)=["']https?:/);

    const browser = await chromium.launch({ executablePath, args });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const external: string[] = [];
      await page.route('**/*', async (route) => {
        const url = route.request().url();
        if (url.startsWith('file:')) return route.continue();
        external.push(url);
        return route.abort();
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(pathToFileURL(out).href);
      expect(await page.title()).toBe(`${ticker} · 8-session bars`);
      // The inline script (lightweight-charts and the page code) ran under the CSP and handed every bar to the chart.
      await page.waitForSelector('body[data-candles]');
      expect(await page.getAttribute('body', 'data-candles')).toBe(String(stored));
      expect(await page.textContent('#subtitle')).toContain('anchor calendar');
      // The read-out starts on the last bar.
      const last = (await openLake(lake).read('ohlcv_8d', { tickers: [ticker] })).toRecords().at(-1)!;
      expect(await page.textContent('#readout')).toContain(iso(last.start_date));
      const shot = PNG.sync.read(await page.screenshot());
      const colours = distinctColours(shot);
      expect(colours.has(rgba('#26a69a')) || colours.has(rgba('#ef5350'))).toBe(true);
      expect(errors).toEqual([]);
      expect(external).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('refuses an output that is neither .html nor .png, writing nothing', async () => {
    const res = await cli(['plot', ticker, '--days', '5', '--out', path.join(dir.dir, 'chart.pdf'), '--lake', lake]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^fibbars: --out ".*chart\.pdf" must end in \.html or \.png: e\.g\. --out chart\.html\n$/);
    expect(existsSync(path.join(dir.dir, 'chart.pdf'))).toBe(false);
  });
});

describe('fibbars doctor on a lake', () => {
  const freshness = async (now: Date) => {
    const res = await cli(['doctor', '--lake', lake, '--json'], { now });
    return (JSON.parse(res.stdout) as { checks: { name: string; status: string; detail: string; fix?: string }[] }).checks.find((c) => c.name === 'lake freshness');
  };
  // Earlier tests of this file extend the lake: read where it ends now.
  const latestInLake = async () => {
    // Series.max() of a Date column is its epoch day.
    const day = Number((await openLake(lake).read('ohlcv_1d')).getColumn('date').max());
    return new Date(day * 86_400_000).toISOString().slice(0, 10);
  };

  it('says how many sessions the daily history is behind the latest closed session', async () => {
    const latest = await latestInLake();
    const target = nyse.nextSession(nyse.nextSession(latest));
    // 23:00 UTC is 18:00 in New York in winter: the target session has closed.
    expect(await freshness(new Date(`${target}T23:00:00Z`))).toEqual({
      name: 'lake freshness',
      status: 'warn',
      detail: `latest session ${latest}, 2 session(s) behind ${target}`,
      fix: `fibbars run --lake ${lake} (a run catches up the missing sessions)`,
    });
  });

  it('is ok when the latest closed session is in the lake (before the 16:30 cut-off of the next one)', async () => {
    const latest = await latestInLake();
    // 17:00 UTC is 12:00 in New York: the next session has not closed yet.
    expect(await freshness(new Date(`${nyse.nextSession(latest)}T17:00:00Z`))).toMatchObject({ status: 'ok', detail: `latest session ${latest} (the latest closed one)` });
  });
});

describe('fibbars gaps', () => {
  it('reports no missing session in a fully fetched lake, and each per-ticker hole is a real hole', async () => {
    const text = await cli(['gaps', '--lake', lake]);
    const json = await cli(['gaps', '--lake', lake, '--json']);
    expect(text.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      from: string;
      to: string;
      expectedSessions: number;
      missingSessions: string[];
      tickersWithHoles: number;
      holes: number;
      tickerHoles: { ticker: string; missing: string[] }[];
    };
    expect(report.missingSessions).toEqual([]);
    expect(report.expectedSessions).toBe(nyse.sessionsBetween(report.from, report.to).length);
    expect(text.stdout).toContain(`sessions: ${report.expectedSessions} expected, ${report.expectedSessions} present, 0 missing`);
    expect(text.stdout).toContain(`with holes: ${report.tickersWithHoles}, holes: ${report.holes}`);
    const daily = (await openLake(lake).read('ohlcv_1d')).toRecords();
    const have = new Set(daily.map((r) => `${r.ticker}|${iso(r.date)}`));
    for (const h of report.tickerHoles) for (const s of h.missing) expect(have.has(`${h.ticker}|${s}`)).toBe(false);
  });
});

describe('fibbars consolidate and resample', () => {
  it('consolidate commits nothing when the raw zone holds nothing new', async () => {
    const res = await cli(['consolidate', '--lake', lake, '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ sessions: 0, accepted: 0 });
  });

  it('refuses an interval the lake does not hold, then builds it with resample --days', async () => {
    const before = await listFiles(lake);
    const missing = await cli(['bars', ticker, '--days', '4', '--lake', lake]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      'fibbars: interval 4d is not configured in this lake (it holds 1, 3, 5, 8, 13, 21, 34): pass --days with one of those, or build it with "fibbars resample --days 4"\n',
    );
    expect(await listFiles(lake)).toEqual(before);
    const built = await cli(['resample', '--days', '4', '--lake', lake, '--json']);
    expect(built.code).toBe(0);
    const report = JSON.parse(built.stdout) as { bars: number; datasets: string[] };
    expect(report.datasets).toContain('ohlcv_4d');
    expect(report.bars).toBe((await openLake(lake).read('ohlcv_4d')).height);
    expect((await cli(['bars', ticker, '--days', '4', '--lake', lake])).code).toBe(0);
  }, 60_000);
});

describe('fibbars executions and describe (local)', () => {
  it('lists the run records and describes one state by state, text and --json alike', async () => {
    const list = JSON.parse((await cli(['executions', '--lake', lake, '--json'])).stdout) as { executions: { name: string; status: string }[] };
    expect(list.executions.length).toBeGreaterThanOrEqual(1);
    const name = list.executions[0]!.name;
    const text = await cli(['describe', name, '--lake', lake]);
    const json = JSON.parse((await cli(['describe', name, '--lake', lake, '--json'])).stdout) as {
      status: string;
      states: { name: string; status: string; attempts: number }[];
    };
    expect(text.code).toBe(0);
    expect(json.status).toBe('SUCCEEDED');
    expect(json.states.map((s) => s.name)).toEqual(expect.arrayContaining(['FetchOhlcv', 'Consolidate', 'Resample5d', 'PipelineSucceeded']));
    const rows = tableRows(text.stdout, 'state');
    expect(rows.map((r) => [r[0], r[1], r[2]])).toEqual(json.states.map((s) => [s.name, s.status, String(s.attempts)]));
    const listing = await cli(['executions', '--lake', lake]);
    expect(listing.stdout).toContain(name);
  });

  it('names the fix when the run does not exist', async () => {
    const res = await cli(['describe', 'no-such-run', '--lake', lake]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: no run no-such-run in this lake: list them with "fibbars executions"\n');
  });
});

describe('fibbars errors: one line, exit 2, nothing written', () => {
  it('rejects an unknown ticker', async () => {
    const before = await listFiles(lake);
    const res = await cli(['bars', 'ZZZZZZ', '--days', '5', '--lake', lake]);
    expect(res.code).toBe(2);
    expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/^fibbars: unknown ticker ZZZZZZ: .*check the symbol/);
    expect(await listFiles(lake)).toEqual(before);
  });

  it('rejects a date that is not a session, naming the sessions around it, and creates no lake', async () => {
    const fresh = path.join(dir.dir, 'never-created');
    const res = await cli(['run', '--lake', fresh, '--date', '2026-07-03']);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      'fibbars: 2026-07-03 is not an NYSE session (Friday, market closed): pass a session date, e.g. --date 2026-07-02 or --date 2026-07-06\n',
    );
    // Thanksgiving, the day after the test's today, is refused as the future it is.
    expect((await cli(['run', '--lake', fresh, '--date', '2026-11-26'])).stderr).toMatch(/^fibbars: --date 2026-11-26 is in the future/);
    expect(existsSync(fresh)).toBe(false);
  });

  it.each([
    [['run', '--date', '2027-01-04'], '--date 2027-01-04 is in the future (today is 2026-11-25 in New York): pass --date 2026-11-25 or earlier'],
    [['run', '--date', '2026-11-27'], '--date 2026-11-27 is in the future (today is 2026-11-25 in New York): pass --date 2026-11-25 or earlier'],
    [['run', '--date', '2026-13-01'], '--date "2026-13-01" is not a date: use YYYY-MM-DD, e.g. --date 2026-11-25'],
    [['run', '--aws', '--date', '2027-01-04'], '--date 2027-01-04 is in the future (today is 2026-11-25 in New York): pass --date 2026-11-25 or earlier'],
    [['backfill', '--from', '2026-11-23', '--to', '2027-01-04'], '--to 2027-01-04 is in the future (today is 2026-11-25 in New York): pass --to 2026-11-25 or earlier'],
    [['export', '--days', '1', '--to', '2027-01-04', '--out', 'OUT'], '--to 2027-01-04 is in the future (today is 2026-11-25 in New York): pass --to 2026-11-25 or earlier'],
  ])('refuses the future or impossible date of %j on a lake behind it: exit 2, one line, nothing fetched or written', async (args, message) => {
    // The lake's last session is 2026-11-20: a run for a future date used to backfill future sessions first.
    const before = await listFiles(lake);
    const out = path.join(dir.dir, 'future-export.csv');
    const res = await cli([...args.map((a) => (a === 'OUT' ? out : a)), '--lake', lake]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`fibbars: ${message}\n`);
    expect(await listFiles(lake)).toEqual(before);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses --source polygon without a key, creating no lake', async () => {
    const fresh = path.join(dir.dir, 'never-polygon');
    const res = await cli(['run', '--source', 'polygon', '--lake', fresh, '--date', RUN_DATE]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe('fibbars: --source polygon needs an API key: export POLYGON_API_KEY=<your key>, or use --source synthetic\n');
    expect(existsSync(fresh)).toBe(false);
  });

  it('rejects an interval the lake does not hold for export and plot, writing no file', async () => {
    for (const argv of [
      ['export', '--days', '7', '--format', 'csv', '--out', path.join(dir.dir, 'x.csv')],
      ['plot', ticker, '--days', '7', '--out', path.join(dir.dir, 'x.png')],
    ]) {
      const res = await cli([...argv, '--lake', lake]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/^fibbars: interval 7d is not configured in this lake .*\n$/);
    }
    expect(existsSync(path.join(dir.dir, 'x.csv'))).toBe(false);
    expect(existsSync(path.join(dir.dir, 'x.png'))).toBe(false);
  });

  it('rejects a lake that does not exist for the read commands, and creates nothing', async () => {
    const missing = path.join(dir.dir, 'no-lake');
    for (const argv of [['bars', ticker, '--days', '5'], ['gaps'], ['export', '--days', '1', '--out', path.join(dir.dir, 'y.csv')], ['executions']]) {
      const res = await cli([...argv, '--lake', missing]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/^fibbars: lake .*no-lake does not exist or (holds no committed daily history|has no runs): run "fibbars run --lake .*" first/);
      expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
    expect(existsSync(missing)).toBe(false);
    expect(existsSync(path.join(dir.dir, 'y.csv'))).toBe(false);
  });

  it('reads FIBBARS_LAKE from the environment, and a flag wins over it', async () => {
    const viaEnv = await cli(['gaps', '--json'], { env: { FIBBARS_LAKE: lake } });
    expect(viaEnv.code).toBe(0);
    const flagWins = await cli(['gaps', '--lake', path.join(dir.dir, 'no-lake')], { env: { FIBBARS_LAKE: lake } });
    expect(flagWins.code).toBe(2);
  });

  it('rejects malformed lake URIs before touching storage', async () => {
    for (const uri of ['s3://Bad_Bucket/lake', 'http://example.com/lake', 's3://']) {
      const res = await cli(['bars', ticker, '--days', '5', '--lake', uri]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(new RegExp(`^fibbars: malformed lake URI "${uri.replace(/[/.]/g, '\\$&')}": .*pass --lake \\./lake \\(a folder\\) or --lake s3://bucket/prefix\\n$`));
    }
  });
});
