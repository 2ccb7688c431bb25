#!/usr/bin/env node
// Executes notebooks headless with Jupyter's nbconvert and the tslab kernel;
// exits non-zero if any cell fails. Writes the executed copies to
// .test-results/notebooks/.
//
//   node scripts/run-notebooks.mjs [notebook.ipynb ...]   (default: every *.ipynb here)
//
// Needs Jupyter (Debian 12: apt-get install -y jupyter-nbconvert
// python3-ipykernel jupyter-client) and the workspace packages built
// (`nx run notebooks:test` builds them first). The tslab kernel comes from
// kernel/ (npm ci, pinned), registered in a temporary Jupyter path so nothing
// global changes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const APP_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KERNEL_DIR = path.join(APP_ROOT, 'kernel');
const KERNEL_BIN = path.join(KERNEL_DIR, 'node_modules', '.bin');
export const INSTALL_HINT =
  'Jupyter is not installed: on Debian 12 run `apt-get install -y jupyter-nbconvert python3-ipykernel jupyter-client` (CI does this in .ci/run)';

export class NotebookError extends Error {
  name = 'NotebookError';
}

/** The python that runs Jupyter (the shebang of `jupyter-nbconvert`), so the kernel spec lands where it looks. */
function jupyterPython() {
  const which = spawnSync('sh', ['-c', 'command -v jupyter-nbconvert'], { encoding: 'utf8' });
  const bin = which.stdout.trim();
  if (which.status !== 0 || bin === '') throw new NotebookError(INSTALL_HINT);
  const shebang = readFileSync(bin, 'utf8').split('\n')[0] ?? '';
  const match = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(shebang);
  if (match === null) return 'python3';
  // `#!/usr/bin/env python3` names the interpreter in its second word.
  return match[1]?.endsWith('/env') ? (match[2] ?? 'python3') : (match[1] ?? 'python3');
}

function ensureKernel() {
  if (existsSync(path.join(KERNEL_BIN, 'tslab'))) return;
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: KERNEL_DIR, encoding: 'utf8' });
  if (npm.status !== 0) throw new NotebookError(`installing the tslab kernel (npm ci in kernel/) failed: ${(npm.stderr || npm.stdout).trim()}`);
}

/**
 * Executes each notebook; returns the paths of the executed copies.
 * @param {string[]} notebooks paths relative to the app root or absolute
 * @param {{ outDir?: string, env?: Record<string, string>, timeoutSeconds?: number }} options
 */
export function runNotebooks(notebooks, options = {}) {
  const python = jupyterPython();
  ensureKernel();
  const outDir = options.outDir ?? path.join(APP_ROOT, '.test-results', 'notebooks');
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
  const notebooks = args.length > 0 ? args : readdirSync(APP_ROOT).filter((f) => f.endsWith('.ipynb'));
  try {
    for (const file of runNotebooks(notebooks)) console.log(`executed: ${path.relative(process.cwd(), file)}`);
  } catch (error) {
    console.error(`notebooks: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
