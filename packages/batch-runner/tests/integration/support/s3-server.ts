// The workspace's S3 test server (@fibbars/testing: fauxqs on loopback,
// `If-None-Match: *` answered with 412 as S3 does) for jobs run as child
// processes, plus a rival writer: for the datasets in `rivalFor`, another
// writer publishes the very commit the job is about to create just before the
// job's conditional PUT is checked, the race the commit protocol exists for.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startS3Server, type TestS3Server } from '@fibbars/testing';

export interface TestS3 extends TestS3Server {
  /** Datasets whose commits a rival writer beats, each time (e.g. `ohlcv_1d`). */
  rivalFor: Set<string>;
  /** Commit keys the rival published. */
  rivalCommits: string[];
}

export async function startS3(): Promise<TestS3> {
  const server = await startS3Server();
  const { bucket, client } = server;
  const rivalFor = new Set<string>();
  const rivalCommits: string[] = [];

  // The rival publishes version v as a copy of version v-1 (same files, its own
  // run id): the head moves, the data does not, so the job's retry meets the same race.
  async function publishRival(key: string, dataset: string, version: number): Promise<void> {
    let parent: Record<string, unknown> = { dataset, files: [], quarantine: [], meta: {} };
    if (version > 1) {
      const parentKey = key.replace(/\d{20}\.json$/, `${String(version - 1).padStart(20, '0')}.json`);
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: parentKey }));
      parent = JSON.parse(await object.Body!.transformToString()) as Record<string, unknown>;
    }
    const rival = { ...parent, version, parent: version - 1, runId: 'rival-writer', createdAt: new Date().toISOString() };
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${JSON.stringify(rival, null, 2)}\n` }));
    rivalCommits.push(key);
  }

  server.onConditionalPut(async ({ path, exists }) => {
    const commit = /^\/[^/]+\/(.*_commits\/([^/]+)\/(\d{20})\.json)$/.exec(path);
    if (commit && rivalFor.has(commit[2] ?? '') && !(await exists())) {
      await publishRival(commit[1] ?? '', commit[2] ?? '', Number(commit[3]));
    }
  });

  // The job's SDK makes one attempt per request: a 412 reaches the commit protocol at once.
  return Object.assign(server, { env: { ...server.env, AWS_MAX_ATTEMPTS: '1' }, rivalFor, rivalCommits });
}
