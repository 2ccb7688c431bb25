/**
 * Configuration of the fetchers, read and validated once (at cold start in
 * Lambda). Nothing else in this package reads `process.env`. A bad value is a
 * `ConfigError` that names the variable.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseLakeUri } from '@fibbars/ohlcv-core/storage';
import { ConfigError } from './errors.js';
import { DEFAULT_EVENTS_BACKFILL_SECONDS, DEFAULT_LOOKBACK_SESSIONS, MAX_LOOKBACK_SESSIONS } from './fetch.js';
import type { Sleep } from './http.js';
import { DEFAULT_POLYGON_BASE_URL, PolygonSource } from './polygon.js';
import type { MarketSource } from './source.js';
import { SyntheticSource } from './synthetic.js';

export type Env = Record<string, string | undefined>;

/** The process environment: the one place this package reads it. */
export function processEnv(): Env {
  return process.env;
}

export interface FetchersConfig {
  /** `FIBBARS_LAKE` (default `./lake`). */
  lake: string;
  /** `FIBBARS_LOOKBACK_SESSIONS` (default 20): how far back a run without a date looks for sessions never fetched. */
  lookbackSessions: number;
  /**
   * `FIBBARS_EVENTS_BACKFILL_SECONDS` (default 300, at most 840): how long a
   * meta run may spend asking the ticker events of securities never asked
   * (a new lake's ~10,000), over the new securities' own; 0 asks only those.
   * The meta Lambda's timeout is 15 minutes.
   */
  eventsBackfillSeconds: number;
  /** `FIBBARS_SOURCE`, else `polygon` when a key (or its secret) is configured, else `synthetic`. */
  source: 'polygon' | 'synthetic';
  polygon: {
    /** `POLYGON_API_KEY`, or the value of the secret `POLYGON_API_KEY_SECRET_ARN` once loaded. */
    apiKey?: string;
    apiKeySecretArn?: string;
    baseUrl: string;
    rpm: number;
    timeoutMs: number;
    maxRetries: number;
    concurrency: number;
  };
  synthetic: { seed: number; tickers: number };
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * The ticker-events backfill budget from `FIBBARS_EVENTS_BACKFILL_SECONDS`
 * (default `DEFAULT_EVENTS_BACKFILL_SECONDS`, 0 to 840: the meta Lambda's
 * 15 minutes less a minute of the rest of its work), for the Lambdas and the CLI alike.
 *
 * @example
 * eventsBackfillFromEnv({ FIBBARS_EVENTS_BACKFILL_SECONDS: '60' }); // { seconds: 60 }
 */
export function eventsBackfillFromEnv(env: Env): { seconds: number } {
  return { seconds: integer(env, 'FIBBARS_EVENTS_BACKFILL_SECONDS', DEFAULT_EVENTS_BACKFILL_SECONDS, 0, 840) };
}

function text(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

/**
 * Reads the configuration from environment variables (no I/O: a secret ARN is
 * recorded, `loadConfig` fetches it).
 */
export function readConfig(env: Env): FetchersConfig {
  const lake = text(env, 'FIBBARS_LAKE') ?? './lake';
  try {
    parseLakeUri(lake);
  } catch (cause) {
    throw new ConfigError(`FIBBARS_LAKE=${JSON.stringify(lake)} is not a lake URI (a folder or s3://bucket/prefix)`, { cause });
  }
  const apiKey = text(env, 'POLYGON_API_KEY');
  const apiKeySecretArn = text(env, 'POLYGON_API_KEY_SECRET_ARN');
  if (apiKeySecretArn !== undefined && !/^arn:aws[\w-]*:secretsmanager:/.test(apiKeySecretArn)) {
    throw new ConfigError(`POLYGON_API_KEY_SECRET_ARN=${JSON.stringify(apiKeySecretArn)} is not a Secrets Manager ARN`);
  }
  const explicit = text(env, 'FIBBARS_SOURCE');
  if (explicit !== undefined && explicit !== 'polygon' && explicit !== 'synthetic') {
    throw new ConfigError(`FIBBARS_SOURCE=${JSON.stringify(explicit)} must be polygon or synthetic`);
  }
  const source = explicit ?? (apiKey !== undefined || apiKeySecretArn !== undefined ? 'polygon' : 'synthetic');
  if (source === 'polygon' && apiKey === undefined && apiKeySecretArn === undefined) {
    throw new ConfigError('FIBBARS_SOURCE=polygon needs POLYGON_API_KEY (or POLYGON_API_KEY_SECRET_ARN); neither is set');
  }
  const baseUrl = text(env, 'POLYGON_BASE_URL') ?? DEFAULT_POLYGON_BASE_URL;
  let url: URL | undefined;
  try {
    url = new URL(baseUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new ConfigError(`POLYGON_BASE_URL=${JSON.stringify(baseUrl)} is not an http(s) URL`);
  }
  return {
    lake,
    lookbackSessions: integer(env, 'FIBBARS_LOOKBACK_SESSIONS', DEFAULT_LOOKBACK_SESSIONS, 1, MAX_LOOKBACK_SESSIONS),
    eventsBackfillSeconds: eventsBackfillFromEnv(env).seconds,
    source,
    polygon: {
      ...(apiKey !== undefined && { apiKey }),
      ...(apiKeySecretArn !== undefined && { apiKeySecretArn }),
      baseUrl,
      rpm: integer(env, 'POLYGON_RPM', 5, 1, 100_000),
      timeoutMs: integer(env, 'POLYGON_TIMEOUT_MS', 30_000, 100, 900_000),
      maxRetries: integer(env, 'POLYGON_MAX_RETRIES', 4, 0, 20),
      concurrency: integer(env, 'POLYGON_CONCURRENCY', 2, 1, 64),
    },
    synthetic: {
      seed: integer(env, 'SYNTHETIC_SEED', 42, 0, Number.MAX_SAFE_INTEGER),
      tickers: integer(env, 'SYNTHETIC_TICKERS', 300, 1, 100_000),
    },
  };
}

/** The parts of a Secrets Manager client `loadConfig` uses. */
export interface SecretsClient {
  send(command: GetSecretValueCommand): Promise<{ SecretString?: string | undefined }>;
}

/**
 * `readConfig`, then the API key from Secrets Manager when only its ARN is
 * set. The secret holds the key as plain text, or JSON with an `apiKey`
 * (or `POLYGON_API_KEY`) field.
 */
export async function loadConfig(env: Env, options: { secrets?: SecretsClient } = {}): Promise<FetchersConfig> {
  const config = readConfig(env);
  const arn = config.polygon.apiKeySecretArn;
  if (config.source !== 'polygon' || config.polygon.apiKey !== undefined || arn === undefined) return config;
  const client = options.secrets ?? new SecretsManagerClient({});
  let secret: string | undefined;
  try {
    secret = (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
  } catch (cause) {
    const name = cause instanceof Error ? cause.name : 'error';
    throw new ConfigError(`POLYGON_API_KEY_SECRET_ARN: cannot read the secret (${name})`, { cause });
  }
  const apiKey = keyFromSecret(secret);
  if (apiKey === undefined) {
    throw new ConfigError('POLYGON_API_KEY_SECRET_ARN: the secret is empty or holds no apiKey field');
  }
  return { ...config, polygon: { ...config.polygon, apiKey } };
}

function keyFromSecret(secret: string | undefined): string | undefined {
  const value = secret?.trim();
  if (!value) return undefined;
  if (!value.startsWith('{')) return value;
  try {
    const json = JSON.parse(value) as Record<string, unknown>;
    const key = json.apiKey ?? json.api_key ?? json.POLYGON_API_KEY;
    return typeof key === 'string' && key.trim() !== '' ? key.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Test seams for the vendor source built from configuration. */
export interface SourceOverrides {
  fetch?: typeof globalThis.fetch;
  sleep?: Sleep;
  random?: () => number;
  now?: () => Date;
}

/**
 * The source the configuration asks for: Polygon when an API key is
 * configured (or `FIBBARS_SOURCE=polygon`), else the synthetic market.
 * Accepts a loaded `FetchersConfig` or raw environment variables.
 *
 * @example
 * const source = sourceFromEnv(process.env); // SyntheticSource unless POLYGON_API_KEY is set
 */
export function sourceFromEnv(configOrEnv: FetchersConfig | Env, overrides: SourceOverrides = {}): MarketSource {
  const config = isConfig(configOrEnv) ? configOrEnv : readConfig(configOrEnv);
  if (config.source === 'synthetic') {
    return new SyntheticSource({ ...config.synthetic, ...(overrides.now && { now: overrides.now }) });
  }
  const { apiKey, apiKeySecretArn, ...http } = config.polygon;
  if (apiKey === undefined) {
    throw new ConfigError(
      apiKeySecretArn === undefined
        ? 'POLYGON_API_KEY is not set: the polygon source needs an API key'
        : 'POLYGON_API_KEY_SECRET_ARN is set but not loaded: use loadConfig() before sourceFromEnv()',
    );
  }
  return new PolygonSource({
    apiKey,
    ...http,
    ...(overrides.fetch && { fetch: overrides.fetch }),
    ...(overrides.sleep && { sleep: overrides.sleep }),
    ...(overrides.random && { random: overrides.random }),
  });
}

function isConfig(value: FetchersConfig | Env): value is FetchersConfig {
  return typeof (value as FetchersConfig).synthetic === 'object' && typeof (value as FetchersConfig).polygon === 'object';
}
