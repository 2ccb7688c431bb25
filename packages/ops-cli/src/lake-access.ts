/**
 * Read-side checks shared by the query commands: the lake exists, the
 * interval is one the lake holds, the ticker is known. Each failure is one
 * line naming the problem and the fix; none of them writes anything.
 */
import type { Dataset } from '@fibbars/ohlcv-core';
import { openStore, type ObjectStore } from '@fibbars/ohlcv-core/storage';
import type { Config } from './config.js';
import { IntervalNotConfiguredError, LakeNotFoundError, UnknownTickerError, UsageError } from './errors.js';
import { loadCore, type DataFrameLike, type LakeLike } from './seams.js';

export interface OpenedLake {
  store: ObjectStore;
  lake: LakeLike;
  /** Datasets with at least one commit, e.g. `ohlcv_1d`, `ohlcv_5d`. */
  datasets: Dataset[];
}

/** Datasets with at least one commit under `_commits/<dataset>/`. */
export async function committedDatasets(store: ObjectStore): Promise<Dataset[]> {
  const names = new Set<Dataset>();
  for (const o of await store.list('_commits/')) {
    const m = /^_commits\/([^/]+)\/\d+\.json$/.exec(o.key);
    if (m?.[1] && isDatasetName(m[1])) names.add(m[1]);
  }
  return [...names].sort(compareDatasets);
}

/** ohlcv-core's dataset names (its `isDataset`), checked here without loading Polars: ops-cli starts fast. */
function isDatasetName(name: string): name is Dataset {
  return /^ohlcv_[1-9]\d{0,3}d$/.test(name) || name === 'splits' || name === 'dividends' || name === 'tickers' || name === 'ticker_history';
}

/** Reference datasets after the price ones, in this order. */
const REFERENCE_ORDER = ['splits', 'dividends', 'tickers', 'ticker_history'];

function compareDatasets(a: string, b: string): number {
  const rank = (d: string) => intervalOf(d) ?? 10_000 + REFERENCE_ORDER.indexOf(d);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

export function intervalOf(dataset: string): number | undefined {
  const m = /^ohlcv_(\d+)d$/.exec(dataset);
  return m?.[1] ? Number(m[1]) : undefined;
}

export function intervalsIn(datasets: string[]): number[] {
  return datasets.map(intervalOf).filter((n): n is number => n !== undefined);
}

/** Opens a lake that must already hold a committed daily history. */
export async function openExistingLake(cfg: Config): Promise<OpenedLake> {
  const store = openStore(cfg.lake);
  const datasets = await committedDatasets(store);
  if (!datasets.includes('ohlcv_1d')) {
    throw new LakeNotFoundError(
      `lake ${cfg.lakeInput} does not exist or holds no committed daily history: run "fibbars run --lake ${cfg.lakeInput}" first, or point --lake / FIBBARS_LAKE at an existing lake`,
    );
  }
  const core = await loadCore();
  const lake = await core.openLake(cfg.lake);
  return { store, lake, datasets };
}

/** `ohlcv_{days}d`, provided the lake holds it. */
export function requireInterval(opened: OpenedLake, days: number): Dataset {
  const dataset = `ohlcv_${days}d` as const;
  if (!opened.datasets.includes(dataset)) {
    const have = intervalsIn(opened.datasets).join(', ');
    throw new IntervalNotConfiguredError(
      `interval ${days}d is not configured in this lake (it holds ${have || 'none'}): pass --days with one of those, or build it with "fibbars resample --days ${days}"`,
    );
  }
  return dataset;
}

export function normaliseTicker(input: string): string {
  const t = input.trim().toUpperCase();
  if (!/^[A-Z0-9][A-Z0-9.\-/]{0,19}$/.test(t)) {
    throw new UsageError(`"${input}" is not a ticker symbol: pass one like AAPL or BRK.B`);
  }
  return t;
}

/** The ticker's daily rows; unknown tickers are a usage error naming the fix. */
export async function requireTickerDaily(opened: OpenedLake, ticker: string): Promise<DataFrameLike> {
  const daily = await opened.lake.read('ohlcv_1d', { tickers: [ticker] });
  if (daily.height === 0) {
    throw new UnknownTickerError(
      `unknown ticker ${ticker}: it has no rows in the lake's daily history; check the symbol ("fibbars tickers ${ticker.slice(0, 2)}*" lists similar ones)`,
    );
  }
  return daily;
}

/** Every ticker of `tickers` has rows in the daily history; otherwise one usage error naming all that do not. */
export async function requireTickers(opened: OpenedLake, tickers: readonly string[]): Promise<void> {
  const daily = await opened.lake.read('ohlcv_1d', { tickers });
  const have = new Set(daily.getColumn('ticker').unique().toArray() as string[]);
  const unknown = [...new Set(tickers)].filter((t) => !have.has(t));
  if (unknown.length === 0) return;
  const [first] = unknown as [string];
  throw new UnknownTickerError(
    `unknown ticker${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: no rows in the lake's daily history; check the symbol${unknown.length > 1 ? 's' : ''} ("fibbars tickers ${first.slice(0, 2)}*" lists similar ones)`,
  );
}

/** Converts a Polars cell to plain JSON-able values (dates as ISO strings). */
export function plain(value: unknown): unknown {
  // Not `instanceof`: Polars builds its Dates in the main realm, which differs under a VM context (Jest).
  if (Object.prototype.toString.call(value) === '[object Date]') return (value as Date).toISOString().slice(0, 10);
  if (typeof value === 'bigint') return Number(value);
  return value;
}

export function plainRecords(df: DataFrameLike): Record<string, unknown>[] {
  return df.toRecords().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v)])));
}
