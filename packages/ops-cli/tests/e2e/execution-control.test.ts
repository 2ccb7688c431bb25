/**
 * Execution control on a real local lake, with the real `fibbars` process:
 * a run killed with SIGKILL or interrupted with Ctrl-C ends ABORTED in the
 * state it was in, `stop` stops a run another process is running, `redrive`
 * finishes an aborted run as a new attempt of the same execution, backfills
 * are executions, and `describe latest`, id prefixes and `--status` find runs.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, listFiles, RUN_DATE, tableRows, tempDir } from '../support/cli.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');
const SYN = ['--synthetic-tickers', '20'];

let dir: { dir: string; cleanup: () => Promise<void> };
let lake: string;

interface Rec {
  runId: string;
  status: string;
  kind?: string;
  finalState?: string;
  redriveCount?: number;
  abort?: { state?: string; reason: string; cause: string };
  states: { name: string; parent?: string; status: string; redrive?: number }[];
}

async function records(): Promise<Rec[]> {
  const names = (await readdir(path.join(lake, '_runs'))).filter((n) => n.endsWith('.json'));
  const out: Rec[] = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(await readFile(path.join(lake, '_runs', n), 'utf8')) as Rec);
    } catch {
      // being replaced right now: read it next time
    }
  }
  return out;
}

/** Starts the real `fibbars run` (or `argv`) in its own process group and waits until its record shows a stage running. */
async function startRun(
  known: Set<string>,
  argv: string[] = ['run', '--lake', lake, '--date', RUN_DATE, ...SYN],
  kind?: string,
): Promise<{ child: ChildProcess; runId: string; stderr: () => string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, ...argv], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (err += c));
  child.stdout?.resume();
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const mine = (await records()).find((r) => !known.has(r.runId) && r.kind === kind);
    if (mine?.states.some((s) => s.status === 'running' && s.parent === undefined && s.name !== 'FetchAll')) {
      known.add(mine.runId);
      return { child, runId: mine.runId, stderr: () => err, exit };
    }
    if (Date.now() > deadline) {
      process.kill(-(child.pid as number), 'SIGKILL');
      throw new Error(`the run never showed a running state:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

const known = new Set<string>();

/**
 * Runs `fibbars stop <argv>` against a run held (its whole process group
 * stopped with SIGSTOP) until the stop request is on disk, so the request is
 * made while the run is RUNNING however fast this machine runs it; `whileHeld`
 * runs first, while the run cannot move. A run that was RUNNING when stopped
 * ends ABORTED, as StopExecution does on AWS.
 */
async function stopHeld(
  run: { child: ChildProcess; runId: string },
  argv: string[],
  whileHeld: () => Promise<void> = async () => {},
): Promise<Awaited<ReturnType<typeof cli>>> {
  const group = -(run.child.pid as number);
  process.kill(group, 'SIGSTOP');
  let held = true;
  try {
    await whileHeld();
    const stopping = cli(['stop', run.runId, ...argv]);
    const request = path.join(lake, '_runs', '_stop', `${run.runId}.json`);
    for (const deadline = Date.now() + 60_000; !(await readFile(request, 'utf8').then(() => true, () => false)); ) {
      if (Date.now() > deadline) throw new Error(`fibbars stop wrote no request at ${request}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    process.kill(group, 'SIGCONT');
    held = false;
    return await stopping;
  } finally {
    if (held) process.kill(group, 'SIGCONT');
  }
}

beforeAll(async () => {
  dir = await tempDir('fibbars-control-');
  lake = path.join(dir.dir, 'lake');
  const res = await cli(['run', '--lake', lake, '--date', RUN_DATE, '--backfill-sessions', '5', ...SYN]);
  if (res.code !== 0) throw new Error(`building the lake failed:\n${res.stderr}`);
  for (const r of await records()) known.add(r.runId);
}, 180_000);
afterAll(async () => {
  await dir.cleanup();
});

describe('backfills are executions', () => {
  it('records the catch-up backfill of the first run with its stages, found by a prefix', async () => {
    const list = JSON.parse((await cli(['executions', '--lake', lake, '--json'])).stdout) as { executions: { name: string; status: string; date?: string }[] };
    const backfill = list.executions.find((e) => e.name.startsWith('backfill-'));
    expect(backfill).toMatchObject({ status: 'SUCCEEDED', date: '2026-11-13..2026-11-19' });
    const res = await cli(['describe', 'backfill-', '--lake', lake]);
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n')[0]).toMatch(/^backfill-\S+: SUCCEEDED backfill of 2026-11-13\.\.2026-11-19/);
    expect(tableRows(res.stdout, 'state').map((r) => [r[0], r[1]])).toEqual([
      ['FetchSessions', 'succeeded'],
      ['Consolidate', 'succeeded'],
      ['Resample', 'succeeded'],
    ]);
  });
});

