/**
 * The Lambda handlers (`ohlcv`, `meta`) and their in-process factories.
 *
 * A handler validates its event (a `ConfigError` before anything is written),
 * runs one fetch job, and returns a small summary. Failures are thrown with
 * their names (`RateLimitedError`, `UpstreamUnavailableError`,
 * `InvalidResponseError`, `ConfigError`, ...) so that the state machine's
 * Retry and Catch see them: a failure is never returned as a result.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { loadConfig, processEnv, sourceFromEnv } from './config.js';
import type { Env, SecretsClient } from './config.js';
import { fetchMeta, fetchOhlcv, parseEvent, withCorrelation } from './fetch.js';
import type { FetchDeps, FetchEvent, FetchLogger, FetchResult } from './fetch.js';

export type { FetchDeps, FetchEvent, FetchLogger, FetchResult } from './fetch.js';

/** The parts of the Lambda context a handler reads. */
export interface HandlerContext {
  awsRequestId?: string;
  functionName?: string;
}

/** A logger that can also take the Lambda context (cold start, function name). */
interface ContextLogger extends FetchLogger {
  addLambdaContext?(context: HandlerContext): void;
}

/** A fetch handler: what Lambda calls, and what the local engine binds a Task to. */
export type FetchHandler = (event: unknown, context?: HandlerContext) => Promise<FetchResult>;

/** The default structured logger: JSON lines through Powertools. */
export function defaultLogger(): FetchLogger {
  const logger = new Logger({ serviceName: 'fibbars-fetchers' });
  const out: ContextLogger = {
    info: (m, e) => logger.info(m, e ?? {}),
    warn: (m, e) => logger.warn(m, e ?? {}),
    error: (m, e) => logger.error(m, e ?? {}),
    // Powertools adds cold_start, function_name, function_request_id, ... to every line.
    addLambdaContext: (context) => logger.addContext(context as Parameters<Logger['addContext']>[0]),
  };
  return out;
}

function createHandler(
  job: 'ohlcv' | 'meta',
  run: (deps: FetchDeps, event: FetchEvent, log: FetchLogger) => Promise<FetchResult>,
  deps: FetchDeps,
): FetchHandler {
  const base: ContextLogger = deps.logger ?? defaultLogger();
  return async (event, context) => {
    if (context?.functionName !== undefined) base.addLambdaContext?.(context);
    const log = withCorrelation(base, context?.awsRequestId);
    try {
      const parsed = parseEvent(event);
      const result = await run(deps, parsed, log);
      log.info('fetch done', { job, status: result.status, sessions: result.sessions, rows: result.rows });
      return result;
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      log.error('fetch failed', { job, error: e.name, message: e.message });
      // Step Functions sees only the runtime's error document (errorType,
      // errorMessage, trace), which has no request id; the message carries
      // the function and request id, so the alert leads to the log lines.
      if (context?.awsRequestId !== undefined && !e.message.includes(context.awsRequestId)) {
        e.message = `${e.message} (function ${context.functionName ?? job}, request ${context.awsRequestId})`;
      }
      throw e;
    }
  };
}

/**
 * The `ohlcv` handler bound to explicit dependencies (used in-process by the
 * local engine).
 *
 * @example
 * const ohlcv = createOhlcvHandler({ source: new SyntheticSource(), lake: './lake' });
 * await ohlcv({ date: '2024-03-15' }); // { status: 'ok', sessions: ['2024-03-15'], rows, rawKeys, lake }
 */
export function createOhlcvHandler(deps: FetchDeps): FetchHandler {
  return createHandler('ohlcv', fetchOhlcv, deps);
}

/** The `meta` handler (ticker snapshot, splits and dividends) bound to explicit dependencies. */
export function createMetaHandler(deps: FetchDeps): FetchHandler {
  return createHandler('meta', fetchMeta, deps);
}

/**
 * Builds a handler from configuration (environment variables, plus the API
 * key from Secrets Manager): what the Lambda bundles call once at cold start.
 */
export async function handlerFromEnv(
  job: 'ohlcv' | 'meta',
  env: Env = processEnv(),
  options: { secrets?: SecretsClient } = {},
): Promise<FetchHandler> {
  const config = await loadConfig(env, options);
  const deps: FetchDeps = {
    source: sourceFromEnv(config),
    lake: config.lake,
    lookbackSessions: config.lookbackSessions,
    eventsBackfill: { seconds: config.eventsBackfillSeconds },
  };
  return job === 'ohlcv' ? createOhlcvHandler(deps) : createMetaHandler(deps);
}

function lazyHandler(job: 'ohlcv' | 'meta'): FetchHandler {
  let ready: Promise<FetchHandler> | undefined;
  return async (event, context) => {
    ready ??= handlerFromEnv(job);
    // A configuration failure stays cached: every invocation reports it, none reads the environment again.
    return (await ready)(event, context);
  };
}

/** The `ohlcv` Lambda handler: configuration from the environment, loaded once. */
export const ohlcvHandler: FetchHandler = lazyHandler('ohlcv');

/** The `meta` Lambda handler: configuration from the environment, loaded once. */
export const metaHandler: FetchHandler = lazyHandler('meta');
