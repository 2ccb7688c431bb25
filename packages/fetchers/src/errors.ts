/**
 * Error classes thrown by the fetchers. Their `name` is what the state
 * machine's `ErrorEquals` matches, so asl-definition imports these names.
 */
import { FibbarsError } from '@fibbars/ohlcv-core/errors';

export { CORE_ERROR_NAMES, CommitConflictError, ConfigError, DataQualityError, FibbarsError } from '@fibbars/ohlcv-core/errors';

/** The vendor kept answering 429 after every retry. */
export class RateLimitedError extends FibbarsError {
  override name = 'RateLimitedError' as const;
}

/** The vendor kept failing (5xx, reset, timeout) after every retry. */
export class UpstreamUnavailableError extends FibbarsError {
  override name = 'UpstreamUnavailableError' as const;
}

/** The vendor answered, but with a payload that does not parse or makes no sense. */
export class InvalidResponseError extends FibbarsError {
  override name = 'InvalidResponseError' as const;
}

/** Names of the errors thrown by the fetchers, for `ErrorEquals`. */
export const FETCHER_ERROR_NAMES = {
  RateLimitedError: 'RateLimitedError',
  UpstreamUnavailableError: 'UpstreamUnavailableError',
  InvalidResponseError: 'InvalidResponseError',
} as const;
