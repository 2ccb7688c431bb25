import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import aslValidator from 'asl-validator';
import { FETCHER_ERROR_NAMES } from '@fibbars/fetchers/errors';
import {
  buildDefinition,
  DEFAULT_INTERVALS,
  GOLDEN_DEFINITION_PATH,
  GOLDEN_PARTITIONED_DEFINITION_PATH,
  readGoldenDefinition,
  substitute,
  SUBSTITUTION_KEYS,
  type StateMachineDefinition,
} from '../../src/index.js';

type Node = { [key: string]: unknown };

/** Every state of a definition, branches included, with the path of names that leads to it. */
function allStates(def: { States: Record<string, unknown> }, trail: string[] = []): [string, Node, string[]][] {
  const out: [string, Node, string[]][] = [];
  for (const [name, raw] of Object.entries(def.States)) {
    const state = raw as Node;
    out.push([name, state, trail]);
    for (const branch of (state.Branches as { States: Record<string, unknown> }[] | undefined) ?? []) {
      out.push(...allStates(branch, [...trail, name]));
    }
    const processor = state.ItemProcessor as { States: Record<string, unknown> } | undefined;
    if (processor) out.push(...allStates(processor, [...trail, name]));
  }
  return out;
}

const stateByName = (def: StateMachineDefinition, name: string): Node => {
  const hit = allStates(def).find(([n]) => n === name);
  if (!hit) throw new Error(`no state ${name}`);
  return hit[1];
};

// The service integrations this pipeline may use, spelled as AWS spells them.
const ALLOWED_RESOURCES = new Set([
  'arn:aws:states:::lambda:invoke',
  'arn:aws:states:::batch:submitJob.sync',
  'arn:aws:states:::sns:publish',
]);

