import { afterAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openLake, resample } from '@fibbars/ohlcv-core';
import { freePorts } from '../../scripts/kernel-client.mjs';
import { INSTALL_HINT, NotebookError, hasJupyter, runNotebooks } from '../../scripts/run-notebooks.mjs';

// Executes the quickstart in the tslab kernel and checks what it computed
// against ohlcv-core run here on the lake it built. Always through the Node
// kernel client (scripts/kernel-client.mjs, ZeroMQ, no Jupyter needed); through
// Jupyter nbconvert as well where Jupyter is installed (CI installs it).

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
}
interface Cell {
  cell_type: string;
  execution_count?: number | null;
  outputs?: Output[];
}
interface Summary {
  lake: string;
  ticker: string;
  close5: number[];
  close21: number[];
}
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const joined = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join('') : (v ?? ''));

async function execute(engine: 'kernel' | 'nbconvert', dir: string, lakeDir: string): Promise<Cell[]> {
  const started = Date.now();
  const [executed] = await runNotebooks(['quickstart.ipynb'], { engine, outDir: path.join(dir, 'out'), env: { FIBBARS_NOTEBOOK_LAKE: lakeDir } });
  console.log(`quickstart.ipynb executed by the ${engine} engine in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  expect(executed).toBe(path.join(dir, 'out', 'quickstart.ipynb'));
  return (JSON.parse(fs.readFileSync(executed ?? '', 'utf8')) as { cells: Cell[] }).cells;
}

/** `numbered`: the kernel client records execution counts; nbconvert with the tslab kernel leaves them null. */
function expectCleanRun(cells: Cell[], numbered = true) {
  const code = cells.filter((c) => c.cell_type === 'code');
  expect(code.length).toBeGreaterThan(3);
  // Executed in order, each once.
  if (numbered) expect(code.map((c) => c.execution_count)).toEqual(code.map((_, i) => i + 1));
  // Every cell after the imports prints or displays something.
  expect(code.slice(1).filter((c) => (c.outputs ?? []).length === 0)).toEqual([]);
  for (const c of code) {
    expect((c.outputs ?? []).filter((o) => o.output_type === 'error' || o.name === 'stderr')).toEqual([]);
  }
}

function summaryOf(cells: Cell[]): Summary {
  const line = cells
    .flatMap((c) => c.outputs ?? [])
    .map((o) => joined(o.text))
    .join('')
    .split('\n')
    .find((l) => l.startsWith('quickstart-summary '));
  expect(line).toBeDefined();
  return JSON.parse((line ?? '').slice('quickstart-summary '.length)) as Summary;
}

describe('the quickstart notebook, executed headless', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-notebook-test-'));
  const lakeDir = path.join(tmp, 'kernel', 'lake');
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  let cells: Cell[] = [];

  it('runs every cell without an error in the tslab kernel, driven over ZeroMQ by the Node kernel client (no Jupyter)', async () => {
    cells = await execute('kernel', path.join(tmp, 'kernel'), lakeDir);
    expectCleanRun(cells);
  });

  it('resamples the ticker to 5 and 21 sessions exactly as ohlcv-core does on the lake it built', async () => {
    const summary = summaryOf(cells);
    expect(summary.lake).toBe(lakeDir);

    const lake = openLake(lakeDir);
    const history = await lake.read('ohlcv_1d', { tickers: [summary.ticker] });
    const splits = await lake.read('splits');
    const closes = (frame: { getColumn(name: string): { toArray(): unknown[] } }) => frame.getColumn('close').toArray();
    expect(history.height).toBeGreaterThan(100);
    expect(summary.close5).toEqual(closes(resample(history, { days: 5, splits })));
    expect(summary.close21).toEqual(closes(resample(history, { days: 21, splits })));
    // And as the lake's own committed bars.
    expect(summary.close5).toEqual(closes(await lake.read('ohlcv_5d', { tickers: [summary.ticker] })));
    expect(summary.close21).toEqual(closes(await lake.read('ohlcv_21d', { tickers: [summary.ticker] })));
  });

  it('shows a chart: an SVG with one candle per 5-session bar and the 21-session close line', () => {
    const svgs = cells.flatMap((c) => c.outputs ?? []).flatMap((o) => (o.data?.['image/svg+xml'] !== undefined ? [joined(o.data['image/svg+xml'])] : []));
    expect(svgs).toHaveLength(1);
    const svg = svgs[0] ?? '';
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const close5 = summaryOf(cells).close5;
    expect(svg.match(/class="candle"/g)).toHaveLength(close5.length);
    expect(svg).toMatch(/<polyline class="close-21" points="[-\d., ]+"/);
  });

  if (hasJupyter()) {
    it('runs under Jupyter nbconvert --execute too (Jupyter is installed), computing the same bars', async () => {
      const nbconvertLake = path.join(tmp, 'nbconvert', 'lake');
      const viaJupyter = await execute('nbconvert', path.join(tmp, 'nbconvert'), nbconvertLake);
      expectCleanRun(viaJupyter, false);
      const { lake, ...bars } = summaryOf(viaJupyter);
      expect(lake).toBe(nbconvertLake);
      const { lake: _kernelLake, ...kernelBars } = summaryOf(cells);
      expect(bars).toEqual(kernelBars);
    });
  } else {
    it('refuses the nbconvert engine without Jupyter (not installed here), naming the packages to install', async () => {
      const run = runNotebooks(['quickstart.ipynb'], { engine: 'nbconvert', outDir: path.join(tmp, 'nbconvert', 'out') });
      await expect(run).rejects.toBeInstanceOf(NotebookError);
      await expect(run).rejects.toThrow(INSTALL_HINT);
      expect(fs.existsSync(path.join(tmp, 'nbconvert', 'out', 'quickstart.ipynb'))).toBe(false);
    });
  }
});

describe('the kernel client on a failing notebook', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fibbars-notebook-fail-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('stops at the failing cell with a NotebookError naming it and the error, and writes no executed copy', async () => {
    const code = (id: string, source: string) => ({ cell_type: 'code', id, metadata: {}, source, execution_count: null, outputs: [] });
    const notebook = {
      cells: [code('a', 'const answer: number = 6 * 7;'), { cell_type: 'markdown', id: 'b', metadata: {}, source: 'text' }, code('c', 'answer'), code('d', "throw new Error('boom in the third code cell');"), code('e', 'answer + 1')],
      metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
      nbformat: 4,
      nbformat_minor: 5,
    };
    const source = path.join(tmp, 'failing.ipynb');
    fs.writeFileSync(source, JSON.stringify(notebook));
    const run = runNotebooks([source], { engine: 'kernel', outDir: path.join(tmp, 'out'), timeoutSeconds: 120 });
    await expect(run).rejects.toBeInstanceOf(NotebookError);
    await expect(run).rejects.toThrow(/failing\.ipynb: cell 3 \(the 3rd code cell\) failed[\s\S]*Error: boom in the third code cell/);
    expect(fs.existsSync(path.join(tmp, 'out', 'failing.ipynb'))).toBe(false);
  });

  it('starts a fresh kernel when the first cannot bind its shell port, and runs the notebook in it', async () => {
    const notebook = {
      cells: [{ cell_type: 'code', id: 'a', metadata: {}, source: '6 * 7', execution_count: null, outputs: [] }],
      metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
      nbformat: 4,
      nbformat_minor: 5,
    };
    const source = path.join(tmp, 'restart.ipynb');
    fs.writeFileSync(source, JSON.stringify(notebook));
    const ports = await freePorts(5);
    // Someone else listens on the first kernel's shell port: tslab logs the failed bind and runs on.
    const squatter = net.createServer();
    const connections = new Set<net.Socket>();
    // (read, so that the client's FIN is seen and the socket closes)
    squatter.on('connection', (socket) => connections.add(socket.on('close', () => connections.delete(socket)).resume()));
    await new Promise<void>((resolve) => squatter.listen(ports[0], '127.0.0.1', resolve));
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const [executed] = await runNotebooks([source], { engine: 'kernel', outDir: path.join(tmp, 'out'), timeoutSeconds: 120, firstPorts: ports });
      const cells = (JSON.parse(fs.readFileSync(executed ?? '', 'utf8')) as { cells: Cell[] }).cells;
      // tslab colours the value when the environment forces colour (Nx sets FORCE_COLOR).
      const outputs = cells[0]?.outputs ?? [];
      expect(outputs.map((o) => [o.output_type, o.name])).toEqual([['stream', 'stdout']]);
      expect(joined(outputs[0]?.text).replace(ANSI, '')).toBe('42\n');
    } finally {
      process.stderr.write = write;
      // The first kernel's client connected to the squatter; it must have hung up by now.
      for (let waited = 0; connections.size > 0 && waited < 5000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
      const leftOpen = connections.size;
      for (const socket of connections) socket.destroy();
      await new Promise((resolve) => squatter.close(resolve));
      expect(leftOpen).toBe(0);
    }
    expect(stderr.join('')).toMatch(/restart\.ipynb: the tslab kernel could not bind its ports[\s\S]*starting a fresh kernel \(attempt 2 of 3\)/);
  });

  it('picks the kernel ports below the ephemeral range, where no outgoing connection can take one', async () => {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(1024);
      expect(port).toBeLessThan(low);
    }
  });
});
