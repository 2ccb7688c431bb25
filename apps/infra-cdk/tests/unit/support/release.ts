/** A release manifest as the publish targets write it (tools/release/src/manifest.mjs). */
import type { ReleaseManifest } from '../../../src/release.js';

const hex = (c: string) => c.repeat(64);

export function sampleRelease(overrides: { fetchersVersion?: string; ohlcvSha?: string; digest?: string } = {}): ReleaseManifest {
  const version = overrides.fetchersVersion ?? '0.1.0';
  const ohlcvSha = overrides.ohlcvSha ?? hex('a');
  return {
    schemaVersion: 1,
    fetchers: {
      version,
      bucket: 'fibbars-artifacts-123456789012-us-east-1',
      lambdas: {
        ohlcv: { key: `fetchers/${version}/ohlcv-${ohlcvSha}.zip`, sha256: ohlcvSha, bytes: 1234 },
        meta: { key: `fetchers/${version}/meta-${hex('b')}.zip`, sha256: hex('b'), bytes: 2345 },
      },
      publishedAt: '2026-12-02T19:00:00.000Z',
    },
    'batch-runner': {
      version: '0.1.0',
      repository: '123456789012.dkr.ecr.us-east-1.amazonaws.com/fibbars/batch-runner',
      tag: '0.1.0',
      digest: overrides.digest ?? `sha256:${hex('c')}`,
      publishedAt: '2026-12-02T19:00:00.000Z',
    },
  };
}
