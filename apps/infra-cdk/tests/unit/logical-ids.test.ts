/**
 * The logical ids of the resources that hold state. CloudFormation replaces a
 * resource whose logical id changes: a new, empty lake bucket (the old one is
 * retained, orphaned), a new secret without the API key, new log groups
 * without the history, a new state machine without its execution history.
 * Moving a resource into another part, renaming a construct id or wrapping
 * resources in a construct changes the id, and fails here. Change this list
 * only together with a migration plan (README.md, "Stack layout").
 */
import { describe, it, expect, beforeAll } from '@jest/globals';
import { Template } from 'aws-cdk-lib/assertions';
import { createApp } from '../../src/app.js';
import { loadDefinition } from '../../src/definition.js';
import type { EnvironmentName } from '../../src/names.js';
import { standInArtifacts } from './support/synth.js';

/** Every resource type that holds state; the template may hold no other resource of these types. */
const STATEFUL_TYPES = [
  'AWS::S3::Bucket',
  'AWS::DynamoDB::Table',
  'AWS::Logs::LogGroup',
  'AWS::StepFunctions::StateMachine',
  'AWS::SNS::Topic',
  'AWS::ECR::Repository',
  'AWS::SecretsManager::Secret',
  'AWS::KMS::Key',
] as const;

interface Pinned {
  readonly id: string;
  readonly type: (typeof STATEFUL_TYPES)[number];
  /** Properties that identify the resource, so an id cannot silently move to a sibling. */
  readonly properties: (env: EnvironmentName) => Record<string, unknown>;
}

const ref = (id: string) => ({ Ref: id });

// The ids of the deployed stacks (the same in dev and prod). The pipeline has
// no DynamoDB table and no ECR repository of its own (the image goes to the
// CDK bootstrap repository); the type list above makes adding one fail here
// until its id is pinned.
const PINNED: readonly Pinned[] = [
  {
    id: 'LakeBucket9CD7BBD2',
    type: 'AWS::S3::Bucket',
    properties: (env) => ({
      BucketName: { 'Fn::Join': ['', [`${env}-fibbars-lake-`, ref('AWS::AccountId'), '-', ref('AWS::Region')]] },
      VersioningConfiguration: { Status: 'Enabled' },
    }),
  },
  {
    id: 'AccessLogsBucket83982689',
    type: 'AWS::S3::Bucket',
    properties: () => ({ LifecycleConfiguration: { Rules: [{ Id: 'expire-access-logs', ExpirationInDays: 90, Status: 'Enabled' }] } }),
  },
  { id: 'PolygonApiKey6F04964B', type: 'AWS::SecretsManager::Secret', properties: (env) => ({ Name: `${env}-fibbars/polygon-api-key` }) },
  { id: 'OhlcvLogGroupCBAD2AB4', type: 'AWS::Logs::LogGroup', properties: (env) => ({ LogGroupName: `/aws/lambda/${env}-fibbars-ohlcv` }) },
  { id: 'MetaLogGroup99183111', type: 'AWS::Logs::LogGroup', properties: (env) => ({ LogGroupName: `/aws/lambda/${env}-fibbars-meta` }) },
  { id: 'VpcFlowLogGroup86559C69', type: 'AWS::Logs::LogGroup', properties: (env) => ({ LogGroupName: `/${env}-fibbars/vpc-flow-logs` }) },
  { id: 'JobLogGroupC9C362EB', type: 'AWS::Logs::LogGroup', properties: (env) => ({ LogGroupName: `/aws/batch/${env}-fibbars` }) },
  {
    id: 'StateMachineLogGroup15B91BCB',
    type: 'AWS::Logs::LogGroup',
    properties: (env) => ({ LogGroupName: `/aws/vendedlogs/states/${env}-fibbars-daily-pipeline` }),
  },
  { id: 'AlertKeyC50D0A1D', type: 'AWS::KMS::Key', properties: () => ({ EnableKeyRotation: true }) },
  {
    id: 'AlertTopic2720D535',
    type: 'AWS::SNS::Topic',
    properties: (env) => ({ TopicName: `${env}-fibbars-alerts`, KmsMasterKeyId: { 'Fn::GetAtt': ['AlertKeyC50D0A1D', 'Arn'] } }),
  },
  {
    id: 'StateMachine2E01A3A5',
    type: 'AWS::StepFunctions::StateMachine',
    properties: (env) => ({ StateMachineName: `${env}-fibbars-daily-pipeline` }),
  },
];

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

const templates = {} as Record<EnvironmentName, Template>;

beforeAll(() => {
  const { stacks } = createApp({ definition: loadDefinition(), artifacts: standInArtifacts(), cloudFormationValidation: false });
  const [dev, prod] = stacks;
  if (dev === undefined || prod === undefined) throw new Error('expected the dev and the prod stack');
  templates.dev = Template.fromStack(dev);
  templates.prod = Template.fromStack(prod);
});

describe.each([['dev'], ['prod']] as const)('the stateful resources of %s-fibbars', (env) => {
  const resources = (): Resources => (templates[env].toJSON() as { Resources: Resources }).Resources;

  it('are exactly the pinned ones, under their pinned logical ids', () => {
    const stateful = Object.entries(resources())
      .filter(([, resource]) => (STATEFUL_TYPES as readonly string[]).includes(resource.Type))
      .map(([id, resource]) => `${resource.Type} ${id}`)
      .sort();
    expect(stateful).toEqual(PINNED.map((p) => `${p.type} ${p.id}`).sort());
  });

  it.each(PINNED.map((p) => [p.id, p] as const))('%s is still the resource it was', (_id, pinned) => {
    const resource = resources()[pinned.id];
    expect(resource?.Type).toBe(pinned.type);
    expect(resource?.Properties).toMatchObject(pinned.properties(env));
  });

  it('keeps the lake bucket and its access logs when the stack or the resource goes', () => {
    for (const id of ['LakeBucket9CD7BBD2', 'AccessLogsBucket83982689']) {
      expect(resources()[id]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });
});