describe('the partitioned definition (P > 1)', () => {
  it('has its golden file equal to the generated definition and valid by asl-validator, ARNs and paths checked', () => {
    const def = buildDefinition({ partitions: 4 });
    expect(readFileSync(GOLDEN_PARTITIONED_DEFINITION_PATH, 'utf8')).toBe(`${JSON.stringify(def, null, 2)}\n`);
    const { isValid, errorsText } = aslValidator(def, { checkArn: true, checkPaths: true });
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  it('lists the partitions once, then per interval a Distributed Map of partition jobs followed by the fan-in commit, all inside Resample', () => {
    const def = buildDefinition({ intervals: [3, 5], partitions: 4, maxConcurrency: 2 });
    expect(def.States.Consolidate?.Next).toBe('ListPartitions');
    expect(def.States.ListPartitions).toMatchObject({ Type: 'Pass', Result: ['0/4', '1/4', '2/4', '3/4'], ResultPath: '$.partitions', Next: 'Resample' });
    expect(def.States.Resample?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'ResampleFailed' }]);
    const branches = def.States.Resample?.Branches as { StartAt: string; States: Record<string, Node> }[];
    expect(branches.map((b) => [b.StartAt, Object.keys(b.States)])).toEqual([
      ['Resample3d', ['Resample3d', 'Commit3dPartitions']],
      ['Resample5d', ['Resample5d', 'Commit5dPartitions']],
    ]);
    const map = branches[1]!.States.Resample5d!;
    expect(map).toMatchObject({ Type: 'Map', ItemsPath: '$.partitions', MaxConcurrency: 2, Next: 'Commit5dPartitions' });
    const processor = map.ItemProcessor as { ProcessorConfig: Node; States: Record<string, Node> };
    expect(processor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    const worker = processor.States.Resample5dPartition!;
    expect((worker.Parameters as Node).ContainerOverrides).toMatchObject({ 'Command.$': "States.Array('resample', '--days', '5', '--partition', $.partition)" });
    const commit = branches[1]!.States.Commit5dPartitions!;
    expect(commit).toMatchObject({ Resource: 'arn:aws:states:::batch:submitJob.sync', End: true });
    expect((commit.Parameters as Node).ContainerOverrides).toMatchObject({ Command: ['commit-partitions', '--days', '5', '--partitions', '4'] });
  });

  it('keeps P = 1 the unpartitioned topology, and rejects a bad partition count or concurrency', () => {
    expect(buildDefinition({ partitions: 1 })).toEqual(buildDefinition());
    expect(buildDefinition({ partitions: 4 }).States.Resample).not.toEqual(buildDefinition().States.Resample);
    expect(() => buildDefinition({ partitions: 0 })).toThrow(/partitions: 0 is not a whole number/);
    expect(() => buildDefinition({ partitions: 2.5 })).toThrow(/partitions: 2.5/);
    expect(() => buildDefinition({ partitions: 4, maxConcurrency: 0 })).toThrow(/maxConcurrency: 0/);
    expect(() => buildDefinition({ maxConcurrency: 2 })).toThrow(/partitions > 1 only/);
  });
});

describe('the golden state_machine_definition.json', () => {
  it('equals the definition generated from code (regenerate with `pnpm golden` and review the diff)', () => {
    const onDisk = readFileSync(GOLDEN_DEFINITION_PATH, 'utf8');
    expect(onDisk).toBe(`${JSON.stringify(buildDefinition(), null, 2)}\n`);
  });

  it('is valid Amazon States Language by asl-validator, ARNs and paths checked', () => {
    const { isValid, errorsText } = aslValidator(readGoldenDefinition(), { checkArn: true, checkPaths: true });
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  it('uses only correctly spelled service integration ARNs (asl-validator accepts misspelled ones)', () => {
    const tasks = allStates(readGoldenDefinition()).filter(([, s]) => s.Type === 'Task');
    const byName = Object.fromEntries(tasks.map(([name, state]) => [name, state.Resource]));
    expect(byName).toEqual({
      FetchOhlcv: 'arn:aws:states:::lambda:invoke',
      FetchMeta: 'arn:aws:states:::lambda:invoke',
      Consolidate: 'arn:aws:states:::batch:submitJob.sync',
      ...Object.fromEntries(DEFAULT_INTERVALS.map((d) => [`Resample${d}d`, 'arn:aws:states:::batch:submitJob.sync'])),
      NotifyFailure: 'arn:aws:states:::sns:publish',
    });
    for (const [, state] of tasks) expect(ALLOWED_RESOURCES.has(state.Resource as string)).toBe(true);
  });

  it('detects a misspelled integration ARN that asl-validator lets through', () => {
    const broken = readGoldenDefinition();
    (broken.States.Consolidate as Node).Resource = 'arn:aws:states:::batch:submitJobs.sync';
    expect(aslValidator(broken, { checkArn: true, checkPaths: true }).isValid).toBe(true);
    const resources = allStates(broken).filter(([, s]) => s.Type === 'Task').map(([, s]) => s.Resource as string);
    expect(resources.filter((r) => !ALLOWED_RESOURCES.has(r))).toEqual(['arn:aws:states:::batch:submitJobs.sync']);
  });

  it('uses every substitution key, and no other placeholder', () => {
    const text = readFileSync(GOLDEN_DEFINITION_PATH, 'utf8');
    const used = new Set([...text.matchAll(/\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1]));
    expect([...used].sort()).toEqual([...SUBSTITUTION_KEYS].sort());
  });
});

describe('buildDefinition', () => {
  it('links FetchAll -> Consolidate -> Resample -> PipelineSucceeded, every stage caught into its own failure state', () => {
    const def = buildDefinition();
    expect(def.StartAt).toBe('FetchAll');
    expect(def.States.FetchAll?.Next).toBe('Consolidate');
    expect(def.States.Consolidate?.Next).toBe('Resample');
    expect(def.States.Resample?.Next).toBe('PipelineSucceeded');
    expect(def.States.PipelineSucceeded?.Type).toBe('Succeed');
    for (const stage of ['FetchAll', 'Consolidate', 'Resample']) {
      expect(def.States[stage]?.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: `${stage}Failed` }]);
      expect(def.States[`${stage}Failed`]?.Next).toBe('ShapeAlert');
    }
    expect(def.States.ShapeAlert?.Next).toBe('ClassifyFailure');
    for (const last of ['PlainCause', 'FormatJobFailure', 'FormatFunctionFailure']) expect(def.States[last]?.Next).toBe('NotifyFailure');
    expect(def.States.NotifyFailure?.Next).toBe('PipelineFailed');
    expect(def.States.PipelineFailed?.Type).toBe('Fail');
  });

  it('retries the fetchers on Lambda service errors and the imported fetcher error names, 2 times from 3 s with full jitter', () => {
    const def = buildDefinition();
    for (const name of ['FetchOhlcv', 'FetchMeta']) {
      expect(stateByName(def, name).Retry).toEqual([
        {
          ErrorEquals: [
            'Lambda.ServiceException',
            'Lambda.AWSLambdaException',
            'Lambda.SdkClientException',
            'Lambda.TooManyRequestsException',
            FETCHER_ERROR_NAMES.RateLimitedError,
            FETCHER_ERROR_NAMES.UpstreamUnavailableError,
          ],
          IntervalSeconds: 3,
          MaxAttempts: 2,
          BackoffRate: 2,
          JitterStrategy: 'FULL',
        },
      ]);
    }
  });

  it('retries Consolidate once after 60 s only when SubmitJob itself failed: a failed job is States.TaskFailed, which Batch already retried', () => {
    const retry = buildDefinition().States.Consolidate?.Retry as { ErrorEquals: string[] }[];
    expect(retry).toEqual([
      { ErrorEquals: ['Batch.AWSBatchException', 'Batch.ServerException', 'Batch.TooManyRequestsException'], IntervalSeconds: 60, MaxAttempts: 1, BackoffRate: 1 },
    ]);
    // What AWS sends for a job that ended FAILED must not be retried by the state machine.
    for (const r of retry) expect(r.ErrorEquals).not.toEqual(expect.arrayContaining(['States.TaskFailed']));
    for (const r of retry) expect(r.ErrorEquals).not.toEqual(expect.arrayContaining(['States.ALL']));
  });

  it('generates one resample branch per interval, in order, with no retry by default', () => {
    const def = buildDefinition({ intervals: [2, 7] });
    const branches = def.States.Resample?.Branches as { StartAt: string; States: Record<string, Node> }[];
    expect(branches.map((b) => b.StartAt)).toEqual(['Resample2d', 'Resample7d']);
    const task = branches[1]?.States.Resample7d as Node;
    expect(task.Retry).toBeUndefined();
    expect((task.Parameters as Node).ContainerOverrides).toMatchObject({ Command: ['resample', '--days', '7'] });
    expect(task.ResultSelector).toMatchObject({ days: 7 });
  });

  it('makes every retry policy configurable', () => {
    const retrier = { ErrorEquals: ['States.ALL'], IntervalSeconds: 5, MaxAttempts: 4 };
    const def = buildDefinition({ retry: { resample: [retrier], fetch: [], consolidate: [retrier] } });
    expect(stateByName(def, 'Resample21d').Retry).toEqual([retrier]);
    expect(stateByName(def, 'FetchOhlcv').Retry).toBeUndefined();
    expect(def.States.Consolidate?.Retry).toEqual([retrier]);
  });

  it('rejects an empty, duplicated or non-integer interval list', () => {
    expect(() => buildDefinition({ intervals: [] })).toThrow(/at least one interval/);
    expect(() => buildDefinition({ intervals: [3, 3] })).toThrow(/3 is listed twice/);
    expect(() => buildDefinition({ intervals: [2.5] })).toThrow(/2.5 is not an integer/);
    expect(() => buildDefinition({ intervals: [1] })).toThrow(/1 is not an integer session count >= 2/);
  });

  it('passes pointers only: lake, run id and sessions to the jobs, never rows', () => {
    const params = buildDefinition().States.Consolidate?.Parameters as Node;
    expect(params.ContainerOverrides).toEqual({
      Command: ['consolidate'],
      Environment: [
        { Name: 'FIBBARS_LAKE', Value: '${LakeUri}' },
        { Name: 'FIBBARS_RUN_ID', 'Value.$': '$$.Execution.Name' },
        { Name: 'FIBBARS_SESSIONS', 'Value.$': 'States.JsonToString($.fetch.ohlcv.sessions)' },
      ],
    });
  });
});

describe('substitute', () => {
  const values = Object.fromEntries(SUBSTITUTION_KEYS.map((k) => [k, `arn:local:${k}`])) as Record<
    (typeof SUBSTITUTION_KEYS)[number],
    string
  >;

  it('fills every placeholder and JSON-escapes the values', () => {
    const text = substitute(readFileSync(GOLDEN_DEFINITION_PATH, 'utf8'), { ...values, LakeUri: 'C:\\lake "x"' });
    expect(text).not.toMatch(/\$\{/);
    const def = JSON.parse(text) as StateMachineDefinition;
    expect((def.States.FetchAll?.Parameters as Node).target).toEqual({ lake: 'C:\\lake "x"' });
  });

  it('refuses a missing value', () => {
    expect(() => substitute('{}', { ...values, AlertTopicArn: '' })).toThrow('substitution AlertTopicArn has no value');
  });
});
