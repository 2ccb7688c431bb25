#!/usr/bin/env node
// Executes notebooks headless in the tslab kernel; exits non-zero if any cell
// fails. Writes the executed copies to .test-results/notebooks/.
//
//   node scripts/run-notebooks.mjs [--engine=auto|nbconvert|kernel] [notebook.ipynb ...]
//   (default: every *.ipynb here, engine auto)
//
// Two engines, the same kernel and the same executed copy:
// - nbconvert: `jupyter nbconvert --to notebook --execute` (Debian 12:
//   apt-get install -y jupyter-nbconvert python3-ipykernel jupyter-client),
//   with tslab registered in a temporary Jupyter path so nothing global changes;
// - kernel: scripts/kernel-client.mjs, a Jupyter messaging client in Node that
//   starts the tslab kernel itself and talks to it over ZeroMQ (needs only
//   Node and npm).
// `auto` (the default) picks nbconvert when `jupyter-nbconvert` is on PATH,
// else the kernel client. Both need the workspace packages built
// (`nx run notebooks:test` builds them first) and the tslab kernel from
// kernel/ (npm ci, pinned; installed here when missing).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotebookError, executeNotebook } from './kernel-client.mjs';

export { NotebookError };
export const APP_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KERNEL_DIR = path.join(APP_ROOT, 'kernel');
const KERNEL_BIN = path.join(KERNEL_DIR, 'node_modules', '.bin');
export const INSTALL_HINT =
  'Jupyter is not installed: on Debian 12 run `apt-get install -y jupyter-nbconvert python3-ipykernel jupyter-client` (CI does this in .ci/run)';

export const KERNEL_INSTALL_HINT =
  'the kernel client needs the tslab kernel from apps/notebooks/kernel/: run `npm ci` there (Node and access to the npm registry; zeromq ships its prebuilt binary)';
export const ENGINES = /** @type {const} */ (['auto', 'nbconvert', 'kernel']);

/** The `jupyter-nbconvert` on PATH, or null. */
function nbconvertPath() {
  const which = spawnSync('sh', ['-c', 'command -v jupyter-nbconvert'], { encoding: 'utf8' });
  const bin = (which.stdout ?? '').trim();
  return which.status === 0 && bin !== '' ? bin : null;
}

/** Whether Jupyter's nbconvert is installed (then `engine: 'auto'` uses it). */
export function hasJupyter() {
  return nbconvertPath() !== null;
}

/** The python that runs Jupyter (the shebang of `jupyter-nbconvert`), so the kernel spec lands where it looks. */
function jupyterPython() {
  const bin = nbconvertPath();
  if (bin === null) throw new NotebookError(INSTALL_HINT);
  const shebang = readFileSync(bin, 'utf8').split('\n')[0] ?? '';
  const match = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(shebang);
  if (match === null) return 'python3';
  // `#!/usr/bin/env python3` names the interpreter in its second word.
  return match[1]?.endsWith('/env') ? (match[2] ?? 'python3') : (match[1] ?? 'python3');
}

function kernelInstalled() {
  return ['tslab/package.json', 'tslab/bin/tslab', 'zeromq/package.json'].every((file) => existsSync(path.join(KERNEL_DIR, 'node_modules', file)));
}

function ensureKernel() {
  if (kernelInstalled()) return;
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: KERNEL_DIR, encoding: 'utf8' });
  if (npm.error !== undefined || npm.status !== 0 || !kernelInstalled()) {
    const reason = npm.error?.message ?? (npm.stderr || npm.stdout || '').trim();
    throw new NotebookError(`installing the tslab kernel (npm ci in kernel/) failed: ${reason}; ${KERNEL_INSTALL_HINT}`);
  }
}

/**
 * Executes each notebook; resolves to the paths of the executed copies
 * (`<outDir>/<notebook file name>`, whichever engine ran).
 * @param {string[]} notebooks paths relative to the app root or absolute
 * @param {{ outDir?: string, env?: Record<string, string>, timeoutSeconds?: number, engine?: 'auto' | 'nbconvert' | 'kernel', firstPorts?: number[] }} options
 *   engine: 'auto' (default) uses nbconvert when Jupyter is installed, else the kernel client
 *   firstPorts: the kernel engine's first kernel binds these five ports (tests of its restart)
 * @returns {Promise<string[]>}
 */