describe('a killed run', () => {
  let killed: string;
  it('shows ABORTED in the state it was in after SIGKILL, in executions and describe', async () => {
    const run = await startRun(known);
    killed = run.runId;
    process.kill(-(run.child.pid as number), 'SIGKILL');
    await run.exit;
    // The record on disk still says RUNNING: nobody could write anything.
    expect((await records()).find((r) => r.runId === killed)?.status).toBe('RUNNING');

    const list = JSON.parse((await cli(['executions', '--lake', lake, '--json'])).stdout) as { executions: { name: string; status: string }[] };
    expect(list.executions.find((e) => e.name === killed)?.status).toBe('ABORTED');
    const json = JSON.parse((await cli(['describe', killed, '--lake', lake, '--json'])).stdout) as { status: string; record: Rec };
    expect(json.status).toBe('ABORTED');
    const state = json.record.abort?.state as string;
    expect(json.record.abort?.reason).toBe('process-exited');
    expect(json.record.finalState).toBe(state);
    expect(json.record.states.find((s) => s.name === state && s.parent === undefined)?.status).toBe('aborted');
    expect(json.record.states.some((s) => s.status === 'running')).toBe(false);
    const text = await cli(['describe', killed, '--lake', lake]);
    expect(text.stdout).toContain(`${killed}: ABORTED for session ${RUN_DATE}`);
    expect(text.stdout).toMatch(new RegExp(`aborted in ${state}: its process \\(pid \\d+ on .+\\) ended without finishing the run`));
  }, 120_000);

  it('lists only the runs of a status, and the aborted one is the latest', async () => {
    const aborted = JSON.parse((await cli(['executions', '--status', 'ABORTED', '--lake', lake, '--json'])).stdout) as { executions: { name: string }[] };
    expect(aborted.executions.map((e) => e.name)).toEqual([killed]);
    const failed = await cli(['executions', '--status', 'FAILED', '--lake', lake]);
    expect(failed.stdout).toBe('no FAILED runs\n');
    const latest = JSON.parse((await cli(['describe', 'latest', '--lake', lake, '--json'])).stdout) as { name: string };
    expect(latest.name).toBe(killed);
  });

  it('refuses an ambiguous prefix with one line naming the candidates, exit 2', async () => {
    const pipelineRuns = [...known].filter((id) => !id.startsWith('backfill-'));
    expect(pipelineRuns.length).toBeGreaterThanOrEqual(2);
    const prefix = pipelineRuns[0]!.slice(0, 4);
    const res = await cli(['describe', prefix, '--lake', lake]);
    expect(res.code).toBe(2);
    expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(new RegExp(`^fibbars: run id prefix "${prefix}" matches \\d+ runs: .*; give more of the id\\n$`));
    for (const id of pipelineRuns) expect(res.stderr).toContain(id);
  });

  it('redrives the aborted run to SUCCEEDED as a new attempt of the same execution', async () => {
    const res = await cli(['redrive', killed.slice(0, 22), '--lake', lake, ...SYN]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^run ${killed}: SUCCEEDED for ${RUN_DATE} \\(synthetic market, redrive 1 from \\w+\\)`));
    const json = JSON.parse((await cli(['describe', killed, '--lake', lake, '--json'])).stdout) as { status: string; record: Rec };
    expect(json.status).toBe('SUCCEEDED');
    expect(json.record.redriveCount).toBe(1);
    expect(json.record.states.some((s) => s.status === 'aborted' && s.redrive === undefined)).toBe(true);
    expect(json.record.states.filter((s) => s.redrive === 1).every((s) => s.status === 'succeeded')).toBe(true);
    const text = await cli(['describe', killed, '--lake', lake]);
    expect(text.stdout).toContain('redriven 1 time, last at');
    // A redrive column: 0 for the states of the first attempt, 1 for those the redrive ran.
    const rows = tableRows(text.stdout, 'state');
    expect(rows[0]!.slice(0, 3)).toEqual(['FetchAll', '0', 'succeeded']);
    expect(rows.filter((r) => r[1] === '1').map((r) => r[2])).toEqual(expect.arrayContaining(['succeeded']));
    expect(rows.filter((r) => r[1] === '1').some((r) => r[0] === 'PipelineSucceeded')).toBe(true);
  }, 120_000);

  it('refuses to redrive a run that SUCCEEDED, or to stop one that is not running: one line, exit 2, nothing written', async () => {
    const before = await listFiles(lake);
    for (const argv of [['redrive', killed], ['stop', killed]]) {
      const res = await cli([...argv, '--lake', lake]);
      expect(res.code).toBe(2);
      expect(res.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
    expect((await cli(['redrive', killed, '--lake', lake])).stderr).toBe(
      `fibbars: run ${killed} is SUCCEEDED: only FAILED, ABORTED, TIMED_OUT runs can be redriven\n`,
    );
    expect((await cli(['stop', killed, '--lake', lake])).stderr).toBe(`fibbars: run ${killed} is SUCCEEDED, not RUNNING: nothing to stop\n`);
    expect((await cli(['executions', '--status', 'DONE', '--lake', lake])).stderr).toBe(
      'fibbars: --status "DONE" is not an execution status: use one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE\n',
    );
    expect(await listFiles(lake)).toEqual(before);
  });
});

describe('stopping and redriving a backfill', () => {
  it('stops a running backfill before its next stage, then redrives it over the same range to SUCCEEDED', async () => {
    const run = await startRun(known, ['backfill', '--from', '2026-10-01', '--to', '2026-10-30', '--lake', lake, ...SYN], 'backfill');
    const res = await stopHeld(run, ['--lake', lake]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^stopped run ${run.runId}: ABORTED in (FetchSessions|Consolidate|Resample) \\(redrive it with "fibbars redrive ${run.runId}"\\)\n$`));
    expect(await run.exit).toBe(1);
    expect(run.stderr()).toContain(`the backfill ${run.runId} was stopped before its next stage`);

    const redriven = await cli(['redrive', run.runId, '--lake', lake, '--json', ...SYN]);
    expect(redriven.code).toBe(0);
    const out = JSON.parse(redriven.stdout) as { runId: string; redriveCount: number; from: string; to: string };
    expect(out).toMatchObject({ runId: run.runId, redriveCount: 1, from: '2026-10-01', to: '2026-10-30' });
    const rec = (await records()).find((r) => r.runId === run.runId);
    expect(rec).toMatchObject({ status: 'SUCCEEDED', kind: 'backfill', redriveCount: 1 });
    expect(rec?.states.filter((s) => s.redrive === 1).map((s) => [s.name, s.status])).toEqual([
      ['FetchSessions', 'succeeded'],
      ['Consolidate', 'succeeded'],
      ['Resample', 'succeeded'],
    ]);
  }, 180_000);
});

