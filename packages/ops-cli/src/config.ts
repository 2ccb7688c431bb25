/**
 * Configuration, read once per command: flags win over the environment, the
 * environment over defaults. Nothing else in the package reads `process.env`.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MalformedUriError, UsageError } from './errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULTS = {
  lake: './lake',
  polygonBaseUrl: 'https://api.polygon.io',
  deployEnv: 'prod',
  backfillSessions: 252,
  syntheticSeed: 42,
  syntheticTickers: 300,
} as const;

export interface Config {
  /** Normalised lake URI: an absolute folder path or `s3://bucket/prefix`. */
  lake: string;
  /** The lake URI as the user gave it, for messages. */
  lakeInput: string;
  polygonApiKey: string | undefined;
  polygonBaseUrl: string;
  awsRegion: string | undefined;
  s3Endpoint: string | undefined;
  stateMachineArn: string | undefined;
  /** Given by flag or FIBBARS_SCHEDULE_NAME; else the `--aws` commands read it from the stack outputs. */
  scheduleName: string | undefined;
  /**
   * The deployment environment (`--env`, FIBBARS_ENV, default prod) that names
   * the stack `<env>-fibbars`; checked by the `--aws` commands only, so a
   * local command never fails on it.
   */
  deployEnv: string;
  /** Where deployEnv came from, for messages. */
  deployEnvSource: '--env' | 'FIBBARS_ENV' | 'default';
}

export interface ConfigFlags {
  lake?: string;
  stateMachineArn?: string;
  scheduleName?: string;
  env?: string;
}

export function resolveConfig(flags: ConfigFlags, env: Env, cwd: string): Config {
  const lakeInput = nonEmpty(flags.lake) ?? nonEmpty(env.FIBBARS_LAKE) ?? DEFAULTS.lake;
  const deployEnv = nonEmpty(flags.env) ?? nonEmpty(env.FIBBARS_ENV) ?? DEFAULTS.deployEnv;
  const deployEnvSource = nonEmpty(flags.env) ? '--env' : nonEmpty(env.FIBBARS_ENV) ? 'FIBBARS_ENV' : 'default';
  const polygonBaseUrl = nonEmpty(env.POLYGON_BASE_URL) ?? DEFAULTS.polygonBaseUrl;
  if (!/^https?:\/\/[^/\s]+/.test(polygonBaseUrl)) {
    throw new UsageError(
      `POLYGON_BASE_URL "${polygonBaseUrl}" is not an http(s) URL: set it to e.g. https://api.polygon.io or unset it`,
    );
  }
  return {
    lake: normaliseLakeUri(lakeInput, cwd),
    lakeInput,
    polygonApiKey: nonEmpty(env.POLYGON_API_KEY),
    polygonBaseUrl,
    awsRegion: nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION),
    s3Endpoint: nonEmpty(env.AWS_ENDPOINT_URL_S3),
    stateMachineArn: nonEmpty(flags.stateMachineArn) ?? nonEmpty(env.FIBBARS_STATE_MACHINE_ARN),
    scheduleName: nonEmpty(flags.scheduleName) ?? nonEmpty(env.FIBBARS_SCHEDULE_NAME),
    deployEnv,
    deployEnvSource,
  };
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * A lake is a folder path, a `file://` URL or `s3://bucket[/prefix]`.
 * Anything else (another scheme, a bucket name S3 would refuse) is refused
 * here, before any command touches storage.
 */
