/**
 * The fan-in commit of partitioned resampling (DESIGN §6, LAKE.md
 * "Partitions"): after P workers (`resampleLake` with `partition`) have
 * staged their files, one commit per interval publishes every partition's
 * files as one version, with the same create-only commit as an unpartitioned
 * run. A partition that has not staged its work for the current heads means
 * nothing is published, for any interval.
 */
import { ConfigError } from './errors.js';
import { dailyMeta } from './jobs.js';
import { DEFAULT_GC_GRACE_MS, barDataset, type Commit, type CommitFile, type Lake } from './lake.js';
import { checkPartitionCount, parseStaged, stagePrefix, type StageBasis, type StagedPartition } from './partitions.js';
import { checkOptions, unchangedReport, type ResampleIntervalReport, type ResampleLakeReport, type StoredAnchor } from './resample-lake.js';

export interface CommitPartitionsOptions {
  /** Interval(s) in sessions, as given to the workers. */
  days: number | readonly number[];
  /** The partition count P the workers ran with (>= 2). */
  partitions: number;
  runId: string;
  /** The anchor the workers stored (default `calendar`). */
  anchor?: StoredAnchor;
  now?: Date;
  /** Grace period of the gc that ends the job (default one hour); `false` skips it. */
  gcGraceMs?: number | false;
  onProgress?: (message: string) => void;
}

interface Pending {
  days: number;
  head: Commit | null;
  basis: StageBasis;
  staged: StagedPartition[];
  keys: string[];
}

/** Is the head already built from these versions, by this many partitions? */
function isCurrent(head: Commit | null, daily: Commit, splitsVersion: number, partitions: number, anchor: StoredAnchor): boolean {
  const m = head?.meta ?? null;
  return (
    m !== null &&
    m['sourceVersion'] === daily.version &&
    Number(m['splitsVersion'] ?? 0) === splitsVersion &&
    Number(m['partitions'] ?? 1) === partitions &&
    m['anchor'] === anchor
  );
}

