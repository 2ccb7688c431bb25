// Configuration of one batch-runner process, read and validated once at start.
// Flags win over environment variables; nothing else in the package reads
// `process.env`. A bad value fails here, before the lake is touched, with a
// one-line ConfigError that names the flag or variable it came from.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isIsoDate } from '@fibbars/ohlcv-core/dates';
import { parseLakeUri } from '@fibbars/ohlcv-core/storage';
import { MAX_PARTITIONS, parsePartition, type TickerPartitionSpec } from '@fibbars/ohlcv-core/partitions';
import { ConfigError } from './errors.js';

export type Command = 'consolidate' | 'resample' | 'commit-partitions';

/** Environment variables batch-runner reads (a subset of `process.env`). */
export const ENV = {
  lake: 'FIBBARS_LAKE',
  days: 'RESAMPLE_DAYS',
  runId: 'FIBBARS_RUN_ID',
  maxRejectedShare: 'MAX_REJECTED_SHARE',
  sessions: 'FIBBARS_SESSIONS',
  partition: 'FIBBARS_PARTITION',
  partitions: 'FIBBARS_PARTITIONS',
  heartbeatMs: 'FIBBARS_HEARTBEAT_MS',
  batchJobId: 'AWS_BATCH_JOB_ID',
} as const;

export type Env = Readonly<Record<string, string | undefined>>;

/** Raw flag values as commander hands them over (strings, unvalidated). */
export interface Flags {
  lake?: string | undefined;
  days?: string | undefined;
  runId?: string | undefined;
  maxRejectedShare?: string | undefined;
  date?: string | undefined;
  sessions?: string | undefined;
  partition?: string | undefined;
  partitions?: string | undefined;
}

interface Common {
  /** Lake URI: a folder path or `s3://bucket/prefix`. */
  lake: string;
  /** Run id recorded in every commit this process publishes. */
  runId: string;
  /** Interval of the progress heartbeat in ms; 0 disables it. */
  heartbeatMs: number;
  /** The sessions the pipeline run is about (from the fetch step), when given. */
  sessions?: string[];
}

export interface ConsolidateConfig extends Common {
  command: 'consolidate';
  /** Rejected share of a session above which the run fails (DataQualityError). */
  maxRejectedShare?: number;
}

export interface ResampleConfig extends Common {
  command: 'resample';
  /** Session counts to resample, in the order given, without duplicates. */
  days: number[];
  /** This worker's ticker partition (`--partition i/P`); absent or P = 1: the unpartitioned job. */
  partition?: TickerPartitionSpec;
}

export interface CommitPartitionsConfig extends Common {
  command: 'commit-partitions';
  days: number[];
  /** The partition count P the workers ran with (>= 2). */
  partitions: number;
}

export type RunnerConfig = ConsolidateConfig | ResampleConfig | CommitPartitionsConfig;

// The lake URI rules are ohlcv-core's (the same parser opens the lake later).
const lakeSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .superRefine((uri, ctx) => {
    try {
      parseLakeUri(uri);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `is not a lake URI: ${error instanceof Error ? error.message : String(error)}` });
    }
  });

// Interval lengths in sessions. 1 is the daily history itself; the upper bound
// only guards against typos (a year is about 252 sessions).
const daysSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .transform((text, ctx) => {
    const days: number[] = [];
    for (const part of text.split(',')) {
      const token = part.trim();
      if (!/^\d+$/.test(token) || Number(token) < 2 || Number(token) > 2520) {
        ctx.addIssue({ code: 'custom', message: `must be a comma-separated list of integers from 2 to 2520 (bad item "${token}")` });
        return z.NEVER;
      }
      if (!days.includes(Number(token))) days.push(Number(token));
    }
    return days;
  });

const runIdSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/, 'must be 1-200 characters of letters, digits, ".", "_", ":" or "-"');

const shareSchema = z
  .string()
  .trim()
  .regex(/^(\d+(\.\d*)?|\.\d+)$/, 'must be a number between 0 and 1')
  .transform(Number)
  .pipe(z.number().min(0, 'must be a number between 0 and 1').max(1, 'must be a number between 0 and 1'));

const isoDate = z
  .string({ error: 'must hold ISO dates YYYY-MM-DD' })
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must hold ISO dates YYYY-MM-DD')
  .refine(isIsoDate, { message: 'holds a date that is not a calendar date', abort: true });

// The state machine passes `States.JsonToString(sessions)`, a JSON array; a
// person types `2024-06-03,2024-06-04`. Both are accepted; `[]` is a day
// without a session.
const sessionsSchema = z
  .string()
  .trim()
  .transform((text, ctx) => {
    if (!text.startsWith('[')) return text === '' ? [] : text.split(',').map((part) => part.trim());
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array or a comma-separated list of ISO dates' });
      return z.NEVER;
    }
  })
  .pipe(z.array(isoDate, { error: 'must be a JSON array or a comma-separated list of ISO dates' }))
  .transform((dates) => [...new Set(dates)].sort());

