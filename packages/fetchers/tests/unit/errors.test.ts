import { describe, expect, it } from '@jest/globals';
import { CORE_ERROR_NAMES, ConfigError, FETCHER_ERROR_NAMES, FibbarsError, InvalidResponseError, RateLimitedError, UpstreamUnavailableError } from '../../src/errors.js';

describe('fetcher errors', () => {
  it('names each error as the state machine matches it', () => {
    expect(new RateLimitedError('429').name).toBe(FETCHER_ERROR_NAMES.RateLimitedError);
    expect(new UpstreamUnavailableError('503').name).toBe(FETCHER_ERROR_NAMES.UpstreamUnavailableError);
    expect(new InvalidResponseError('bad').name).toBe(FETCHER_ERROR_NAMES.InvalidResponseError);
    expect(new ConfigError('bad').name).toBe(CORE_ERROR_NAMES.ConfigError);
  });

  it('keeps the cause and stays a FibbarsError', () => {
    const cause = new Error('socket hang up');
    const error = new UpstreamUnavailableError('vendor down', { cause });
    expect(error.cause).toBe(cause);
    expect(error).toBeInstanceOf(FibbarsError);
  });
});
