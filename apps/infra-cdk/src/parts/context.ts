/**
 * What every part of the stack shares. The parts are plain classes, not
 * constructs: each creates its resources directly in the stack's scope, under
 * the construct ids the single-constructor stack used, so every logical id,
 * construct path and path-derived property (the VPC's `Name` tags) stays
 * exactly what is deployed. README.md ("Stack layout") says why.
 */
import type { Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { EnvironmentSettings } from '../settings.js';

export interface PartContext {
  /** The scope of every resource: the stack itself. */
  readonly scope: Stack;
  readonly settings: EnvironmentSettings;
  /** `<env>-fibbars`, the prefix of every resource name. */
  readonly prefix: string;
  /** Retention of every log group of the environment. */
  readonly retention: logs.RetentionDays;
}

/** The retention of `days`, refused when CloudWatch Logs does not offer it. */
export function retentionOf(days: number): logs.RetentionDays {
  const known = Object.values(logs.RetentionDays).filter((v): v is logs.RetentionDays => typeof v === 'number');
  if (!known.includes(days as logs.RetentionDays)) {
    throw new Error(`log retention of ${days} days is not one CloudWatch Logs accepts`);
  }
  return days as logs.RetentionDays;
}
