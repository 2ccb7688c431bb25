import { describe, expect, it } from '@jest/globals';
import { LiveView, normaliseEvent } from '../../src/live-view.js';
import { MemoryStream } from '../../src/output.js';

describe('normaliseEvent', () => {
  it('reads the local engine events', () => {
    const at = '2026-11-25T21:30:00.000Z';
    expect(normaliseEvent({ type: 'state-entered', runId: 'r', state: 'Consolidate', attempt: 1, at }, 0)).toEqual({
      state: 'Consolidate',
      status: 'running',
      at: Date.parse(at),
      attempt: 1,
    });
    expect(
      normaliseEvent({ type: 'state-failed', runId: 'r', state: 'FetchOhlcv', attempt: 1, at, error: { name: 'RateLimitedError', cause: '429' } }, 0),
    ).toMatchObject({ status: 'failed', error: 'RateLimitedError: 429' });
    expect(
      normaliseEvent({ type: 'state-failed', state: 'FetchOhlcv', at, error: { name: 'RateLimitedError', cause: '{"errorType":"RateLimitedError","errorMessage":"429 x5"}' } }, 0)?.error,
    ).toBe('RateLimitedError: 429 x5');
    expect(normaliseEvent({ type: 'execution-started', runId: 'r', state: 'FetchAll', attempt: 1, at }, 0)).toBeNull();
    expect(normaliseEvent('noise', 0)).toBeNull();
  });
});

describe('LiveView', () => {
  it('prints one plain line per transition when the stream is not a TTY', () => {
    const out = new MemoryStream(false);
    const view = new LiveView(out, ['FetchOhlcv', 'Consolidate'], () => 5000);
    view.apply({ state: 'FetchOhlcv', status: 'running', at: 0 });
    view.apply({ state: 'FetchOhlcv', status: 'failed', at: 1000, error: 'RateLimitedError: 429' });
    view.apply({ state: 'FetchOhlcv', status: 'retrying', at: 1000 });
    view.apply({ state: 'FetchOhlcv', status: 'running', at: 4000 });
    view.apply({ state: 'FetchOhlcv', status: 'done', at: 4500 });
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/^✗ FetchOhlcv\s+failed\s+1\.0 s\s+RateLimitedError: 429$/);
    expect(lines[2]).toMatch(/^↻ FetchOhlcv\s+retrying/);
    expect(lines[4]).toMatch(/^✓ FetchOhlcv\s+done\s+4\.5 s \(attempt 2\)$/);
    expect(out.text()).not.toContain('\x1b');
  });

  it('redraws every state in place on a TTY, pending ones included', () => {
    const out = new MemoryStream(true);
    const view = new LiveView(out, ['FetchOhlcv', 'Consolidate'], () => 2000);
    view.apply({ state: 'FetchOhlcv', status: 'running', at: 0 });
    view.apply({ state: 'FetchOhlcv', status: 'done', at: 1500 });
    const [firstFrame, secondFrame] = out.chunks;
    expect(firstFrame).not.toContain('\x1b[2A');
    expect(firstFrame).toContain('· Consolidate          pending');
    expect(secondFrame!.startsWith('\x1b[2A')).toBe(true);
    expect(secondFrame).toContain('✓ FetchOhlcv           done     1.5 s');
  });
});
