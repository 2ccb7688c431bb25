/**
 * cdk-nag (v3) runs as a CDK policy-validation plugin; a finding is silenced
 * with `Validations.of(construct).acknowledge`, which also covers the
 * construct's children. Every acknowledgment carries its reason.
 */
import { Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges rule `id` on `scope` and its children; with `findings`, only
 * those findings of the rule (e.g. `Resource::*`), never the whole rule.
 */
export function acknowledge(scope: IConstruct, id: string, reason: string, findings?: readonly string[]): void {
  const validations = Validations.of(scope);
  if (findings === undefined) {
    validations.acknowledge({ id, reason });
    return;
  }
  for (const finding of findings) validations.acknowledge({ id: `${id}[${finding}]`, reason });
}

/** The `<LogicalId.Arn>` form cdk-nag uses for a GetAtt in IAM findings. */
export function arnRef(element: IConstruct): string {
  const cfn = element.node.defaultChild as CfnElement | undefined;
  if (cfn === undefined) throw new Error(`${element.node.path} has no CloudFormation resource`);
  return `<${Stack.of(element).getLogicalId(cfn)}.Arn>`;
}

/** The AwsSolutions pack used by the app and the tests. */
export function awsSolutionsChecks(scope?: IConstruct): AwsSolutionsChecks {
  return new AwsSolutionsChecks(scope, { verbose: true });
}
