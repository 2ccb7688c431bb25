/**
 * Errors of AWS calls as one actionable line (`@fibbars/asl-definition/aws-errors`,
 * shared by the `fibbars` command and the CDK app's deploy wrapper): which service and operation,
 * what is wrong, and the fix. The SDK's own messages ("Region is missing",
 * "Could not load credentials from any providers", "connect ECONNREFUSED
 * 127.0.0.1:9") name neither the call nor the remedy.
 *
 * Only failures of the caller's setup are translated (region, credentials,
 * network, refused or unauthorised credentials); a service's own errors
 * (ResourceNotFoundException, ExecutionDoesNotExist, ...) pass through with
 * their names, so commands can still catch them by name.
 *
 * Sources: the SDK throws `Error("Region is missing")` from its region
 * resolver and `CredentialsProviderError` from the default provider chain
 * (https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/setting-credentials-node.html);
 * AWS query and JSON protocols answer `UnrecognizedClientException`,
 * `InvalidClientTokenId`, `InvalidSignatureException`, `ExpiredToken(Exception)`
 * for credentials they refuse and `AccessDenied(Exception)` for a caller
 * without the IAM action (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html).
 */

/**
 * The translated error: `exitCode` 2 for a setup the caller must fix (no
 * region, no credentials), 1 for a failure to look at. Commands map it to
 * their own exit; `name` is `AwsSetupError`.
 */
export class AwsSetupError extends Error {
  override name = 'AwsSetupError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const setup = (message: string, cause: unknown) => new AwsSetupError(message, 2, { cause });
const failure = (message: string, cause: unknown) => new AwsSetupError(message, 1, { cause });

/** Display name and IAM action prefix by SDK client name. */
const SERVICES: Record<string, { name: string; iam: string }> = {
  SFNClient: { name: 'Step Functions', iam: 'states' },
  SchedulerClient: { name: 'EventBridge Scheduler', iam: 'scheduler' },
  CloudFormationClient: { name: 'CloudFormation', iam: 'cloudformation' },
  STSClient: { name: 'STS', iam: 'sts' },
  S3Client: { name: 'S3', iam: 's3' },
};

const REFUSED_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'ExpiredToken',
  'ExpiredTokenException',
]);
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException']);
const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH']);

const firstLine = (s: string): string => s.split('\n')[0]?.trim() ?? '';

/**
 * The one-line error for a failed AWS call, or undefined when the error is
 * the service's own answer and should pass through unchanged.
 */
export function translateAwsError(err: unknown, clientName: string | undefined, commandName: string | undefined): AwsSetupError | undefined {
  if (!(err instanceof Error)) return undefined;
  const service = SERVICES[clientName ?? ''] ?? { name: (clientName ?? 'AWS').replace(/Client$/, ''), iam: '' };
  const operation = (commandName ?? '').replace(/Command$/, '');
  const call = operation ? `${service.name} ${operation}` : service.name;
  const e = err as Error & { code?: string; address?: string; port?: number; hostname?: string; $metadata?: unknown };
  const message = firstLine(e.message);
  if (message === 'Region is missing') {
    return setup(`${call}: no AWS region: export AWS_REGION=<region of the stack>, e.g. us-east-1, or set region in the profile's config`, err);
  }
  if (e.name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return setup(`${call}: no AWS credentials found: set AWS_PROFILE (and run aws sso login) or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`, err);
  }
  const code = e.code ?? (NETWORK.has(e.name) ? e.name : undefined);
  if ((code && NETWORK.has(code)) || e.name === 'TimeoutError') {
    const where = e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : e.hostname ?? 'the endpoint';
    return failure(`${call}: endpoint unreachable (${code ?? e.name} at ${where}): check the network, AWS_REGION and any AWS_ENDPOINT_URL variable`, err);
  }
  if (REFUSED_CREDENTIALS.has(e.name)) {
    return failure(`${call}: AWS refused the credentials (${e.name}: ${message}): they are wrong or expired; refresh them (aws sso login) or fix AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`, err);
  }
  if (ACCESS_DENIED.has(e.name)) {
    const action = service.iam && operation ? `${service.iam}:${operation}` : 'the IAM action';
    return failure(`${call}: access denied (${message}): grant ${action} to the caller, or use a role that has it`, err);
  }
  return undefined;
}

/**
 * Adds the translation to a client: every `send` that fails for one of the
 * reasons above throws the one-line error instead. Returns the same client.
 */
export function withOneLineErrors<C extends { middlewareStack: { add: (middleware: never, options: never) => void } }>(client: C): C {
  const add = client.middlewareStack.add.bind(client.middlewareStack) as unknown as (middleware: Middleware, options: object) => void;
  add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        throw translateAwsError(err, context.clientName, context.commandName) ?? err;
      }
    },
    { step: 'initialize', priority: 'high', name: 'fibbarsOneLineErrors' },
  );
  return client;
}

/** The shape of an SDK v3 middleware (`@smithy/types` InitializeMiddleware), kept structural. */
type Middleware = (
  next: (args: unknown) => Promise<unknown>,
  context: { clientName?: string; commandName?: string },
) => (args: unknown) => Promise<unknown>;
