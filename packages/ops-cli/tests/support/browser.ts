/**
 * The headless Chromium the browser tests drive through playwright-core: the
 * system one where the machine has it (/usr/bin/chromium, or `chromium` on
 * PATH), else the one @sparticuz/chromium ships inside its npm package (x64
 * Linux only). The first call on a machine extracts that one from its brotli
 * archive into the temp directory (`<tmpdir>/chromium`, with its fonts and
 * SwiftShader libraries beside it) and later calls reuse it; a run killed
 * mid-extraction leaves a truncated `<tmpdir>/chromium`: delete it.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export interface HeadlessChromium {
  executablePath: string;
  args: string[];
}

/**
 * Enough for both browsers here. @sparticuz/chromium's own `args` are tuned
 * for AWS Lambda (--single-process, --disable-web-security, ...) and are not
 * needed to start it on a Linux machine.
 */
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

const SYSTEM = '/usr/bin/chromium';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The system Chromium, if there is one. */
export function systemChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (isExecutable(SYSTEM)) return SYSTEM;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, 'chromium'))) return path.join(dir, 'chromium');
  }
  return undefined;
}

/** A Chromium to launch, or an error that says how to get one: never a skip. */
export async function headlessChromium(): Promise<HeadlessChromium> {
  const system = systemChromium();
  if (system) return { executablePath: system, args: [...ARGS] };
  let reason: string;
  if (process.platform === 'linux' && process.arch === 'x64') {
    try {
      const { default: packaged } = await import('@sparticuz/chromium');
      return { executablePath: await packaged.executablePath(), args: [...ARGS] };
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
  } else {
    reason = `it ships a binary for x64 Linux only, this is ${process.platform}-${process.arch}`;
  }
  throw new Error(
    `No headless Chromium: none at ${SYSTEM} or on PATH, and @sparticuz/chromium could not provide one (${reason}). ` +
      'Run "pnpm install" at the workspace root (it installs @sparticuz/chromium, a devDependency of @fibbars/ops-cli), ' +
      'or install a system Chromium (Debian: "apt-get update && apt-get install -y chromium").',
  );
}
