/**
 * The live view of a run: one line per state, pending / running / retrying /
 * done / failed with durations, like the Step Functions console graph.
 * Redrawn in place on a terminal; plain lines on anything else.
 */
import { duration } from './format.js';
import type { OutStream } from './output.js';

export type StateStatus = 'pending' | 'running' | 'retrying' | 'done' | 'failed';

export interface StateRow {
  name: string;
  status: StateStatus;
  startedAt?: number;
  endedAt?: number;
  attempts: number;
  error?: string;
}

export interface StateEvent {
  state: string;
  status: Exclude<StateStatus, 'pending'>;
  at: number;
  /** The attempt this event is about (1 = first), when the engine says. */
  attempt?: number;
  error?: string;
}

const TYPE_TO_STATUS: Record<string, StateEvent['status']> = {
  StateEntered: 'running',
  StateStarted: 'running',
  TaskStarted: 'running',
  StateExited: 'done',
  StateSucceeded: 'done',
  TaskSucceeded: 'done',
  StateRetried: 'retrying',
  TaskRetried: 'retrying',
  StateFailed: 'failed',
  TaskFailed: 'failed',
  'state-entered': 'running',
  'state-retried': 'retrying',
  'state-succeeded': 'done',
  'state-failed': 'failed',
  running: 'running',
  started: 'running',
  retrying: 'retrying',
  retry: 'retrying',
  done: 'done',
  succeeded: 'done',
  failed: 'failed',
};

/** Reads an engine event (aws-local-stepfunctions style or the local runner's) as a state transition. */
export function normaliseEvent(event: unknown, now: number): StateEvent | null {
  if (event === null || typeof event !== 'object') return null;
  const e = event as Record<string, unknown>;
  const st = e.state;
  const name =
    typeof st === 'string'
      ? st
      : st && typeof st === 'object' && typeof (st as Record<string, unknown>).name === 'string'
        ? ((st as Record<string, unknown>).name as string)
        : typeof e.stateName === 'string'
          ? e.stateName
          : undefined;
  if (!name) return null;
  const kind = [e.status, e.type, e.event, e.kind].find((v): v is string => typeof v === 'string' && v in TYPE_TO_STATUS);
  if (!kind) return null;
  const status = TYPE_TO_STATUS[kind] as StateEvent['status'];
  const stamp = e.timestamp ?? e.at;
  const parsed = typeof stamp === 'number' ? stamp : typeof stamp === 'string' ? Date.parse(stamp) : Number.NaN;
  const at = Number.isFinite(parsed) ? parsed : now;
  const errName = [e.Error, e.error, (e.error as Record<string, unknown> | undefined)?.name].find((v): v is string => typeof v === 'string');
  const inner = e.error as Record<string, unknown> | undefined;
  const cause = readableCause([e.Cause, e.cause, inner?.cause, inner?.message].find((v): v is string => typeof v === 'string'));
  const error = errName ? (cause ? `${errName}: ${cause}` : errName) : undefined;
  const attempt = typeof e.attempt === 'number' ? e.attempt : undefined;
  return { state: name, status, at, ...(attempt !== undefined ? { attempt } : {}), ...(error ? { error } : {}) };
}

/** Lambda-style causes are JSON (`{"errorType","errorMessage"}`): show the message. */
export function readableCause(cause: string | undefined): string | undefined {
  if (!cause?.startsWith('{')) return cause;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : cause;
  } catch {
    return cause;
  }
}

export class LiveView {
  /** The states in display order: the order they run in, pending ones last. */
  rows = new Map<string, StateRow>();
  private drawnLines = 0;
  private ticker: ReturnType<typeof setInterval> | undefined;

  /**
   * @param tickMs on a terminal, how often the running states' timers are
   *   redrawn between events (the ticker never keeps the process alive and
   *   stops when nothing runs, or on `stop()`).
   */
  constructor(
    private readonly stream: OutStream,
    initial: string[],
    private readonly clock: () => number = Date.now,
    private readonly tickMs = 1000,
  ) {
    for (const name of initial) this.rows.set(name, { name, status: 'pending', attempts: 0 });
  }

  apply(ev: StateEvent): void {
    let row = this.rows.get(ev.state);
    if (!row) {
      row = { name: ev.state, status: 'pending', attempts: 0 };
      this.insert(row);
    }
    if (ev.status === 'running') {
      if (row.status === 'pending' || row.status === 'done') row.startedAt = ev.at;
      row.attempts += 1;
      delete row.endedAt;
    }
    if (ev.attempt !== undefined) row.attempts = Math.max(row.attempts, ev.attempt);
    if (ev.status === 'done' || ev.status === 'failed') row.endedAt = ev.at;
    if (ev.error) row.error = ev.error;
    row.startedAt ??= ev.at;
    row.status = ev.status;
    if (this.stream.isTTY) {
      this.redraw();
      this.tick();
    } else this.stream.write(`${this.line(row)}\n`);
  }

  /** Stops redrawing the timers (the last frame stays as drawn). */
  stop(): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  /**
   * A state not in the initial list (a parent such as a Parallel state, or a
   * terminal state) starts now: it goes before the first state that has not
   * started yet, so a parent is listed above its children and every row
   * stays in the order the states ran.
   */
  private insert(row: StateRow): void {
    const rows = [...this.rows.values()];
    const at = rows.findIndex((r) => r.status === 'pending');
    if (at < 0) {
      this.rows.set(row.name, row);
      return;
    }
    rows.splice(at, 0, row);
    this.rows = new Map(rows.map((r) => [r.name, r]));
  }

  /** Keeps the running states' timers moving between events, while anything runs. */
  private tick(): void {
    const running = [...this.rows.values()].some((r) => r.status === 'running' || r.status === 'retrying');
    if (!running) return this.stop();
    if (this.ticker !== undefined) return;
    this.ticker = setInterval(() => {
      if ([...this.rows.values()].some((r) => r.status === 'running' || r.status === 'retrying')) this.redraw();
      else this.stop();
    }, this.tickMs);
    this.ticker.unref?.();
  }

  line(row: StateRow): string {
    const icon = { pending: '·', running: '>', retrying: '↻', done: '✓', failed: '✗' }[row.status];
    const end = row.endedAt ?? this.clock();
    const took = row.startedAt !== undefined ? ` ${duration(Math.max(0, end - row.startedAt))}` : '';
    const attempts = row.attempts > 1 ? ` (attempt ${row.attempts})` : '';
    const error = row.error && row.status !== 'done' ? `  ${row.error}` : '';
    return `${icon} ${row.name.padEnd(20)} ${row.status.padEnd(8)}${took}${attempts}${error}`;
  }

  redraw(): void {
    const lines = [...this.rows.values()].map((r) => this.line(r));
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    this.stream.write(`${up}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    this.drawnLines = lines.length;
  }
}