// `i/P`, the rules of ohlcv-core's parsePartition (its message names what is wrong).
const partitionSchema = z
  .string()
  .trim()
  .transform((text, ctx) => {
    try {
      return parsePartition(text);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `must be i/P, partition i of P counted from 0 (${error instanceof Error ? error.message : String(error)})` });
      return z.NEVER;
    }
  });

const partitionsSchema = z
  .string()
  .trim()
  .regex(/^\d+$/, `must be a whole number of partitions from 2 to ${MAX_PARTITIONS}`)
  .transform(Number)
  .pipe(z.number().min(2, `must be a whole number of partitions from 2 to ${MAX_PARTITIONS}`).max(MAX_PARTITIONS, `must be a whole number of partitions from 2 to ${MAX_PARTITIONS}`));

const heartbeatSchema = z
  .string()
  .trim()
  .regex(/^\d+$/, 'must be a whole number of milliseconds')
  .transform(Number);

/** Where a value came from, so that an error names what the user has to fix. */
interface Sourced {
  value: string;
  label: string;
}

function pick(flag: string | undefined, flagName: string, env: Env, envName: string): Sourced | undefined {
  if (flag !== undefined) return { value: flag, label: `--${flagName}` };
  const fromEnv = env[envName];
  // An empty variable is how container definitions spell "unset".
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, label: envName };
  return undefined;
}

function parse<T>(schema: z.ZodType<T, string>, source: Sourced): T {
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(source.value);
  } catch (cause) {
    // A check that throws is still a bad value, never a crash.
    throw new ConfigError(`${source.label} is invalid (got ${JSON.stringify(source.value)})`, { cause });
  }
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ConfigError(`${source.label} ${issue?.message ?? 'is invalid'} (got ${JSON.stringify(source.value)})`);
}

/** A run id for a process started without one: UTC timestamp plus 8 hex digits. */
export function generateRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `batch-${stamp}-${randomBytes(4).toString('hex')}`;
}

/**
 * Resolves and validates the configuration of one command.
 *
 * @throws ConfigError naming the flag or variable at fault.
 */
export function loadConfig(command: Command, flags: Flags, env: Env, now: Date = new Date()): RunnerConfig {
  const lakeSource = pick(flags.lake, 'lake', env, ENV.lake);
  if (lakeSource === undefined) {
    throw new ConfigError(`no lake given: set ${ENV.lake} or pass --lake (a folder path or s3://bucket/prefix)`);
  }
  const runIdSource = pick(flags.runId, 'run-id', env, ENV.runId) ?? pick(undefined, '', env, ENV.batchJobId);
  const heartbeatSource = pick(undefined, '', env, ENV.heartbeatMs);
  const common: Common = {
    lake: parse(lakeSchema, lakeSource),
    runId: runIdSource === undefined ? generateRunId(now) : parse(runIdSchema, runIdSource),
    heartbeatMs: heartbeatSource === undefined ? 15_000 : parse(heartbeatSchema, heartbeatSource),
  };
  const sessionsSource =
    flags.sessions !== undefined
      ? { value: flags.sessions, label: '--sessions' }
      : flags.date !== undefined
        ? { value: flags.date, label: '--date' }
        : pick(undefined, '', env, ENV.sessions);
  if (sessionsSource !== undefined) common.sessions = parse(sessionsSchema, sessionsSource);

  if (command === 'resample' || command === 'commit-partitions') {
    const daysSource = pick(flags.days, 'days', env, ENV.days);
    if (daysSource === undefined) {
      throw new ConfigError(`no interval given: pass --days N[,M...] or set ${ENV.days}`);
    }
    const days = parse(daysSchema, daysSource);
    if (command === 'commit-partitions') {
      const source = pick(flags.partitions, 'partitions', env, ENV.partitions);
      if (source === undefined) throw new ConfigError(`no partition count given: pass --partitions P (the workers' P) or set ${ENV.partitions}`);
      return { command, ...common, days, partitions: parse(partitionsSchema, source) };
    }
    const partitionSource = pick(flags.partition, 'partition', env, ENV.partition);
    const config: ResampleConfig = { command, ...common, days };
    if (partitionSource !== undefined) config.partition = parse(partitionSchema, partitionSource);
    return config;
  }

  const config: ConsolidateConfig = { command, ...common };
  const shareSource = pick(flags.maxRejectedShare, 'max-rejected-share', env, ENV.maxRejectedShare);
  if (shareSource !== undefined) config.maxRejectedShare = parse(shareSchema, shareSource);
  return config;
}
