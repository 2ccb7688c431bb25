/**
 * `nx run infra:deploy` / `infra:diff`: asks STS who the credentials are
 * (GetCallerIdentity, which needs no IAM permission:
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)
 * before handing the synthesized app (`cdk.out`) to the aws-cdk CLI, so
 * missing, fake or expired keys, a missing region or an unreachable endpoint
 * stop at once with one line on stderr (the service, the call and the fix)
 * and exit code 1, instead of deep inside cdk. On success it says which
 * account and principal the deploy runs as.
 *
 *   node dist/cli.js deploy [--env dev|prod] [-- <extra cdk arguments>]
 *   node dist/cli.js diff   [--env dev|prod] [-- <extra cdk arguments>]
 *   node dist/cli.js bootstrap [-- <extra cdk arguments>]
 *
 * `deploy` deploys the artifacts the release manifest names and refuses, with
 * one line, when it names none or one that is not published (`published.ts`);
 * `bootstrap` deploys the artifact store they are published to
 * (`artifact-store.ts`), once per account and region.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { translateAwsError } from '@fibbars/asl-definition/aws-errors';
import { ARTIFACT_STORE_STACK } from './artifact-store.js';
import { unpublishedArtifacts } from './published.js';
import { loadReleaseManifest, missingFromRelease, releaseManifestPath, type ReleaseManifest } from './release.js';
import { ENVIRONMENT_NAMES, stackName, type EnvironmentName } from './settings.js';

export const CREDENTIALS_TIMEOUT_MS = 5_000;

export type CredentialCheck = { ok: true; source: string } | { ok: false; reason: string };

/**
 * Calls STS GetCallerIdentity with the SDK's default provider chain and
 * region, one attempt, giving up after `timeoutMs`. The reason of a failure
 * is one line that names the call and the fix (`@fibbars/asl-definition/aws-errors`).
 */
export async function checkCredentials(timeoutMs = CREDENTIALS_TIMEOUT_MS): Promise<CredentialCheck> {
  const sts = new STSClient({ maxAttempts: 1 });
  try {
    const me = await sts.send(new GetCallerIdentityCommand({}), { abortSignal: AbortSignal.timeout(timeoutMs) });
    return { ok: true, source: `account ${me.Account ?? '?'} as ${me.Arn ?? '?'}` };
  } catch (error) {
    if ((error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError') {
      return { ok: false, reason: `STS GetCallerIdentity: no answer within ${timeoutMs} ms: check the network and AWS_REGION` };
    }
    const line = translateAwsError(error, 'STSClient', 'GetCallerIdentityCommand')?.message;
    return { ok: false, reason: line ?? `STS GetCallerIdentity failed: ${(error as Error).name}: ${((error as Error).message ?? '').split('\n')[0]}` };
  } finally {
    sts.destroy();
  }
}

export interface CliDeps {
  readonly checkCredentials: () => Promise<CredentialCheck>;
  /** Runs the aws-cdk CLI with these arguments; resolves to its exit code. */
  readonly runCdk: (args: string[]) => Promise<number>;
  /** Folder of the synthesized app. */
  readonly cloudAssembly: string;
  /** Where the release manifest is read from (named in messages). */
  readonly releasePath: string;
  /** The release manifest a deploy deploys (`release.ts`); `undefined` when nothing was published. */
  readonly loadRelease: () => ReleaseManifest | undefined;
  /** One line per artifact the manifest names that is not published (`published.ts`). */
  readonly checkPublished: (manifest: ReleaseManifest) => Promise<string[]>;
  readonly stderr: (line: string) => void;
}

export class UsageError extends Error {
  override name = 'UsageError' as const;
}

export interface ParsedArgs {
  readonly command: 'deploy' | 'diff' | 'bootstrap';
  readonly env: EnvironmentName;
  readonly cdkArgs: string[];
}

const USAGE = 'usage: cli.js deploy|diff [--env dev|prod] [-- <cdk arguments>] | cli.js bootstrap [-- <cdk arguments>]';

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const [command, ...rest] = argv;
  if (command !== 'deploy' && command !== 'diff' && command !== 'bootstrap') {
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
    deps.stderr(`infra: ${credentials.reason}`);
    return 1;
  }
  const stack = stackName(parsed.env);
  const refuse = async (check: () => Promise<string | undefined> | string | undefined): Promise<boolean> => {
    let refusal: string | undefined;
    try {
      refusal = await check();
    } catch (error) {
      refusal = (error as Error).message.split('\n')[0];
    }
    if (refusal !== undefined) deps.stderr(`infra: ${refusal}`);
    return refusal !== undefined;
  };
  if (parsed.command === 'deploy' && (await refuse(() => releaseRefusal(deps)))) return 1;
  if (!existsSync(join(deps.cloudAssembly, 'manifest.json'))) {
    deps.stderr(`infra: no synthesized app in ${deps.cloudAssembly}; run: nx run infra:synth`);
    return 1;
  }
  if (parsed.command === 'deploy' && (await refuse(() => assemblyRefusal(deps, stack)))) return 1;
  if (parsed.command === 'bootstrap') {
    deps.stderr(`infra: deploying ${ARTIFACT_STORE_STACK} (where releases publish) in ${credentials.source}`);
    return deps.runCdk(['deploy', '--app', deps.cloudAssembly, '--require-approval', 'broadening', ARTIFACT_STORE_STACK, ...parsed.cdkArgs]);
  }
  deps.stderr(`infra: ${parsed.command === 'deploy' ? 'deploying' : 'diffing'} ${stack} in ${credentials.source}`);
  const args =
    parsed.command === 'deploy'
      ? ['deploy', '--app', deps.cloudAssembly, '--require-approval', 'broadening', stack, ...parsed.cdkArgs]
      : ['diff', '--app', deps.cloudAssembly, stack, ...parsed.cdkArgs];
  return deps.runCdk(args);
}

