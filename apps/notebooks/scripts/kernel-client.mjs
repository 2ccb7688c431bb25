// A small Jupyter client in Node: executes a notebook in the tslab kernel
// without Jupyter. It does what `jupyter nbconvert --execute` does with the
// kernel, over the Jupyter messaging protocol (v5.3) on ZeroMQ:
//
//   1. writes a connection file (tcp on 127.0.0.1, five free ports below the
//      ephemeral range, hmac-sha256 with a random key);
//   2. starts the kernel the way the kernel.json of `tslab install` does:
//      `tslab kernel --config-path <connection file>`, in the notebook's folder;
//   3. connects a DEALER to shell and control and a SUB to iopub with the
//      zeromq package tslab itself loads (kernel/node_modules), and waits
//      until a kernel_info_request has been answered on shell and its
//      status: idle seen on iopub (so no output of the first cell is lost);
//      a kernel that logs a failed bind or gives no answer within the startup
//      timeout is shut down and a fresh one started, three tries in all;
//   4. sends one execute_request per non-empty code cell, in order, and
//      collects the iopub messages of that request (stream, display_data,
//      update_display_data, execute_result, error, clear_output) as nbformat
//      outputs until both the execute_reply and the status: idle arrived;
//   5. stops at the first error (a reply with status error, or an error
//      output), or when a cell runs past its timeout, with a NotebookError
//      that names the cell; shuts the kernel down (shutdown_request on
//      control, then SIGTERM / SIGKILL) whatever happened;
//   6. writes the executed notebook (outputs, execution_count,
//      metadata.language_info) as nbformat would.
//
// https://jupyter-client.readthedocs.io/en/latest/messaging.html
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export class NotebookError extends Error {
  name = 'NotebookError';
}

/** The kernel never became ready (no answer in time, or a socket it could not bind): worth one fresh start. */
class KernelStartError extends NotebookError {}

/** Fresh kernels (new ports, new key) tried before a start failure is reported. */
const START_ATTEMPTS = 3;

const DELIM = Buffer.from('<IDS|MSG>');
const PROTOCOL_VERSION = '5.3';

/** The lowest port of the machine's ephemeral range (Linux's /proc; 32768 where there is none). */
function ephemeralLow() {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && low > 2048) return low;
  } catch {
    // not Linux
  }
  return 32768;
}

/**
 * `count` distinct free TCP ports on 127.0.0.1, chosen BELOW the ephemeral
 * range. Ports from `listen(0)` are ephemeral ones, and between our closing
 * them and the kernel binding them any outgoing connection on the machine may
 * take one as its source port; even our own ZeroMQ sockets, which reconnect
 * every 100 ms until the kernel listens, can TCP-self-connect to an ephemeral
 * port nobody listens on yet. tslab logs the failed bind and keeps running
 * without that socket (its unhandledRejection handler), so the client would
 * wait for a reply that never comes. Ports outside the range are only taken
 * by an explicit bind.
 */
export async function freePorts(count) {
  const high = ephemeralLow() - 1;
  const low = Math.max(1024, high - 20_000);
  const servers = [];
  try {
    for (let tries = 0; servers.length < count; tries++) {
      if (tries > 1000) throw new NotebookError(`no ${count} free TCP ports on 127.0.0.1 between ${low} and ${high}`);
      const port = low + Math.floor(Math.random() * (high - low + 1));
      const server = net.createServer();
      const bound = await new Promise((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (bound) servers.push(server);
    }
    return servers.map((server) => /** @type {import('node:net').AddressInfo} */ (server.address()).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(() => resolve(undefined)))));
  }
}

function sign(key, parts) {
  const hmac = createHmac('sha256', key);
  for (const part of parts) hmac.update(part);
  return hmac.digest('hex');
}

/** Wire frames of a message: [<IDS|MSG>, signature, header, parent_header, metadata, content]. */
function encode(key, message) {
  const parts = [message.header, message.parent_header, message.metadata, message.content].map((part) => JSON.stringify(part));
  return [DELIM, sign(key, parts), ...parts];
}

