import { describe, it, expect, beforeAll } from '@jest/globals';
import { App } from 'aws-cdk-lib';
import { buildDefinition, readGoldenDefinition, substitute, type Substitutions } from '@fibbars/asl-definition';
import { SUBSTITUTION_KEYS, checkPlaceholders, loadDefinition, placeholdersOf } from '../../src/definition.js';
import { resolveSettings } from '../../src/settings.js';
import { FibbarsStack } from '../../src/stack.js';
import { resourcesOf, standInArtifacts, synthesize, type Synthesized } from './support/synth.js';

let synth: Synthesized;
let definitionString: string;
let substitutions: Record<string, unknown>;

beforeAll(() => {
  synth = synthesize({ env: 'prod' });
  const machine = Object.values(resourcesOf(synth.template, 'AWS::StepFunctions::StateMachine'))[0];
  const props = machine?.Properties as { DefinitionString: unknown; DefinitionSubstitutions: Record<string, unknown> };
  if (typeof props.DefinitionString !== 'string') throw new Error('DefinitionString is not a plain string');
  definitionString = props.DefinitionString;
  substitutions = props.DefinitionSubstitutions;
});

/** A CloudFormation value rendered as a unique string, so substitution can be compared textually. */
const render = (value: unknown): string => `{{${JSON.stringify(value)}}}`;

function renderAll(values: Record<string, unknown>): Substitutions {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, render(v)])) as Substitutions;
}

type State = { Type: string; Resource?: string; Parameters?: Record<string, unknown>; Branches?: { States: Record<string, State> }[] };

function tasksOf(states: Record<string, State>): State[] {
  return Object.values(states).flatMap((state) => [
    ...(state.Type === 'Task' ? [state] : []),
    ...(state.Branches ?? []).flatMap((branch) => tasksOf(branch.States)),
  ]);
}