export async function runNotebooks(notebooks, options = {}) {
  const engine = options.engine ?? 'auto';
  if (!ENGINES.includes(engine)) throw new NotebookError(`unknown engine ${JSON.stringify(engine)}: use one of ${ENGINES.join(', ')}`);
  const outDir = options.outDir ?? path.join(APP_ROOT, '.test-results', 'notebooks');
  if (engine === 'nbconvert' || (engine === 'auto' && hasJupyter())) return runWithNbconvert(notebooks, outDir, options);
  try {
    ensureKernel();
  } catch (error) {
    // Neither engine can run: say how to get either.
    if (engine === 'auto' && error instanceof NotebookError) throw new NotebookError(`${error.message}\n(nor can nbconvert run: ${INSTALL_HINT})`);
    throw error;
  }
  const env = { ...process.env, ...options.env, PATH: `${KERNEL_BIN}${path.delimiter}${process.env.PATH ?? ''}` };
  const executed = [];
  for (const notebook of notebooks) {
    const source = path.resolve(APP_ROOT, notebook);
    executed.push(
      await executeNotebook(source, {
        kernelDir: KERNEL_DIR,
        outPath: path.join(outDir, path.basename(source)),
        env,
        timeoutSeconds: options.timeoutSeconds ?? 600,
        firstPorts: options.firstPorts,
      }),
    );
  }
  return executed;
}

/** Jupyter nbconvert --execute with the tslab kernel registered in a temporary Jupyter path. */
function runWithNbconvert(notebooks, outDir, options) {
  const python = jupyterPython();
  ensureKernel();
  mkdirSync(outDir, { recursive: true });
  const jupyterHome = mkdtempSync(path.join(tmpdir(), 'fibbars-jupyter-'));
  const env = {
    ...process.env,
    ...options.env,
    PATH: `${KERNEL_BIN}${path.delimiter}${process.env.PATH ?? ''}`,
    JUPYTER_PATH: path.join(jupyterHome, 'share', 'jupyter'),
    JUPYTER_CONFIG_DIR: path.join(jupyterHome, 'config'),
    JUPYTER_RUNTIME_DIR: path.join(jupyterHome, 'runtime'),
    JUPYTER_DATA_DIR: path.join(jupyterHome, 'data'),
  };
  try {
    const install = spawnSync(path.join(KERNEL_BIN, 'tslab'), ['install', `--python=${python}`, `--prefix=${jupyterHome}`], { env, encoding: 'utf8' });
    if (install.status !== 0) throw new NotebookError(`tslab install failed: ${(install.stderr || install.stdout).trim()}`);
    const executed = [];
    for (const notebook of notebooks) {
      const source = path.resolve(APP_ROOT, notebook);
      const result = spawnSync(
        'jupyter',
        [
          'nbconvert',
          '--to',
          'notebook',
          '--execute',
          `--ExecutePreprocessor.timeout=${options.timeoutSeconds ?? 600}`,
          '--ExecutePreprocessor.kernel_name=tslab',
          '--output-dir',
          outDir,
          source,
        ],
        { cwd: APP_ROOT, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
      if (result.status !== 0) {
        const reason = (result.stderr || result.stdout).trim().split('\n');
        const at = reason.findIndex((line) => line.includes('CellExecutionError'));
        throw new NotebookError(`${path.basename(source)} failed:\n${(at >= 0 ? reason.slice(at) : reason.slice(-20)).join('\n')}`);
      }
      executed.push(path.join(outDir, path.basename(source)));
    }
    return executed;
  } finally {
    rmSync(jupyterHome, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const engineArg = args.find((a) => a.startsWith('--engine='));
  const files = args.filter((a) => !a.startsWith('--engine='));
  const notebooks = files.length > 0 ? files : readdirSync(APP_ROOT).filter((f) => f.endsWith('.ipynb'));
  try {
    const started = Date.now();
    const engine = /** @type {'auto' | 'nbconvert' | 'kernel'} */ (engineArg?.slice('--engine='.length) ?? 'auto');
    for (const file of await runNotebooks(notebooks, { engine })) console.log(`executed: ${path.relative(process.cwd(), file)}`);
    console.log(`in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    console.error(`notebooks: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