/** Parses and verifies one message; any routing prefix (identities, the iopub topic) before the delimiter is skipped. */
function decode(key, frames) {
  const at = frames.findIndex((frame) => DELIM.equals(frame));
  if (at < 0 || frames.length < at + 6) throw new Error('malformed message: no <IDS|MSG> delimiter or missing parts');
  const signature = Buffer.from(frames[at + 1].toString(), 'utf8');
  const parts = frames.slice(at + 2, at + 6);
  const expected = Buffer.from(sign(key, parts), 'utf8');
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) throw new Error('message with an invalid HMAC signature');
  const [header, parent_header, metadata, content] = parts.map((part) => JSON.parse(part.toString('utf8')));
  return { header, parent_header, metadata, content };
}

const text = (value) => (Array.isArray(value) ? value.join('') : (value ?? ''));
const isJsonMime = (mime) => mime === 'application/json' || /^application\/.+\+json$/.test(mime);
/** nbformat stores multi-line strings as lists of lines, each keeping its newline. */
const splitLines = (value) => (typeof value === 'string' ? (value.match(/[^\n]*\n|[^\n]+$/g) ?? []) : value);
const ordinal = (n) => `${n}${['th', 'st', 'nd', 'rd'][n % 100 >= 11 && n % 100 <= 13 ? 0 : n % 10] ?? 'th'}`;

function onDisk(output) {
  const copy = { ...output };
  if (copy.output_type === 'stream') copy.text = splitLines(copy.text);
  if (copy.data !== undefined) {
    copy.data = Object.fromEntries(Object.entries(copy.data).map(([mime, value]) => [mime, isJsonMime(mime) ? value : splitLines(value)]));
  }
  return copy;
}

function delay(ms) {
  let timer;
  const promise = new Promise((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Loads the zeromq that tslab itself requires (kernel/node_modules/tslab -> zeromq). */
function loadZmq(kernelDir) {
  const tslabPackage = path.join(kernelDir, 'node_modules', 'tslab', 'package.json');
  if (!existsSync(tslabPackage)) throw new NotebookError(`the tslab kernel is not installed in ${kernelDir} (run \`npm ci\` there)`);
  try {
    return createRequire(tslabPackage)('zeromq');
  } catch (error) {
    throw new NotebookError(
      `cannot load zeromq for the tslab kernel from ${kernelDir}: ${error instanceof Error ? error.message : String(error)} (its prebuilt binary covers Linux, macOS and Windows on x64/arm64; reinstall with \`npm ci\` in kernel/)`,
    );
  }
}

/**
 * Executes every code cell of `source` in a fresh tslab kernel and writes the
 * executed notebook to `outPath`. Throws NotebookError on the first failing cell.
 * @param {string} source the .ipynb to execute
 * @param {{ kernelDir: string, outPath: string, cwd?: string, env?: Record<string, string | undefined>, timeoutSeconds?: number, startupTimeoutSeconds?: number, firstPorts?: number[] }} options
 *   firstPorts: the five ports (shell, iopub, stdin, control, hb) of the first kernel instead of free ones (tests of the restart)
 * @returns {Promise<string>} outPath
 */
export async function executeNotebook(source, options) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await executeOnce(source, options, attempt === 1 ? options.firstPorts : undefined);
    } catch (error) {
      if (!(error instanceof KernelStartError || isTslabRace(error)) || attempt >= START_ATTEMPTS) throw error;
      process.stderr.write(`${error.message.split('\n')[0]}; starting a fresh kernel (attempt ${attempt + 1} of ${START_ATTEMPTS})\n`);
    }
  }
}

/**
 * A cell that failed inside tslab's compiler rather than in its own code.
 * tslab compiles cells with a TypeScript watch program and takes over its
 * timer, so it throws "Unexpected pending rebuildTimer" when a file watcher
 * fired between two cells. That happened once, on the first cell, in a CI run
 * where other suites were installing and creating files beside the kernel.
 * Like a failed start, it gets a fresh kernel. Any other cell error fails at
 * once, and so does this one on the last attempt.
 * @param {unknown} error
 */
