/**
 * The CDK app command (`cdk.json`: `node dist/main.js`). Synthesizes offline:
 * no lookups, no Docker. The deployables the release manifest names
 * (`release.json`, or `FIBBARS_RELEASE_MANIFEST`) are referenced where they
 * were published; the others are staged from the local build as assets, which
 * `infra:diff` can show but `infra:deploy` refuses (`cli.ts`).
 */
import { requireArtifacts } from './artifacts.js';
import { createApp } from './app.js';
import { App } from 'aws-cdk-lib';
import { loadDefinition, partitionContext } from './definition.js';
import { loadReleaseManifest } from './release.js';

try {
  // `-c partitions=P` (and `-c mapMaxConcurrency=N`): the resample stage in P ticker partitions.
  const probe = new App();
  const definition = loadDefinition(partitionContext((key) => probe.node.tryGetContext(key)));
  const release = loadReleaseManifest();
  const needed = { fetchers: release?.fetchers === undefined, image: release?.['batch-runner'] === undefined };
  const artifacts = needed.fetchers || needed.image ? requireArtifacts(undefined, needed) : undefined;
  createApp({ definition, ...(artifacts ? { artifacts } : {}), ...(release ? { release } : {}) }).app.synth();
} catch (error) {
  console.error(`infra: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
