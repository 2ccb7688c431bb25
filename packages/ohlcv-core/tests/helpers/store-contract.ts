/**
 * The behaviour every ObjectStore must have, run against the folder store
 * (unit) and the S3 store on a loopback server (integration).
 */
import { describe, expect, it } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { CommitConflictError, ConfigError } from '../../src/errors.js';
import { ObjectNotFoundError, RawZone, RunStore, type ObjectStore } from '../../src/storage.js';
import { tempDir } from './temp.js';

export function describeStoreContract(name: string, makeStore: () => Promise<ObjectStore>): void {
  describe(`${name} (ObjectStore contract)`, () => {
    it('round-trips bytes and text and replaces on put', async () => {
      const store = await makeStore();
      await store.put('a/b/c.bin', new Uint8Array([1, 2, 3]));
      expect([...(await store.get('a/b/c.bin'))]).toEqual([1, 2, 3]);
      await store.put('a/b/c.bin', 'hello');
      expect((await store.get('a/b/c.bin')).toString('utf8')).toBe('hello');
      expect(await store.exists('a/b/c.bin')).toBe(true);
      expect(await store.exists('a/b/missing')).toBe(false);
      await expect(store.get('a/b/missing')).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it('creates once with putIfAbsent and throws CommitConflictError the second time, keeping the first body', async () => {
      const store = await makeStore();
      await store.putIfAbsent('_commits/x/00000000000000000001.json', 'first');
      await expect(store.putIfAbsent('_commits/x/00000000000000000001.json', 'second')).rejects.toBeInstanceOf(
        CommitConflictError,
      );
      expect((await store.get('_commits/x/00000000000000000001.json')).toString()).toBe('first');
    });

    it('treats putIfAbsent of the very bytes already stored as done (a retried write whose response was lost)', async () => {
      const store = await makeStore();
      const body = '{"version":2,"runId":"r-1"}\n';
      await store.putIfAbsent('_commits/x/00000000000000000002.json', body);
      await expect(store.putIfAbsent('_commits/x/00000000000000000002.json', body)).resolves.toBeUndefined();
      await expect(store.putIfAbsent('_commits/x/00000000000000000002.json', `${body} `)).rejects.toBeInstanceOf(
        CommitConflictError,
      );
      expect((await store.get('_commits/x/00000000000000000002.json')).toString()).toBe(body);
    });

    it('lets exactly one of many concurrent putIfAbsent calls on one key win', async () => {
      const store = await makeStore();
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.putIfAbsent('race/key.json', `writer-${i}`)),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      for (const r of lost) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(CommitConflictError);
      const winner = results.findIndex((r) => r.status === 'fulfilled');
      expect((await store.get('race/key.json')).toString()).toBe(`writer-${winner}`);
    });

    it('lists by prefix in key order with sizes, and deletes', async () => {
      const store = await makeStore();
      await store.put('l/b/2.txt', 'bb');
      await store.put('l/a/1.txt', 'a');
      await store.put('l/a/10.txt', 'aaa');
      await store.put('lx/other.txt', 'x');
      const listed = await store.list('l/');
      expect(listed.map((o) => o.key)).toEqual(['l/a/1.txt', 'l/a/10.txt', 'l/b/2.txt']);
      expect(listed.map((o) => o.size)).toEqual([1, 3, 2]);
      expect(listed.every((o) => o.lastModified instanceof Date)).toBe(true);
      expect((await store.list('l/a/1')).map((o) => o.key)).toEqual(['l/a/1.txt', 'l/a/10.txt']);
      expect(await store.list('nothing/here/')).toEqual([]);
      await store.delete('l/a/1.txt');
      await store.delete('l/a/1.txt'); // missing: not an error
      expect((await store.list('l/')).map((o) => o.key)).toEqual(['l/a/10.txt', 'l/b/2.txt']);
    });

    it('lists the folders right under a prefix, without the objects below them', async () => {
      const store = await makeStore();
      await store.put('_commits/ohlcv_5d/00000000000000000001.json', '{}');
      await store.put('_commits/ohlcv_1d/00000000000000000001.json', '{}');
      await store.put('_commits/ohlcv_1d/00000000000000000002.json', '{}');
      await store.put('_commits/stray.json', '{}');
      expect(await store.listChildren!('_commits/')).toEqual(['ohlcv_1d', 'ohlcv_5d']);
      expect(await store.listChildren!('nothing/')).toEqual([]);
    });

    it('stores an object written as a local file, and hands it back as a local file', async () => {
      const store = await makeStore();
      const { dir: cacheDir, cleanup } = await tempDir('fibbars-store-cache');
      try {
        const bytes = await store.putFile('silver/d/year=2024/part-1.parquet', (file) => writeFile(file, 'parquet bytes'));
        expect(bytes).toBe('parquet bytes'.length);
        expect((await store.get('silver/d/year=2024/part-1.parquet')).toString()).toBe('parquet bytes');
        expect((await store.list('silver/')).map((o) => o.key)).toEqual(['silver/d/year=2024/part-1.parquet']);
        const local = await store.localFile('silver/d/year=2024/part-1.parquet', cacheDir);
        expect(await readFile(local, 'utf8')).toBe('parquet bytes');
        expect(await store.localFile('silver/d/year=2024/part-1.parquet', cacheDir)).toBe(local);
        await expect(store.localFile('silver/d/year=2024/missing.parquet', cacheDir)).rejects.toThrow();
        // Nothing was left behind for the sweep.
        expect(await store.sweepTemp('silver/', new Date(Date.now() + 60_000))).toEqual([]);
      } finally {
        await cleanup();
      }
    });

    it('rejects keys that escape the root with ConfigError and writes nothing', async () => {
      const store = await makeStore();
      for (const bad of ['../x', 'a/../../x', '/abs', 'a\\b', 'a//b', './a', '']) {
        await expect(store.put(bad, 'x')).rejects.toBeInstanceOf(ConfigError);
        await expect(store.putIfAbsent(bad, 'x')).rejects.toBeInstanceOf(ConfigError);
        await expect(store.get(bad)).rejects.toBeInstanceOf(ConfigError);
      }
      await expect(store.list('../')).rejects.toBeInstanceOf(ConfigError);
      expect(await store.list('')).toEqual([]);
    });

    it('stores raw fetches, orders them by fetch id and reads them back exactly', async () => {
      const store = await makeStore();
      const raw = new RawZone(store);
      const body1 = '{"status":"OK","results":[{"T":"AAA","o":1}]}';
      const body2 = '{"status":"OK","results":[{"T":"BBB","o":2}]}';
      const first = await raw.write('ohlcv', '2024-01-02', [body1, body2], {
        requests: [{ url: 'https://api.example/v2?adjusted=false&apiKey=SECRET', status: 200, bytes: body1.length, sha256: 'x' }],
        rows: 2,
        source: 'test',
        fetchedAt: '2024-01-02T22:00:00.000Z',
      });
      const second = await raw.write('ohlcv', '2024-01-02', [body2], { requests: [], rows: 1, source: 'test', fetchedAt: '2024-01-03T01:00:00.000Z' });
      await raw.write('ohlcv', '2024-01-03', [body1], { requests: [], rows: 1, source: 'test' });
      await raw.write('splits', '2024-01-03', ['{"results":[]}'], { requests: [], rows: 0, source: 'test' });
      expect(first.fetchId).toMatch(/^20240102T220000000Z-[0-9a-f]{8}$/);
      expect(first.key).toBe(`raw/ohlcv/date=2024-01-02/${first.fetchId}.json.gz`);
      expect(await raw.read(first)).toEqual([JSON.parse(body1), JSON.parse(body2)]);
      const meta = await raw.readMeta(first);
      expect(meta).toMatchObject({ fetchId: first.fetchId, kind: 'ohlcv', session: '2024-01-02', rows: 2, source: 'test' });
      expect(meta.requests[0]?.url).not.toContain('SECRET');
      expect((await raw.latest('ohlcv', '2024-01-02'))?.fetchId).toBe(second.fetchId);
      expect(await raw.latest('ohlcv', '2024-01-04')).toBeNull();
      expect(await raw.sessions('ohlcv')).toEqual(['2024-01-02', '2024-01-03']);
      expect((await raw.list('ohlcv', { from: '2024-01-03' })).map((f) => f.session)).toEqual(['2024-01-03']);
      expect(await raw.sessions('splits')).toEqual(['2024-01-03']);
      await expect(raw.write('ohlcv', '2024-02-30', [body1], { requests: [], rows: 1, source: 't' })).rejects.toBeInstanceOf(ConfigError);
      await expect(raw.write('ohlcv', '2024-01-05', ['not json'], { requests: [], rows: 1, source: 't' })).rejects.toBeInstanceOf(ConfigError);
      expect(await raw.sessions('ohlcv')).toEqual(['2024-01-02', '2024-01-03']);
    });

    it('hides a raw data file whose meta record was never written', async () => {
      const store = await makeStore();
      await store.put('raw/ohlcv/date=2024-01-02/20240102T220000000Z-deadbeef.json.gz', 'partial');
      expect(await new RawZone(store).list('ohlcv')).toEqual([]);
    });

    it('puts, replaces, gets and lists run records', async () => {
      const store = await makeStore();
      const runs = new RunStore(store);
      await runs.put({ runId: 'run-2', status: 'running' });
      await runs.put({ runId: 'run-1', status: 'ok' });
      await runs.put({ runId: 'run-2', status: 'failed' });
      expect(await runs.get('run-2')).toEqual({ runId: 'run-2', status: 'failed' });
      expect(await runs.get('run-3')).toBeNull();
      expect((await runs.list()).map((r) => r.runId)).toEqual(['run-1', 'run-2']);
      await expect(runs.put({ runId: '../evil' })).rejects.toBeInstanceOf(ConfigError);
    });

    it('keeps a stop request beside the run record, out of the listing, until it is cleared', async () => {
      const store = await makeStore();
      const runs = new RunStore(store);
      await runs.put({ runId: 'run-1', status: 'RUNNING' });
      expect(await runs.stopRequest('run-1')).toBeNull();
      await runs.requestStop('run-1', { at: '2026-11-25T21:40:00.000Z', cause: 'wrong session' });
      expect(await runs.stopRequest('run-1')).toEqual({ runId: 'run-1', at: '2026-11-25T21:40:00.000Z', cause: 'wrong session' });
      expect(await store.exists('_runs/_stop/run-1.json')).toBe(true);
      // The record is untouched and the request is no run of its own.
      expect(await runs.get('run-1')).toEqual({ runId: 'run-1', status: 'RUNNING' });
      expect((await runs.list()).map((r) => r.runId)).toEqual(['run-1']);
      await runs.clearStop('run-1');
      expect(await runs.stopRequest('run-1')).toBeNull();
      await expect(runs.requestStop('../evil', {})).rejects.toBeInstanceOf(ConfigError);
    });
  });
}
