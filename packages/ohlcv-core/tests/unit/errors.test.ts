import { describe, expect, it } from '@jest/globals';
import { CommitConflictError, DataQualityError } from '../../src/index.js';

describe('errors', () => {
  it('carries the contract name and the cause', () => {
    const cause = new Error('disk full');
    const err = new CommitConflictError('version 3 exists', { cause });
    expect(err.name).toBe('CommitConflictError');
    expect(err.cause).toBe(cause);
    expect(new DataQualityError('x')).toBeInstanceOf(Error);
  });
});