export function normaliseLakeUri(input: string, cwd: string): string {
  const fix = 'pass --lake ./lake (a folder) or --lake s3://bucket/prefix';
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(input)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    const m = /^s3:\/\/([^/]*)(\/.*)?$/i.exec(input);
    const bucket = m?.[1] ?? '';
    if (!m || !BUCKET.test(bucket) || bucket.includes('..')) {
      throw new MalformedUriError(`malformed lake URI "${input}": expected s3://bucket/prefix with a valid bucket name; ${fix}`);
    }
    const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
    if (prefix.split('/').some((p) => p === '..' || p === '.')) {
      throw new MalformedUriError(`malformed lake URI "${input}": the prefix may not contain "." or ".." segments; ${fix}`);
    }
    return prefix ? `s3://${bucket}/${prefix}` : `s3://${bucket}`;
  }
  if (scheme === 'file') {
    try {
      return path.resolve(fileURLToPath(input));
    } catch (cause) {
      throw new MalformedUriError(`malformed lake URI "${input}": not a valid file:// URL; ${fix}`, { cause });
    }
  }
  // One-letter "schemes" are Windows drive letters, not URIs.
  if (scheme && scheme.length > 1) {
    throw new MalformedUriError(`malformed lake URI "${input}": unsupported scheme "${scheme}:"; ${fix}`);
  }
  if (input.includes('\0')) {
    throw new MalformedUriError(`malformed lake URI: the path contains a NUL byte; ${fix}`);
  }
  const folder = path.resolve(cwd, input);
  assertNotAFile(input, folder);
  return folder;
}

/**
 * A lake folder may not exist yet (commands that write create it), but it
 * may not be a file, nor sit under one: refused before anything is written.
 */
function assertNotAFile(input: string, folder: string): void {
  const fix = 'pass --lake with a folder (a missing one is created by the commands that write) or s3://bucket/prefix';
  for (let p = folder; ; p = path.dirname(p)) {
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(p, { throwIfNoEntry: false });
    } catch (err) {
      // ENOTDIR: some parent is a file; walk up to name it.
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw err;
    }
    if (stat && !stat.isDirectory()) {
      throw new UsageError(
        p === folder ? `lake path "${input}" is a file, not a folder: ${fix}` : `lake path "${input}" is under ${p}, which is a file: ${fix}`,
      );
    }
    if (stat || path.dirname(p) === p) return;
  }
}

export function isS3Uri(uri: string): boolean {
  return uri.startsWith('s3://');
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Parses a positive integer flag, with a usage error naming the flag. */
export function positiveInt(flag: string, value: string, { min = 1, max = Number.MAX_SAFE_INTEGER } = {}): number {
  if (!/^\d+$/.test(value.trim())) {
    throw new UsageError(`${flag} must be a whole number, got "${value}": e.g. ${flag} ${Math.max(min, 5)}`);
  }
  const n = Number(value);
  if (n < min) {
    throw new UsageError(`${flag} must be at least ${min}, got ${n}: e.g. ${flag} ${Math.max(min, 5)}`);
  }
  if (n > max) {
    throw new UsageError(`${flag} must be at most ${max}, got ${n}: e.g. ${flag} ${Math.min(max, Math.max(min, 5))}`);
  }
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration flag: `0`, or amounts with units (`ms`, `s`, `m`, `h`,
 * `d`), e.g. `1h`, `30m`, `1h30m`, `1.5h`. Returns milliseconds.
 */
export function parseDuration(flag: string, value: string): number {
  const v = value.trim().toLowerCase();
  const fix = `e.g. ${flag} 1h, ${flag} 30m or ${flag} 0`;
  if (/^0+(\.0+)?$/.test(v)) return 0;
  if (/^\d+(\.\d+)?$/.test(v)) {
    throw new UsageError(`${flag} "${value}" has no unit: add one (ms, s, m, h, d), ${fix}`);
  }
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  if (v === '' || v.replace(part, '') !== '') {
    throw new UsageError(`${flag} "${value}" is not a duration: use a number with a unit (ms, s, m, h, d), ${fix}`);
  }
  let ms = 0;
  for (const m of v.matchAll(part)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  if (!Number.isSafeInteger(Math.round(ms))) throw new UsageError(`${flag} "${value}" is too long: ${fix}`);
  return Math.round(ms);
}

/** A duration in the units `parseDuration` reads, for messages: `1h`, `30m`, `90s`, `0`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