describe('--help of the execution commands', () => {
  it.each([
    ['stop', ['fibbars stop latest', 'fibbars stop daily-2026-11-25 --aws --error Operator --cause "vendor outage"']],
    ['redrive', ['fibbars redrive latest', 'fibbars redrive daily-2026-11-25 --aws', 'only the branches that failed']],
    ['describe', ['fibbars describe latest', 'fibbars describe 20261125T2130']],
    ['executions', ['fibbars executions --status FAILED']],
  ])('fibbars %s --help shows examples', async (command, lines) => {
    const res = await cli([command, '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Examples:');
    for (const line of lines) expect(res.stdout).toContain(line);
  });
});

describe('stopping and interrupting a running run', () => {
  it('fibbars stop ends a run another process runs ABORTED, and that process says so', async () => {
    const run = await startRun(known);
    const res = await stopHeld(run, ['--lake', lake, '--cause', 'wrong session', '--json'], async () => {
      const live = await cli(['describe', run.runId, '--lake', lake]);
      expect(live.stdout).toMatch(new RegExp(`^${run.runId}: RUNNING for session ${RUN_DATE}`));
      expect(live.stdout).toMatch(new RegExp(`\nrunning in \\w+: pid ${run.child.pid} on .+, last heartbeat 20\\d\\d-`));
    });
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { status: string; state: string; cause: string };
    expect(out).toMatchObject({ status: 'ABORTED', cause: 'wrong session' });
    expect(await run.exit).toBe(1);
    expect(run.stderr()).toContain(`the pipeline run ${run.runId} was stopped in ${out.state} (wrong session)`);
    const rec = (await records()).find((r) => r.runId === run.runId);
    expect(rec).toMatchObject({ status: 'ABORTED', finalState: out.state, abort: { reason: 'stopped', cause: 'wrong session' } });
  }, 120_000);

  it('Ctrl-C ends the run ABORTED at once, with exit 130', async () => {
    const run = await startRun(known);
    // As a terminal sends it: to the whole foreground process group.
    process.kill(-(run.child.pid as number), 'SIGINT');
    expect(await run.exit).toBe(130);
    const rec = (await records()).find((r) => r.runId === run.runId);
    expect(rec).toMatchObject({ status: 'ABORTED', abort: { reason: 'stopped', cause: 'interrupted (SIGINT)' } });
    expect(rec?.states.some((s) => s.status === 'running')).toBe(false);
  }, 120_000);
});