describe('the deployed state machine definition', () => {
  it('is the golden file of @fibbars/asl-definition, placeholders intact', () => {
    expect(JSON.parse(definitionString)).toEqual(readGoldenDefinition());
  });

  it('is what buildDefinition() generates today (the golden file is not stale)', () => {
    expect(JSON.parse(definitionString)).toEqual(buildDefinition());
  });

  it('fills exactly the placeholders asl-definition declares', () => {
    expect(Object.keys(substitutions).sort()).toEqual([...SUBSTITUTION_KEYS].sort());
    expect(placeholdersOf(JSON.parse(definitionString))).toEqual([...SUBSTITUTION_KEYS].sort());
  });

  it('maps each placeholder to the resource that plays that part', () => {
    const { stack } = synth;
    expect(substitutions).toEqual({
      OhlcvFunctionArn: stack.resolve(stack.ohlcvFunction.functionArn),
      MetaFunctionArn: stack.resolve(stack.metaFunction.functionArn),
      JobQueueArn: stack.resolve(stack.jobQueue.jobQueueArn),
      ConsolidateJobDefinitionArn: stack.resolve(stack.consolidateJob.jobDefinitionArn),
      ResampleJobDefinitionArn: stack.resolve(stack.resampleJob.jobDefinitionArn),
      AlertTopicArn: stack.resolve(stack.alertTopic.topicArn),
      LakeUri: stack.resolve(stack.lakeUri),
      JobLogGroupName: stack.resolve(stack.jobLogGroup.logGroupName),
      OhlcvLogGroupName: stack.resolve(stack.ohlcvLogGroup.logGroupName),
      MetaLogGroupName: stack.resolve(stack.metaLogGroup.logGroupName),
    });
    expect(substitutions.LakeUri).toEqual({
      'Fn::Join': ['', ['s3://', stack.resolve(stack.lakeBucket.bucketName), '/lake']],
    });
  });

  it('equals the asl-definition JSON once both are substituted with the same values', () => {
    const { stack } = synth;
    const expected = substitute(
      JSON.stringify(buildDefinition()),
      renderAll({
        OhlcvFunctionArn: stack.resolve(stack.ohlcvFunction.functionArn),
        MetaFunctionArn: stack.resolve(stack.metaFunction.functionArn),
        JobQueueArn: stack.resolve(stack.jobQueue.jobQueueArn),
        ConsolidateJobDefinitionArn: stack.resolve(stack.consolidateJob.jobDefinitionArn),
        ResampleJobDefinitionArn: stack.resolve(stack.resampleJob.jobDefinitionArn),
        AlertTopicArn: stack.resolve(stack.alertTopic.topicArn),
        LakeUri: stack.resolve(stack.lakeUri),
        JobLogGroupName: stack.resolve(stack.jobLogGroup.logGroupName),
        OhlcvLogGroupName: stack.resolve(stack.ohlcvLogGroup.logGroupName),
        MetaLogGroupName: stack.resolve(stack.metaLogGroup.logGroupName),
      }),
    );
    const deployed = substitute(definitionString, renderAll(substitutions));
    expect(JSON.parse(deployed)).toEqual(JSON.parse(expected));
    expect(deployed).not.toMatch(/\$\{[A-Za-z]+\}/);
  });

  it('uses only integrations the state machine role allows, on exactly the resources it names', () => {
    const deployed = JSON.parse(substitute(definitionString, renderAll(substitutions))) as { States: Record<string, State> };
    const tasks = tasksOf(deployed.States);
    const roles = resourcesOf(synth.template, 'AWS::IAM::Role');
    const smRoleArn = (Object.values(resourcesOf(synth.template, 'AWS::StepFunctions::StateMachine'))[0]?.Properties as {
      RoleArn: { 'Fn::GetAtt': [string, string] };
    }).RoleArn;
    const role = roles[smRoleArn['Fn::GetAtt'][0]]?.Properties as {
      Policies: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } }[];
    };
    const statements = role.Policies.flatMap((p) => p.PolicyDocument.Statement);
    const allowed = (action: string): string[] =>
      statements
        .filter((s) => ([] as string[]).concat(s.Action).includes(action))
        .flatMap((s) => ([] as unknown[]).concat(s.Resource))
        .map(render);

    const integrations = new Set(tasks.map((t) => t.Resource));
    expect([...integrations].sort()).toEqual([
      'arn:aws:states:::batch:submitJob.sync',
      'arn:aws:states:::lambda:invoke',
      'arn:aws:states:::sns:publish',
    ]);
    for (const task of tasks) {
      const p = task.Parameters ?? {};
      if (task.Resource === 'arn:aws:states:::lambda:invoke') {
        expect(allowed('lambda:InvokeFunction')).toContain(p.FunctionName);
      } else if (task.Resource === 'arn:aws:states:::batch:submitJob.sync') {
        expect(allowed('batch:SubmitJob')).toContain(p.JobQueue);
        expect(allowed('batch:SubmitJob')).toContain(p.JobDefinition);
      } else {
        expect(allowed('sns:Publish')).toContain(p.TopicArn);
      }
    }
    // And nothing beyond what the tasks use.
    const functions = new Set(tasks.flatMap((t) => (t.Parameters?.FunctionName ? [t.Parameters.FunctionName] : [])));
    expect(new Set(allowed('lambda:InvokeFunction'))).toEqual(functions);
    const batchTargets = new Set(
      tasks.flatMap((t) => (t.Parameters?.JobQueue ? [t.Parameters.JobQueue, t.Parameters.JobDefinition] : [])),
    );
    expect(new Set(allowed('batch:SubmitJob'))).toEqual(batchTargets);
  });
});

describe('checkPlaceholders', () => {
  it('accepts the golden definition', () => {
    expect(() => checkPlaceholders(loadDefinition())).not.toThrow();
  });

  it('refuses a definition with a placeholder the stack does not fill, naming it', () => {
    const definition = { ...buildDefinition(), Comment: 'uses ${SomethingElse}' };
    expect(() => checkPlaceholders(definition)).toThrow(
      'state machine definition uses placeholders the stack does not fill: SomethingElse',
    );
    expect(
      () =>
        new FibbarsStack(new App(), 'bad', {
          settings: resolveSettings('dev', () => undefined),
          definition,
          artifacts: standInArtifacts(),
        }),
    ).toThrow(/SomethingElse/);
  });
});