/**
 * Why a deploy must not start, or `undefined`: a deploy deploys published
 * artifacts only. It needs a release manifest naming both deployables and
 * every artifact in it published (`assemblyRefusal`: and a synthesized app
 * built from it).
 */
async function releaseRefusal(deps: CliDeps): Promise<string | undefined> {
  const release = deps.loadRelease();
  const missing = missingFromRelease(release);
  if (release === undefined || missing.length > 0) {
    return `nothing published to deploy: ${deps.releasePath} names no ${missing.join(', no ')}`;
  }
  const problems = await deps.checkPublished(release);
  if (problems.length > 0) return problems.length === 1 ? problems[0] : `${problems[0]} (and ${problems.length - 1} more)`;
  return undefined;
}

/**
 * A synthesized app with no image to build and no local zip to upload:
 * `cdk deploy` would otherwise build and push them from this machine.
 */
function assemblyRefusal(deps: CliDeps, stack: string): string | undefined {
  const assetsFile = join(deps.cloudAssembly, `${stack}.assets.json`);
  if (existsSync(assetsFile)) {
    const assets = JSON.parse(readFileSync(assetsFile, 'utf8')) as { dockerImages?: object; files?: Record<string, { source?: { path?: string } }> };
    const localZips = Object.values(assets.files ?? {}).filter((file) => file.source?.path?.endsWith('.zip') === true);
    if (Object.keys(assets.dockerImages ?? {}).length > 0 || localZips.length > 0) {
      return `the synthesized app in ${deps.cloudAssembly} would build or upload artifacts from this machine (it was not synthesized from ${deps.releasePath}): run nx run infra:synth`;
    }
  }
  return undefined;
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
  // The SDK's nine-line NodeVersionSupportWarning (Node < 22) would bury the
  // one-line answer; its documented switch turns it off, here and in cdk.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.exitCode = await runCli(process.argv.slice(2), {
    checkCredentials: () => checkCredentials(),
    runCdk: spawnCdk,
    cloudAssembly: join(packageRoot, 'cdk.out'),
    releasePath: releaseManifestPath(),
    loadRelease: () => loadReleaseManifest(),
    checkPublished: (manifest) => unpublishedArtifacts(manifest),
    stderr: (line) => console.error(line),
  });
}
