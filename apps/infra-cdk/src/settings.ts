/**
 * Per-environment settings, chosen with CDK context (`-c env=dev`). Every
 * number here is a deliberate starting point; README.md says where each one
 * comes from and when to revisit it.
 */

import { ENVIRONMENT_NAMES, type EnvironmentName } from './names.js';

export { ENVIRONMENT_NAMES, namePrefix, scheduleName, stackName, stateMachineName, type EnvironmentName } from './names.js';

export interface LambdaSizing {
  readonly memoryMiB: number;
  readonly timeoutMinutes: number;
}

export interface BatchSizing {
  readonly vcpus: number;
  readonly memoryGiB: number;
  readonly timeoutMinutes: number;
}

export interface EnvironmentSettings {
  readonly envName: EnvironmentName;
  /** Email address subscribed to the alert topic; none when absent. */
  readonly alertEmail?: string;
  /** Initial state of the daily schedule (`fibbars schedule enable|disable` toggles it later). */
  readonly scheduleEnabled: boolean;
  readonly logRetentionDays: number;
  readonly noncurrentVersionDays: number;
  readonly tmpExpirationDays: number;
  /**
   * `reservedConcurrency`: executions reserved for (and capping) the ohlcv
   * fetcher; `undefined` reserves none, for accounts still at the
   * new-account concurrency quota. Never 0, which would throttle every call.
   */
  readonly ohlcv: LambdaSizing & { readonly reservedConcurrency: number | undefined };
  readonly meta: LambdaSizing;
  readonly consolidate: BatchSizing;
  readonly resample: BatchSizing;
  /** Upper bound of the Fargate compute environment (7 jobs x 2 vCPU fit in 16). */
  readonly maxVcpus: number;
  /**
   * FIBBARS_LOOKBACK_SESSIONS of both fetchers: how many NYSE sessions back a
   * daily run looks for sessions never fetched (holes an earlier run left).
   * Context `<env>:lookbackSessions`; 1-1000 as the fetchers accept it.
   */
  readonly lookbackSessions: number;
}

/** The fetchers' default and bounds of FIBBARS_LOOKBACK_SESSIONS (`@fibbars/fetchers`; a test holds them equal). */
export const LOOKBACK_SESSIONS = { default: 20, min: 1, max: 1000 } as const;

const BASE = {
  logRetentionDays: 30,
  noncurrentVersionDays: 30,
  tmpExpirationDays: 2,
  ohlcv: { memoryMiB: 512, timeoutMinutes: 10, reservedConcurrency: 1 },
  meta: { memoryMiB: 512, timeoutMinutes: 15 },
  consolidate: { vcpus: 2, memoryGiB: 8, timeoutMinutes: 30 },
  resample: { vcpus: 2, memoryGiB: 8, timeoutMinutes: 60 },
  maxVcpus: 16,
  lookbackSessions: LOOKBACK_SESSIONS.default,
} as const;

const DEFAULTS: Record<EnvironmentName, Omit<EnvironmentSettings, 'envName' | 'alertEmail'>> = {
  dev: { ...BASE, scheduleEnabled: false, logRetentionDays: 14, noncurrentVersionDays: 7 },
  prod: { ...BASE, scheduleEnabled: true, logRetentionDays: 90, noncurrentVersionDays: 30 },
};

/** Reads one context value; anything `tryGetContext` can return. */
export type ContextReader = (key: string) => unknown;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function parseBoolean(key: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`context ${key} must be true or false, got ${JSON.stringify(value)}`);
}

/**
 * The environments to synthesize: the one named by context `env`, or every
 * environment when `env` is not set. Throws a one-line error on a bad name.
 */
export function selectedEnvironments(context: ContextReader): EnvironmentName[] {
  const env = context('env');
  if (env === undefined) return [...ENVIRONMENT_NAMES];
  if (typeof env !== 'string' || !(ENVIRONMENT_NAMES as readonly string[]).includes(env)) {
    throw new Error(`context env must be one of ${ENVIRONMENT_NAMES.join(', ')}, got ${JSON.stringify(env)}`);
  }
  return [env as EnvironmentName];
}

/**
 * Resolves the settings of one environment from CDK context: `alertEmail`,
 * `scheduleEnabled` and `lookbackSessions`, each overridable per environment
 * as `<env>:alertEmail`, `<env>:scheduleEnabled`, `<env>:lookbackSessions`. Throws a one-line error
 * naming the bad context key.
 */
export function resolveSettings(envName: EnvironmentName, context: ContextReader): EnvironmentSettings {
  if (!(ENVIRONMENT_NAMES as readonly string[]).includes(envName)) {
    throw new Error(`environment must be one of ${ENVIRONMENT_NAMES.join(', ')}, got ${JSON.stringify(envName)}`);
  }
  const read = (key: string): { key: string; value: unknown } => {
    const scoped = `${envName}:${key}`;
    const value = context(scoped);
    return value === undefined ? { key, value: context(key) } : { key: scoped, value };
  };
  const email = read('alertEmail');
  if (email.value !== undefined && (typeof email.value !== 'string' || !EMAIL.test(email.value))) {
    throw new Error(`context ${email.key} must be an email address, got ${JSON.stringify(email.value)}`);
  }
  const enabled = read('scheduleEnabled');
  const scheduleEnabled = parseBoolean(enabled.key, enabled.value);
  const lookback = read('lookbackSessions');
  const lookbackSessions = lookback.value === undefined ? undefined : Number(lookback.value);
  if (
    lookbackSessions !== undefined &&
    !(Number.isInteger(lookbackSessions) && lookbackSessions >= LOOKBACK_SESSIONS.min && lookbackSessions <= LOOKBACK_SESSIONS.max)
  ) {
    throw new Error(
      `context ${lookback.key} must be a whole number of sessions from ${LOOKBACK_SESSIONS.min} to ${LOOKBACK_SESSIONS.max}, got ${JSON.stringify(lookback.value)}`,
    );
  }
  return {
    ...DEFAULTS[envName],
    envName,
    ...(email.value === undefined ? {} : { alertEmail: email.value as string }),
    ...(scheduleEnabled === undefined ? {} : { scheduleEnabled }),
    ...(lookbackSessions === undefined ? {} : { lookbackSessions }),
  };
}
