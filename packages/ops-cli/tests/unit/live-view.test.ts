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

  it('lists a parent state above its children and in the order the states ran, pending ones last', () => {
    const out = new MemoryStream(true);
    const view = new LiveView(out, ['FetchOhlcv', 'FetchMeta', 'Consolidate', 'Resample3d', 'Resample5d'], () => 9000);
    const at = (n: number) => n * 100;
    view.apply({ state: 'FetchAll', status: 'running', at: at(0) });
    view.apply({ state: 'FetchOhlcv', status: 'running', at: at(1) });
    view.apply({ state: 'FetchMeta', status: 'running', at: at(1) });
    view.apply({ state: 'FetchMeta', status: 'done', at: at(2) });
    view.apply({ state: 'FetchOhlcv', status: 'done', at: at(3) });
    view.apply({ state: 'FetchAll', status: 'done', at: at(4) });
    view.apply({ state: 'Consolidate', status: 'running', at: at(5) });
    view.apply({ state: 'Consolidate', status: 'done', at: at(6) });
    view.apply({ state: 'Resample', status: 'running', at: at(7) });
    expect([...view.rows.keys()]).toEqual(['FetchAll', 'FetchOhlcv', 'FetchMeta', 'Consolidate', 'Resample', 'Resample3d', 'Resample5d']);
    view.apply({ state: 'Resample3d', status: 'running', at: at(8) });
    view.apply({ state: 'Resample5d', status: 'running', at: at(8) });
    view.apply({ state: 'Resample3d', status: 'done', at: at(9) });
    view.apply({ state: 'Resample5d', status: 'done', at: at(9) });
    view.apply({ state: 'Resample', status: 'done', at: at(10) });
    view.apply({ state: 'PipelineSucceeded', status: 'done', at: at(11) });
    view.stop();
    const frame = out.chunks.at(-1)!.replace(new RegExp(`${String.fromCharCode(27)}\\[\\d*[AK]`, 'g'), '');
    expect(frame.trimEnd().split('\n').map((l) => l.split(/\s+/)[1])).toEqual([
      'FetchAll',
      'FetchOhlcv',
      'FetchMeta',
      'Consolidate',
      'Resample',
      'Resample3d',
      'Resample5d',
      'PipelineSucceeded',
    ]);
  });

  it('keeps a running state\'s timer moving on a TTY between events, and stops once nothing runs', async () => {
    const out = new MemoryStream(true);
    let now = 0;
    const view = new LiveView(out, ['Consolidate', 'Resample3d'], () => now, 10);
    try {
      view.apply({ state: 'Consolidate', status: 'running', at: 0 });
      const afterEvent = out.chunks.length;
      now = 25_000;
      await new Promise((r) => setTimeout(r, 80));
      // Redrawn without a new event: the frame shows the time spent so far.
      expect(out.chunks.length).toBeGreaterThan(afterEvent);
      expect(out.chunks.at(-1)).toContain('> Consolidate          running  25.0 s');
      view.apply({ state: 'Consolidate', status: 'done', at: 26_000 });
      const settled = out.chunks.length;
      now = 60_000;
      await new Promise((r) => setTimeout(r, 80));
      expect(out.chunks.length).toBe(settled);
      expect(out.chunks.at(-1)).toContain('✓ Consolidate          done     26.0 s');
    } finally {
      view.stop();
    }
  });

  it('never ticks when the stream is not a TTY', async () => {
    const out = new MemoryStream(false);
    const view = new LiveView(out, ['Consolidate'], () => 0, 10);
    try {
      view.apply({ state: 'Consolidate', status: 'running', at: 0 });
      await new Promise((r) => setTimeout(r, 60));
      expect(out.chunks).toHaveLength(1);
    } finally {
      view.stop();
    }
  });
});