export function isTslabRace(error) {
  return error instanceof NotebookError && error.message.includes('unexpected error: Error: Unexpected pending rebuildTimer');
}

/** One kernel, started and shut down; a start that fails throws KernelStartError before any cell ran. */
async function executeOnce(source, options, ports) {
  const name = path.basename(source);
  const notebook = JSON.parse(readFileSync(source, 'utf8'));
  const cellTimeoutMs = (options.timeoutSeconds ?? 600) * 1000;
  const startupTimeoutMs = (options.startupTimeoutSeconds ?? 60) * 1000;
  const zmq = loadZmq(options.kernelDir);
  const { runtimeDir, connection, connectionFile } = await writeConnectionFile(ports);
  const kernel = spawnKernel(source, options, name, connectionFile);
  const channels = createChannels(zmq, connection);
  const withDeadline = deadlines(name, kernel, channels);

  try {
    channels.connect();
    const info = await startupHandshake(channels, withDeadline, kernel.cannotBind, startupTimeoutMs);
    notebook.metadata = { ...notebook.metadata, language_info: info.content.language_info };

    const cells = notebook.cells ?? [];
    /** Outputs that carry a display_id, for update_display_data (which may target earlier cells). */
    const displays = new Map();
    for (let index = 0; index < cells.length; index++) {
      await runCell({ name, channels, withDeadline, cellTimeoutMs, displays }, cells, index);
    }

    return writeExecutedNotebook(notebook, cells, options.outPath);
  } finally {
    await shutdownKernel(kernel, channels, withDeadline);
    channels.close();
    rmSync(runtimeDir, { recursive: true, force: true });
  }
}

/**
 * Writes the connection file of a new kernel (tcp on 127.0.0.1, hmac-sha256
 * with a random key) into a fresh runtime folder.
 * @param {number[] | undefined} ports shell, iopub, stdin, control, hb; free ones when undefined
 * @returns {Promise<{ runtimeDir: string, connection: Record<string, any>, connectionFile: string }>}
 */
async function writeConnectionFile(ports) {
  const runtimeDir = mkdtempSync(path.join(tmpdir(), 'fibbars-kernel-'));
  const [shell_port, iopub_port, stdin_port, control_port, hb_port] = ports ?? (await freePorts(5));
  const connection = {
    transport: 'tcp',
    ip: '127.0.0.1',
    shell_port,
    iopub_port,
    stdin_port,
    control_port,
    hb_port,
    signature_scheme: 'hmac-sha256',
    key: randomBytes(32).toString('hex'),
    kernel_name: 'tslab',
  };
  const connectionFile = path.join(runtimeDir, 'kernel-connection.json');
  writeFileSync(connectionFile, JSON.stringify(connection, null, 1), { mode: 0o600 });
  return { runtimeDir, connection, connectionFile };
}

/**
 * Starts the kernel, as kernel.json starts it (argv: tslab kernel --config-path {connection_file}),
 * run by this same node so PATH cannot pick another one, and watches its log and exit.
 * @param {string} source the .ipynb (its folder is the default cwd)
 * @param {{ kernelDir: string, cwd?: string, env?: Record<string, string | undefined> }} options
 * @param {string} name the notebook's file name, for messages
 * @param {string} connectionFile
 * @returns {{ child: import('node:child_process').ChildProcess, exited: Promise<{ code: number | null, signal: string | null, error?: Error }>, died: Promise<never>, cannotBind: Promise<never>, logTail: () => string }}
 *   died rejects with a NotebookError once the kernel exits; cannotBind with a KernelStartError once it logs a failed bind
 */
