/**
 * `nx run infra:deploy` / `infra:diff`: checks for AWS credentials through the
 * SDK's default provider chain (with a short timeout) before handing the
 * synthesized app (`cdk.out`) to the aws-cdk CLI. Without credentials it stops
 * at once with one line on stderr and exit code 1.
 *
 *   node dist/cli.js deploy [--env dev|prod] [-- <extra cdk arguments>]
 *   node dist/cli.js diff   [--env dev|prod] [-- <extra cdk arguments>]
 */
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { ENVIRONMENT_NAMES, stackName, type EnvironmentName } from './settings.js';

export const CREDENTIALS_TIMEOUT_MS = 5_000;

export type CredentialCheck = { ok: true; source: string } | { ok: false; reason: string };

/**
 * Resolves credentials with the SDK's default Node provider chain (env,
 * SSO, shared files, process, web identity, container, instance metadata),
 * giving up after `timeoutMs`.
 */
export async function checkCredentials(timeoutMs = CREDENTIALS_TIMEOUT_MS): Promise<CredentialCheck> {
  const provider = fromNodeProviderChain({ timeout: Math.min(timeoutMs, 1_000), maxRetries: 0 });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CredentialCheck>((done) => {
    timer = setTimeout(() => done({ ok: false, reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([
      provider().then(
        (credentials): CredentialCheck =>
          credentials.accessKeyId
            ? { ok: true, source: credentials.accessKeyId.slice(0, 4) + '…' }
            : { ok: false, reason: 'the provider chain returned no access key' },
        (error: unknown): CredentialCheck => ({
          ok: false,
          reason: error instanceof Error ? error.message.split('\n')[0] ?? error.name : String(error),
        }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface CliDeps {
  readonly checkCredentials: () => Promise<CredentialCheck>;
  /** Runs the aws-cdk CLI with these arguments; resolves to its exit code. */
  readonly runCdk: (args: string[]) => Promise<number>;
  /** Folder of the synthesized app. */
  readonly cloudAssembly: string;
  readonly stderr: (line: string) => void;
}

export class UsageError extends Error {
  override name = 'UsageError' as const;
}

export interface ParsedArgs {
  readonly command: 'deploy' | 'diff';
  readonly env: EnvironmentName;
  readonly cdkArgs: string[];
}

const USAGE = 'usage: cli.js deploy|diff [--env dev|prod] [-- <cdk arguments>]';

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const [command, ...rest] = argv;
  if (command !== 'deploy' && command !== 'diff') {
    throw new UsageError(`unknown command ${JSON.stringify(command ?? '')}; ${USAGE}`);
  }
  let env: string = 'dev';
  const cdkArgs: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === '--') {
      cdkArgs.push(...rest.slice(i + 1));
      break;
    }
    if (arg === '--env') {
      const value = rest[i + 1];
      if (value === undefined) throw new UsageError(`--env needs a value; ${USAGE}`);
      env = value;
      i++;
    } else if (arg.startsWith('--env=')) {
      env = arg.slice('--env='.length);
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(arg)}; ${USAGE}`);
    }
  }
  if (!(ENVIRONMENT_NAMES as readonly string[]).includes(env)) {
    throw new UsageError(`--env must be one of ${ENVIRONMENT_NAMES.join(', ')}, got ${JSON.stringify(env)}`);
  }
  return { command, env: env as EnvironmentName, cdkArgs };
}

/** The whole command; returns the exit code. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv);
  } catch (error) {
    deps.stderr(`infra: ${(error as Error).message}`);
    return 2;
  }
  const credentials = await deps.checkCredentials();
  if (!credentials.ok) {
    deps.stderr(
      `infra: no AWS credentials (${credentials.reason}); set AWS_PROFILE or run aws sso login / aws configure, then retry`,
    );
    return 1;
  }
  if (!existsSync(join(deps.cloudAssembly, 'manifest.json'))) {
    deps.stderr(`infra: no synthesized app in ${deps.cloudAssembly}; run: nx run infra:synth`);
    return 1;
  }
  const stack = stackName(parsed.env);
  const args =
    parsed.command === 'deploy'
      ? ['deploy', '--app', deps.cloudAssembly, '--require-approval', 'broadening', stack, ...parsed.cdkArgs]
      : ['diff', '--app', deps.cloudAssembly, stack, ...parsed.cdkArgs];
  return deps.runCdk(args);
}

function cdkBin(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('aws-cdk/package.json')), 'bin', 'cdk');
}

function spawnCdk(args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cdkBin(), ...args], { stdio: 'inherit' });
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  process.exitCode = await runCli(process.argv.slice(2), {
    checkCredentials: () => checkCredentials(),
    runCdk: spawnCdk,
    cloudAssembly: join(packageRoot, 'cdk.out'),
    stderr: (line) => console.error(line),
  });
}
