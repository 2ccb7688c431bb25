/**
 * A hardened GET for the vendor API: a client-side rate limiter (requests per
 * minute over a sliding window), bounded concurrency, a timeout per request,
 * and retries with exponential backoff and full jitter on 429, 5xx, network
 * errors and timeouts, honouring `Retry-After`. Clock, sleep and randomness
 * are injectable so tests run in milliseconds.
 */
import pLimit from 'p-limit';
import pRetry from 'p-retry';
import { ConfigError, InvalidResponseError, RateLimitedError, UpstreamUnavailableError } from './errors.js';

export type Sleep = (ms: number) => Promise<void>;

export interface HttpClientOptions {
  /** Sent as `Authorization: Bearer <apiKey>`; never logged, never in a URL or a message. */
  apiKey: string;
  /** Requests per minute (sliding window). */
  rpm: number;
  /** Per-request timeout, headers and body included. */
  timeoutMs: number;
  /** Retries after the first attempt. */
  maxRetries: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** First backoff step; attempt n waits random() * min(maxDelayMs, baseDelayMs * 2^(n-1)). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Longest `Retry-After` honoured; longer ones are clamped to it. */
  maxRetryAfterMs?: number;
  fetch?: typeof globalThis.fetch;
  sleep?: Sleep;
  now?: () => number;
  random?: () => number;
}

/** A response that arrived whole. */
export interface HttpResponse {
  status: number;
  body: string;
}

/** Options of one GET. */
export interface GetOptions {
  /**
   * Answer an HTTP 404 as a response (status 404, its body) instead of an
   * `InvalidResponseError`: for endpoints where "not found" is data (an id
   * the vendor does not know). Not retried either way.
   */
  notFoundOk?: boolean;
}

const defaultSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Requests per minute over a sliding 60 s window. */
export class RateLimiter {
  private readonly starts: number[] = [];
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly rpm: number,
    private readonly now: () => number,
    private readonly sleep: Sleep,
  ) {}

  /** Resolves when one more request may start. */
  acquire(): Promise<void> {
    const turn = this.queue.then(async () => {
      for (;;) {
        const t = this.now();
        while (this.starts.length > 0 && this.starts[0]! <= t - 60_000) this.starts.shift();
        if (this.starts.length < this.rpm) {
          this.starts.push(t);
          return;
        }
        await this.sleep(this.starts[0]! + 60_000 - t);
      }
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }
}

/** A failure worth another attempt. */
class TransientError extends Error {
  constructor(
    readonly kind: 'rate' | 'upstream',
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/** `Retry-After` as milliseconds (delta-seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class HttpClient {
  private readonly limiter: RateLimiter;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly fetch: typeof globalThis.fetch;
  private readonly sleep: Sleep;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;

  constructor(private readonly options: HttpClientOptions) {
    this.sleep = options.sleep ?? defaultSleep;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 65_000;
    this.limiter = new RateLimiter(options.rpm, this.now, this.sleep);
    this.limit = pLimit(options.concurrency);
  }

  /**
   * GETs `url` (which must not carry the key) and returns the whole body.
   * `what` names the endpoint in errors.
   */
  get(url: string, what: string, options: GetOptions = {}): Promise<HttpResponse> {
    return this.limit(async () => {
      let attempts = 0;
      try {
        return await pRetry(
          async () => {
            attempts++;
            await this.limiter.acquire();
            return this.attempt(url, what, options.notFoundOk === true);
          },
          {
            retries: this.options.maxRetries,
            minTimeout: 0,
            maxTimeout: 0,
            shouldRetry: async ({ error, attemptNumber }) => {
              if (!(error instanceof TransientError)) return false;
              const backoff = this.random() * Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attemptNumber - 1));
              const wait = error.retryAfterMs === undefined ? backoff : Math.min(error.retryAfterMs, this.maxRetryAfterMs);
              await this.sleep(wait);
              return true;
            },
          },
        );
      } catch (error) {
        if (!(error instanceof TransientError)) throw error;
        const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
        if (error.kind === 'rate') throw new RateLimitedError(`${what}: ${error.message} after ${tries}`, { cause: error });
        throw new UpstreamUnavailableError(`${what}: ${error.message} after ${tries}`, { cause: error });
      }
    });
  }

  private async attempt(url: string, what: string, notFoundOk: boolean): Promise<HttpResponse> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    let response: Response;
    try {
      response = await this.fetch(url, {
        headers: { Authorization: `Bearer ${this.options.apiKey}`, Accept: 'application/json' },
        signal,
        redirect: 'error',
      });
    } catch (cause) {
      throw new TransientError('upstream', describeNetworkError(cause, this.options.timeoutMs), undefined, { cause });
    }
    const { status } = response;
    if (status === 429) {
      await response.body?.cancel().catch(() => undefined);
      throw new TransientError('rate', 'HTTP 429 Too Many Requests', parseRetryAfter(response.headers.get('retry-after'), this.now()));
    }
    if (status >= 500) {
      await response.body?.cancel().catch(() => undefined);
      const retryAfter = parseRetryAfter(response.headers.get('retry-after'), this.now());
      throw new TransientError('upstream', `HTTP ${status}`, retryAfter);
    }
    let body: string;
    try {
      body = await response.text();
    } catch (cause) {
      // The connection dropped mid-body: a transient failure, not a short payload.
      throw new TransientError('upstream', `body cut off (${describeNetworkError(cause, this.options.timeoutMs)})`, undefined, { cause });
    }
    if (status === 401 || status === 403) {
      throw new ConfigError(`${what}: the vendor refused the API key (HTTP ${status}); check POLYGON_API_KEY and the plan`);
    }
    if (status === 404 && notFoundOk) return { status, body };
    if (status < 200 || status >= 300) {
      throw new InvalidResponseError(`${what}: unexpected HTTP ${status}: ${redactKey(body.slice(0, 200), this.options.apiKey)}`);
    }
    return { status, body };
  }
}

function describeNetworkError(cause: unknown, timeoutMs: number): string {
  // Duck-typed: DOMException and undici errors may come from another realm.
  const e = (typeof cause === 'object' && cause !== null ? cause : {}) as { name?: unknown; message?: unknown; cause?: unknown };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  const inner = (typeof e.cause === 'object' && e.cause !== null ? e.cause : {}) as { code?: unknown; message?: unknown };
  const detail = inner.code ?? inner.message ?? e.message;
  return typeof detail === 'string' && detail !== '' ? `network error (${detail})` : 'network error';
}

/**
 * Removes an API key from text: `apiKey=...` query parameters (the vendor may
 * append the key to `next_url`) and any verbatim occurrence of the key.
 */
export function redactKey(text: string, apiKey: string): string {
  let out = text.replace(/([?&](?:api_?key|apikey)=)[^&#"\s]*/gi, '$1REDACTED');
  if (apiKey.length >= 8) out = out.split(apiKey).join('REDACTED');
  return out;
}