function spawnKernel(source, options, name, connectionFile) {
  const tslabBin = path.join(options.kernelDir, 'node_modules', 'tslab', 'bin', 'tslab');
  const child = spawn(process.execPath, [tslabBin, 'kernel', '--config-path', connectionFile], {
    cwd: options.cwd ?? path.dirname(source),
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let kernelLog = '';
  let bindFailed;
  const cannotBind = new Promise((_, reject) => (bindFailed = reject));
  cannotBind.catch(() => {});
  const log = (chunk) => {
    kernelLog = (kernelLog + chunk.toString('utf8')).slice(-16_384);
    // tslab logs a failed bind (its unhandledRejection handler) and runs on without the socket.
    if (/EADDRINUSE|address already in use/i.test(kernelLog)) {
      bindFailed(new KernelStartError(`${name}: the tslab kernel could not bind its ports:\n${kernelLog.trim()}`));
    }
  };
  child.stdout.on('data', log);
  child.stderr.on('data', log);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
  const died = exited.then(({ code, signal, error }) => {
    throw new NotebookError(
      `the tslab kernel ${error ? `did not start (${error.message})` : `exited (${signal ?? `code ${code}`})`} while running ${name}${kernelLog.trim() ? `:\n${kernelLog.trim()}` : ''}`,
    );
  });
  died.catch(() => {});
  return { child, exited, died, cannotBind, logTail: () => kernelLog };
}

/**
 * The ZeroMQ side of one kernel: a DEALER on shell and on control, a SUB on
 * iopub, and the requests awaiting their reply and idle status.
 * @param {any} zmq the zeromq module (loadZmq)
 * @param {{ shell_port: number, iopub_port: number, control_port: number, key: string }} connection
 */
function createChannels(zmq, connection) {
  const context = new zmq.Context({ ioThreads: 1 });
  const shell = new zmq.Dealer({ context, linger: 0 });
  const control = new zmq.Dealer({ context, linger: 0 });
  const iopub = new zmq.Subscriber({ context, linger: 0 });
  const session = randomUUID();
  const address = (port) => `tcp://127.0.0.1:${port}`;
  /** @type {Map<string, { replied: Promise<any>, idle: Promise<void>, reply?: any, onIopub: (message: any) => void, resolveReply: (m: any) => void, resolveIdle: () => void }>} */
  const pending = new Map();
  let closing = false;
  let protocolError = null;

  const track = (msgId, onIopub = () => {}) => {
    const entry = { onIopub };
    entry.replied = new Promise((resolve) => (entry.resolveReply = resolve));
    entry.idle = new Promise((resolve) => (entry.resolveIdle = resolve));
    pending.set(msgId, entry);
    return entry;
  };
  const send = async (socket, msgType, content) => {
    const header = { msg_id: randomUUID(), session, username: 'fibbars', date: new Date().toISOString(), msg_type: msgType, version: PROTOCOL_VERSION };
    await socket.send(encode(connection.key, { header, parent_header: {}, metadata: {}, content }));
    return header.msg_id;
  };
  const receive = async (socket, handle) => {
    try {
      for await (const frames of socket) {
        let message;
        try {
          message = decode(connection.key, frames);
        } catch (error) {
          protocolError = error;
          continue;
        }
        handle(message);
      }
    } catch (error) {
      if (!closing) protocolError = error;
    }
  };
  const onReply = (message) => {
    const entry = pending.get(message.parent_header?.msg_id);
    if (entry === undefined) return;
    entry.reply = message;
    entry.resolveReply(message);
  };
  const onStatusOrOutput = (message) => {
    const entry = pending.get(message.parent_header?.msg_id);
    if (entry === undefined) return;
    if (message.header.msg_type === 'status' && message.content.execution_state === 'idle') entry.resolveIdle();
    else entry.onIopub(message);
  };

  /** Connects the three sockets, subscribes to all of iopub and starts reading them. */
  const connect = () => {
    shell.connect(address(connection.shell_port));
    control.connect(address(connection.control_port));
    iopub.connect(address(connection.iopub_port));
    iopub.subscribe();
    void receive(shell, onReply);
    void receive(control, onReply);
    void receive(iopub, onStatusOrOutput);
  };
  const close = () => {
    closing = true;
    shell.close();
    control.close();
    iopub.close();
  };
  return { shell, control, pending, track, send, connect, close, protocolError: () => protocolError };
}

/**
 * `withDeadline(promise, ms, what, Failure)`: the promise, unless the kernel
 * dies first (NotebookError) or `ms` pass (a `Failure` naming `what`, the last
 * protocol error and the tail of the kernel's log).
 * @param {string} name the notebook's file name, for messages
 * @param {{ died: Promise<never>, logTail: () => string }} kernel
 * @param {{ protocolError: () => any }} channels
 */
function deadlines(name, kernel, channels) {
  return async (promise, ms, what, Failure = NotebookError) => {
    const timer = delay(ms);
    try {
      return await Promise.race([
        promise,
        kernel.died,
        timer.promise.then(() => {
          const tail = kernel.logTail().trim().split('\n').slice(-20).join('\n');
          const protocolError = channels.protocolError();
          throw new Failure(
            `${name}: ${what} timed out after ${Math.round(ms / 1000)} s${protocolError ? ` (${protocolError.message})` : ''}${tail ? `; the kernel printed:\n${tail}` : ''}`,
          );
        }),
      ]);
    } finally {
      timer.cancel();
    }
  };
}

/**
 * Ready once a kernel_info_request is answered on shell AND its idle status
 * arrives on iopub: only then is the subscription surely live (a SUB drops
 * what is published before it is connected).
 * @returns {Promise<any>} the kernel_info_reply; KernelStartError on a failed bind or past the startup timeout
 */
async function startupHandshake(channels, withDeadline, cannotBind, startupTimeoutMs) {
  const startup = (async () => {
    for (;;) {
      const entry = channels.track(await channels.send(channels.shell, 'kernel_info_request', {}));
      const info = await entry.replied;
      const wait = delay(1000);
      const idle = await Promise.race([entry.idle.then(() => true), wait.promise.then(() => false)]);
      wait.cancel();
      if (idle) return info;
    }
  })();
  return withDeadline(Promise.race([startup, cannotBind]), startupTimeoutMs, 'starting the tslab kernel', KernelStartError);
}

/**
 * The iopub handler of one cell's execute_request: turns its messages into
 * nbformat outputs in `outputs` (and the cell's execution_count).
 * @param {any} cell the notebook cell
 * @param {any[]} outputs the cell's outputs, filled in place
 * @param {Map<string, any[]>} displays outputs by display_id, across cells
 * @returns {(message: any) => void}
 */
function outputCollector(cell, outputs, displays) {
  let clearPending = false;
  const add = (output) => {
    if (clearPending) {
      outputs.length = 0;
      clearPending = false;
    }
    const last = outputs[outputs.length - 1];
    if (output.output_type === 'stream' && last?.output_type === 'stream' && last.name === output.name) last.text += output.text;
    else outputs.push(output);
  };
  return ({ header, content }) => {
    switch (header.msg_type) {
      case 'execute_input':
        cell.execution_count = content.execution_count ?? cell.execution_count;
        break;
      case 'stream':
        add({ output_type: 'stream', name: content.name, text: content.text });
        break;
      case 'display_data':
      case 'execute_result': {
        const output =
          header.msg_type === 'display_data'
            ? { output_type: 'display_data', data: content.data ?? {}, metadata: content.metadata ?? {} }
            : { output_type: 'execute_result', execution_count: content.execution_count ?? null, data: content.data ?? {}, metadata: content.metadata ?? {} };
        add(output);
        const id = content.transient?.display_id;
        if (id) displays.set(id, [...(displays.get(id) ?? []), output]);
        break;
      }
      case 'update_display_data':
        for (const output of displays.get(content.transient?.display_id) ?? []) {
          output.data = content.data ?? {};
          output.metadata = content.metadata ?? {};
        }
        break;
      case 'error':
        add({ output_type: 'error', ename: content.ename ?? 'Error', evalue: content.evalue ?? '', traceback: content.traceback ?? [] });
        break;
      case 'clear_output':
        if (content.wait) clearPending = true;
        else outputs.length = 0;
        break;
      default:
        break;
    }
  };
}

/**
 * The message of a failed cell: tslab prints compile and runtime errors to
 * stderr and replies { status: 'error' } without ename/evalue/traceback, so
 * both the error (output or reply) and the cell's stderr are reported.
 */
function cellFailureMessage(name, where, reply, outputs, errors, code) {
  const error = errors[0] ?? reply.content;
  const stderr = outputs.filter((o) => o.output_type === 'stream' && o.name === 'stderr').map((o) => o.text).join('');
  const lines = [
    `${name}: ${where} failed (execute_reply status ${reply.content.status})`,
    ...(error.ename || error.evalue ? [`${error.ename ?? 'Error'}: ${error.evalue ?? ''}`] : []),
    ...(Array.isArray(error.traceback) ? error.traceback : []),
    ...(stderr.trim() ? [stderr.trim()] : []),
    '--- cell source ---',
    code,
  ];
  return lines.filter((line) => line !== '').join('\n');
}

/**
 * Executes cell `index` (if it is a non-empty code cell) and records its
 * outputs and execution_count; NotebookError when it fails or times out.
 * @param {{ name: string, channels: ReturnType<typeof createChannels>, withDeadline: ReturnType<typeof deadlines>, cellTimeoutMs: number, displays: Map<string, any[]> }} run
 * @param {any[]} cells
 * @param {number} index
 */
async function runCell({ name, channels, withDeadline, cellTimeoutMs, displays }, cells, index) {
  const cell = cells[index];
  if (cell.cell_type !== 'code') return;
  const code = text(cell.source);
  /** @type {any[]} */
  const outputs = [];
  cell.outputs = outputs;
  cell.execution_count = null;
  if (code.trim() === '') return; // nbclient does not send empty cells either
  const onIopub = outputCollector(cell, outputs, displays);
  const msgId = await channels.send(channels.shell, 'execute_request', { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true });
  const entry = channels.track(msgId, onIopub);
  const where = `cell ${index} (the ${ordinal(cells.slice(0, index + 1).filter((c) => c.cell_type === 'code').length)} code cell)`;
  const [reply] = await withDeadline(Promise.all([entry.replied, entry.idle]), cellTimeoutMs, `${where}`);
  channels.pending.delete(msgId);
  cell.execution_count = reply.content.execution_count ?? cell.execution_count;
  const errors = outputs.filter((o) => o.output_type === 'error');
  if (reply.content.status !== 'ok' || errors.length > 0) {
    throw new NotebookError(cellFailureMessage(name, where, reply, outputs, errors, code));
  }
}

/**
 * Writes the executed notebook as nbformat would (multi-line strings as lists of lines).
 * @returns {string} outPath
 */
function writeExecutedNotebook(notebook, cells, outPath) {
  const out = {
    ...notebook,
    cells: cells.map((cell) => (cell.cell_type === 'code' ? { ...cell, outputs: (cell.outputs ?? []).map(onDisk) } : cell)),
  };
  mkdirSync(path.dirname(outPath), { recursive: true });
  writeFileSync(outPath, `${JSON.stringify(out, null, 1)}\n`);
  return outPath;
}

/**
 * Stops the kernel if it still runs: asks politely (shutdown_request on
 * control, as jupyter_client does), then makes sure (SIGTERM, then SIGKILL);
 * resolves once it exited.
 */
async function shutdownKernel(kernel, channels, withDeadline) {
  const { child, exited } = kernel;
  if (child.exitCode === null && child.signalCode === null) {
    try {
      const entry = channels.track(await withDeadline(channels.send(channels.control, 'shutdown_request', { restart: false }), 2000, 'shutdown_request'));
      await withDeadline(entry.replied, 5000, 'shutdown_reply');
    } catch {
      // the kernel is killed below either way
    }
    const stopped = async (ms) => {
      const timer = delay(ms);
      const done = await Promise.race([exited.then(() => true), timer.promise.then(() => false)]);
      timer.cancel();
      return done;
    };
    if (!(await stopped(3000))) {
      child.kill('SIGTERM');
      if (!(await stopped(3000))) child.kill('SIGKILL');
    }
  }
  await exited;
}
