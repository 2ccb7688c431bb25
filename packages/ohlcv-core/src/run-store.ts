/**
 * Run records of the local engine: `_runs/<runId>.json`, and the stop
 * requests beside them under `_runs/_stop/`.
 *
 * No Polars: part of the `@fibbars/ohlcv-core/storage` entry.
 */
import { ConfigError } from './errors.js';
import { ObjectNotFoundError, type ObjectStore } from './object-store.js';


/** One pipeline run; free-form beyond `runId`. */
export interface RunRecord {
  runId: string;
  [field: string]: unknown;
}

const RUN_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

/** Run records under `_runs/<runId>.json` (replaced on each `put`). */
export class RunStore {
  constructor(readonly store: ObjectStore) {}

  private key(runId: string): string {
    if (typeof runId !== 'string' || !RUN_ID_RE.test(runId) || runId.includes('..')) {
      throw new ConfigError(`run id ${JSON.stringify(runId)} is not valid (letters, digits, . _ : -)`);
    }
    return `_runs/${runId}.json`;
  }

  async put(record: RunRecord): Promise<void> {
    await this.store.put(this.key(record.runId), `${JSON.stringify(record, null, 2)}\n`);
  }

  async get(runId: string): Promise<RunRecord | null> {
    try {
      return JSON.parse((await this.store.get(this.key(runId))).toString('utf8')) as RunRecord;
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return null;
      throw error;
    }
  }

  /**
   * Asks the process running `runId` to stop it: a separate object under
   * `_runs/_stop/`, so it never races the holder's writes of the record. The
   * holder reads it at its next heartbeat and ends the run ABORTED.
   */
  async requestStop(runId: string, request: Record<string, unknown>): Promise<void> {
    await this.store.put(this.stopKey(runId), `${JSON.stringify({ runId, ...request }, null, 2)}\n`);
  }

  /** The pending stop request of a run, or `null`. */
  async stopRequest(runId: string): Promise<Record<string, unknown> | null> {
    try {
      return JSON.parse((await this.store.get(this.stopKey(runId))).toString('utf8')) as Record<string, unknown>;
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return null;
      throw error;
    }
  }

  async clearStop(runId: string): Promise<void> {
    await this.store.delete(this.stopKey(runId));
  }

  private stopKey(runId: string): string {
    return this.key(runId).replace(/^_runs\//, '_runs/_stop/');
  }

  /** Every run record, by run id. */
  async list(): Promise<RunRecord[]> {
    const objects = (await this.store.list('_runs/')).filter((o) => /^_runs\/[^/]+\.json$/.test(o.key));
    const records = await Promise.all(
      objects.map(async (o) => {
        try {
          return JSON.parse((await this.store.get(o.key)).toString('utf8')) as RunRecord;
        } catch (error) {
          if (error instanceof ObjectNotFoundError) return null;
          throw error;
        }
      }),
    );
    return records.filter((r): r is RunRecord => r !== null);
  }
}
