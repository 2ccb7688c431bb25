import { describe, it, expect, beforeAll } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { createApp, type FibbarsApp } from '../../src/app.js';
import { loadDefinition } from '../../src/definition.js';
import { awsSolutionsChecks } from '../../src/nag.js';
import { standInArtifacts } from './support/synth.js';

// The app exactly as `cdk synth` builds it: both environments, cdk-nag
// registered as a validation plugin, CloudFormation's own validation on.
let built: FibbarsApp;
let outdir: string;
let missingContext: unknown[];

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'fibbars-nag-'));
  built = createApp({ definition: loadDefinition(), artifacts: standInArtifacts(), outdir });
  missingContext = built.app.synth().manifest.missing ?? [];
});

describe('synthesis', () => {
  it('needs no lookup: no missing context, environment-agnostic stacks', () => {
    expect(missingContext).toEqual([]);
    expect(built.stacks.map((s) => s.environment)).toEqual([
      'aws://unknown-account/unknown-region',
      'aws://unknown-account/unknown-region',
    ]);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds no unacknowledged error or warning in either environment', () => {
    const report = awsSolutionsChecks().validateScope(built.app);
    expect(report.violations).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('lets synthesis through with an empty validation report (cdk-nag and CloudFormation rules)', () => {
    const path = join(outdir, 'validation-report.json');
    expect(existsSync(path)).toBe(true);
    expect(JSON.parse(readFileSync(path, 'utf8')).pluginReports).toEqual([]);
    expect(existsSync(join(outdir, 'prod-fibbars.template.json'))).toBe(true);
    expect(existsSync(join(outdir, 'dev-fibbars.template.json'))).toBe(true);
  });

  it('carries a reason on every acknowledgment, scoped to named findings for IAM5', () => {
    const acknowledged: { path: string; id: string; reason: unknown }[] = [];
    for (const construct of built.app.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) {
          acknowledged.push({ path: construct.node.path, id, reason });
        }
      }
    }
    const nag = acknowledged.filter((a) => a.id.includes('AwsSolutions-'));
    expect(nag.length).toBeGreaterThan(0);
    for (const a of nag) {
      expect(typeof a.reason).toBe('string');
      expect((a.reason as string).length).toBeGreaterThan(20);
      // A blanket IAM5 acknowledgment would hide any new wildcard: only findings.
      if (a.id.includes('IAM5')) expect(a.id).toMatch(/AwsSolutions-IAM5\[(Resource|Action)::.+\]$/);
    }
    const rules = [...new Set(nag.map((a) => a.id.replace(/^Annotation::/, '').replace(/\[.*$/, '')))].sort();
    expect(rules).toEqual(['AwsSolutions-IAM5', 'AwsSolutions-S1', 'AwsSolutions-SMG4']);
  });

  it('does report a resource that breaks the rules (the pack is live)', () => {
    const app = new App({ builtinCloudFormationValidation: false });
    new s3.Bucket(new Stack(app, 'Careless'), 'Bucket');
    const report = awsSolutionsChecks().validateScope(app);
    const rules = report.violations.map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
    Validations.of(app).addPlugins(awsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
  });
});
