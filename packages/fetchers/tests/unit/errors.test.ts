import { describe, expect, it } from '@jest/globals';
import { FETCHER_ERROR_NAMES, RateLimitedError } from '../../src/index.js';

describe('fetcher errors', () => {
  it('names each error as the state machine matches it', () => {
    expect(new RateLimitedError('429').name).toBe(FETCHER_ERROR_NAMES.RateLimitedError);
  });
});
