/**
 * The CDK app command (`cdk.json`: `node dist/main.js`). Synthesizes offline:
 * no lookups, no Docker (the image is only staged as an asset here).
 */
import { requireArtifacts } from './artifacts.js';
import { createApp } from './app.js';
import { loadDefinition } from './definition.js';

try {
  const definition = loadDefinition();
  const artifacts = requireArtifacts();
  createApp({ definition, artifacts }).app.synth();
} catch (error) {
  console.error(`infra: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