/** Every partition's manifest for the basis, or a ConfigError naming the missing ones. */
async function collect(lake: Lake, basis: StageBasis): Promise<{ staged: StagedPartition[]; keys: string[] }> {
  const listed = await lake.store.list(stagePrefix(basis));
  const byPartition = new Map<number, { staged: StagedPartition; key: string }>();
  for (const { key } of listed) {
    if (!key.endsWith('.json')) continue;
    const staged = parseStaged(key, await lake.store.get(key));
    if (staged.count === basis.count && staged.parent === basis.parent) byPartition.set(staged.partition, { staged, key });
  }
  const missing = Array.from({ length: basis.count }, (_, i) => i).filter((i) => !byPartition.has(i));
  if (missing.length > 0) {
    throw new ConfigError(
      `${basis.dataset}: partition${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${basis.count}`).join(', ')} ` +
        `staged nothing for version ${basis.parent + 1} (ohlcv_1d v${basis.dailyVersion}, splits v${basis.splitsVersion}): ` +
        `run their resample jobs (--partition i/${basis.count}) first; nothing was committed`,
    );
  }
  const ordered = [...byPartition.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  return { staged: ordered.map((v) => v.staged), keys: ordered.map((v) => v.key) };
}

function mergedReport(p: Pending, commit: Commit | null, files: CommitFile[]): ResampleIntervalReport {
  const modes = new Set(p.staged.map((s) => s.mode));
  return {
    ...unchangedReport(p.days, commit ?? p.head),
    mode: commit === null ? 'no-change' : modes.has('full') ? 'full' : 'incremental',
    sourceVersion: p.basis.dailyVersion,
    committed: commit !== null,
    bucketsRecomputed: Math.max(0, ...p.staged.map((s) => s.bucketsRecomputed)),
    tickersRecomputed: [...new Set(p.staged.flatMap((s) => s.tickersRecomputed))].sort(),
    partitionsWritten: [...new Set(files.map((f) => f.partition ?? ''))].sort(),
    barsWritten: p.staged.reduce((n, s) => n + s.barsWritten, 0),
    bytesWritten: files.reduce((n, f) => n + f.bytes, 0),
  };
}

/** Removes the staging manifests of the dataset that a version at or after `parent + 1` has made stale. */
async function dropStale(lake: Lake, dataset: string, parent: number): Promise<void> {
  for (const { key } of await lake.store.list(`_staging/${dataset}/`)) {
    const m = /^_staging\/[^/]+\/(\d+)-/.exec(key);
    if (m && Number(m[1]) <= parent) await lake.store.delete(key);
  }
}

/**
 * Publishes the staged work of every partition as one new version per
 * interval. Throws `ConfigError` (publishing nothing, for any interval) when
 * a partition has not staged its work for the current heads (also when
 * another writer replaced a head after the workers ran: their work is for the
 * old head, re-run them), and `CommitConflictError` when a writer commits
 * while the fan-in itself is committing.
 *
 * @example
 * // after `resampleLake(lake, { days, runId, partition: { index: i, count: 4 } })` for i = 0..3:
 * await commitPartitions(lake, { days: [3, 5, 8, 13, 21, 34], partitions: 4, runId });
 */
export async function commitPartitions(lake: Lake, options: CommitPartitionsOptions): Promise<ResampleLakeReport> {
  const { intervals, anchor } = checkOptions({ days: options.days, runId: options.runId, ...(options.anchor ? { anchor: options.anchor } : {}) });
  const count = checkPartitionCount(options.partitions);
  if (count < 2) throw new ConfigError('partitions: the fan-in commit needs 2 or more partitions (with 1, resample commits by itself)');
  const [daily, splitsHead, ...heads] = await Promise.all([lake.head('ohlcv_1d'), lake.head('splits'), ...intervals.map((d) => lake.head(barDataset(d)))]);
  if (!daily || dailyMeta(daily).latestSession === null) {
    return { runId: options.runId, status: 'no-change', intervals: intervals.map((d, i) => unchangedReport(d, heads[i] ?? null)), gcDeleted: 0 };
  }
  const splitsVersion = splitsHead?.version ?? 0;
  // Every interval's manifests are checked before anything is committed.
  const pending: Array<Pending | ResampleIntervalReport> = [];
  for (const [i, days] of intervals.entries()) {
    const head = heads[i] ?? null;
    if (isCurrent(head, daily, splitsVersion, count, anchor)) {
      pending.push(unchangedReport(days, head));
      continue;
    }
    const basis: StageBasis = { dataset: barDataset(days), parent: head?.version ?? 0, dailyVersion: daily.version, splitsVersion, count };
    const found = await collect(lake, basis);
    const other = found.staged.find((st) => st.meta['anchor'] !== anchor);
    if (other) {
      throw new ConfigError(
        `${basis.dataset}: partition ${other.partition}/${count} staged ${String(other.meta['anchor'])}-anchored bars, not ${anchor}: run the partitions with the same anchor; nothing was committed`,
      );
    }
    pending.push({ days, head, basis, ...found });
  }
  const reports: ResampleIntervalReport[] = [];
  for (const p of pending) {
    if (!('basis' in p)) {
      reports.push(p);
      continue;
    }
    const files = p.staged.flatMap((s) => s.files);
    const removed = [...new Set(p.staged.flatMap((s) => s.removed))];
    let commit: Commit | null = null;
    // Nothing recomputed in any partition: no version, as an unpartitioned run would do.
    if (files.length > 0 || removed.length > 0) {
      commit = await lake.commit(p.basis.dataset, {
        parent: p.basis.parent,
        files,
        removed,
        runId: options.runId,
        meta: p.staged[0]!.meta,
        ...(options.now ? { now: options.now } : {}),
      });
    }
    await dropStale(lake, p.basis.dataset, p.basis.parent);
    options.onProgress?.(`${p.basis.dataset}: ${commit ? `version ${commit.version} from ${count} partitions` : 'no change'}`);
    reports.push({ ...mergedReport(p, commit, files), version: commit?.version ?? p.head?.version ?? null });
  }
  let gcDeleted = 0;
  if (options.gcGraceMs !== false) {
    const gc = await lake.gc({ graceMs: options.gcGraceMs ?? DEFAULT_GC_GRACE_MS, datasets: intervals.map(barDataset), ...(options.now ? { now: options.now } : {}) });
    gcDeleted = gc.deleted.length;
  }
  return { runId: options.runId, status: reports.some((r) => r.committed) ? 'committed' : 'no-change', intervals: reports, gcDeleted };
}
