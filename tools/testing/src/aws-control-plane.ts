/**
 * A loopback server that speaks the wire protocols of the AWS control-plane
 * calls the `fibbars` command makes, so tests drive the real SDK clients
 * (with their middleware, retries and error parsing) through
 * `AWS_ENDPOINT_URL`, with no account:
 *
 * - CloudFormation DescribeStacks and STS GetCallerIdentity: the AWS query
 *   protocol (form-encoded POST, XML answers, `<ErrorResponse>` errors);
 *   https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html,
 *   https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
 * - Step Functions: AWS JSON 1.0 (`X-Amz-Target: AWSStepFunctions.<Op>`,
 *   errors as `{"__type": ...}`); https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html
 * - EventBridge Scheduler GetSchedule: REST JSON, `GET /schedules/{Name}?groupName=`.
 * - ECR DescribeImages by digest: AWS JSON 1.1
 *   (`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.DescribeImages`), with
 *   its documented errors for a repository or image that does not exist
 *   (`RepositoryNotFoundException`, `ImageNotFoundException`, HTTP 400);
 *   https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html
 *
 * It answers only what a test configured; anything else is a 400 naming
 * the unhandled call, so a test cannot pass on an answer nobody set.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StackOutput {
  OutputKey: string;
  OutputValue: string;
}

/** An error as AWS sends it: HTTP status, error code, message. */
export interface AwsFault {
  status: number;
  code: string;
  message: string;
}

export interface ControlPlaneState {
  /** Stacks by name; DescribeStacks on any other answers ValidationError "does not exist". */
  stacks: Record<string, { status?: string; outputs: StackOutput[] }>;
  /** Caller of GetCallerIdentity. */
  caller: { Account: string; Arn: string; UserId: string };
  /** Answers of Step Functions operations by name (JSON bodies). */
  sfn: Record<string, unknown>;
  /** Schedules by `group/name`. */
  schedules: Record<string, Record<string, unknown>>;
  /** ECR repositories by name, each with the digests of its images. */
  ecr: Record<string, { digests: string[] }>;
  /** When set, every call answers this fault. */
  fault?: AwsFault;
}

export interface ReceivedCall {
  service: 'cloudformation' | 'sts' | 'states' | 'scheduler' | 'ecr';
  operation: string;
  params: Record<string, unknown>;
}

export interface ControlPlane {
  url: string;
  state: ControlPlaneState;
  calls: ReceivedCall[];
  close(): Promise<void>;
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function body(req: IncomingMessage): Promise<string> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}

function queryError(fault: AwsFault): string {
  return `<ErrorResponse><Error><Type>Sender</Type><Code>${fault.code}</Code><Message>${xmlEscape(fault.message)}</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`;
}

const ECR_TARGET = 'AmazonEC2ContainerRegistry_V20150921.';

/** DescribeImages with `imageIds` by digest, as ECR answers it; any other ECR call is a fault naming it. */
function describeImages(state: ControlPlaneState, operation: string, params: Record<string, unknown>): AwsFault | { imageDetails: unknown[] } {
  if (operation !== 'DescribeImages') return { status: 400, code: 'UnhandledByTestServer', message: `no answer set for ECR ${operation}` };
  const name = String(params['repositoryName'] ?? '');
  const repository = state.ecr[name];
  const registryId = String(params['registryId'] ?? state.caller.Account);
  if (repository === undefined) {
    return { status: 400, code: 'RepositoryNotFoundException', message: `The repository with name '${name}' does not exist in the registry with id '${registryId}'` };
  }
  const ids = (params['imageIds'] as Array<{ imageDigest?: string }> | undefined) ?? [];
  const missing = ids.find((id) => id.imageDigest === undefined || !repository.digests.includes(id.imageDigest));
  if (missing !== undefined) {
    return { status: 400, code: 'ImageNotFoundException', message: `The image with imageId {imageDigest:'${String(missing.imageDigest)}'} does not exist within the repository with name '${name}' in the registry with id '${registryId}'` };
  }
  return { imageDetails: ids.map((id) => ({ registryId, repositoryName: name, imageDigest: id.imageDigest, imagePushedAt: 1764633600 })) };
}

function ecrAnswer(state: ControlPlaneState, calls: ReceivedCall[], operation: string, text: string): { status: number; body: string } {
  const params = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  calls.push({ service: 'ecr', operation, params });
  const answer = state.fault ?? describeImages(state, operation, params);
  if (!('imageDetails' in answer)) return { status: answer.status, body: JSON.stringify({ __type: answer.code, message: answer.message }) };
  return { status: 200, body: JSON.stringify(answer) };
}

export async function startAwsControlPlane(initial: Partial<ControlPlaneState> = {}): Promise<ControlPlane> {
  const state: ControlPlaneState = {
    stacks: {},
    caller: { Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/operator', UserId: 'AIDAEXAMPLE' },
    sfn: {},
    schedules: {},
    ecr: {},
    ...initial,
  };
  const calls: ReceivedCall[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const text = await body(req);
      const target = req.headers['x-amz-target'];
      const send = (status: number, contentType: string, payload: string, extra: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': contentType, 'x-amzn-requestid': '00000000-0000-0000-0000-000000000000', ...extra });
        res.end(payload);
      };
      const ecr = typeof target === 'string' && target.startsWith(ECR_TARGET) ? ecrAnswer(state, calls, target.slice(ECR_TARGET.length), text) : undefined;
      if (ecr) return send(ecr.status, 'application/x-amz-json-1.1', ecr.body);
      if (typeof target === 'string') {
        const operation = target.split('.').pop() ?? '';
        calls.push({ service: 'states', operation, params: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        const fault = state.fault ?? (state.sfn[operation] === undefined ? { status: 400, code: 'UnhandledByTestServer', message: `no answer set for ${operation}` } : undefined);
        if (fault) return send(fault.status, 'application/x-amz-json-1.0', JSON.stringify({ __type: fault.code, message: fault.message }));
        return send(200, 'application/x-amz-json-1.0', JSON.stringify(state.sfn[operation]));
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const schedule = /^\/schedules\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && schedule) {
        const name = decodeURIComponent(schedule[1] ?? '');
        const group = url.searchParams.get('groupName') ?? 'default';
        calls.push({ service: 'scheduler', operation: 'GetSchedule', params: { Name: name, GroupName: group } });
        const found = state.schedules[`${group}/${name}`];
        const fault = state.fault ?? (found ? undefined : { status: 404, code: 'ResourceNotFoundException', message: `Schedule ${name} does not exist.` });
        if (fault) return send(fault.status, 'application/json', JSON.stringify({ Message: fault.message }), { 'x-amzn-errortype': fault.code });
        return send(200, 'application/json', JSON.stringify(found));
      }
      const params = Object.fromEntries(new URLSearchParams(text));
      const operation = params['Action'] ?? '';
      if (operation === 'GetCallerIdentity') {
        calls.push({ service: 'sts', operation, params });
        if (state.fault) return send(state.fault.status, 'text/xml', queryError(state.fault));
        const c = state.caller;
        return send(
          200,
          'text/xml',
          `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${c.Arn}</Arn><UserId>${c.UserId}</UserId><Account>${c.Account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>0</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
        );
      }
      if (operation === 'DescribeStacks') {
        calls.push({ service: 'cloudformation', operation, params });
        const name = params['StackName'] ?? '';
        const stack = state.stacks[name];
        const fault = state.fault ?? (stack ? undefined : { status: 400, code: 'ValidationError', message: `Stack with id ${name} does not exist` });
        if (fault || !stack) return send(fault?.status ?? 400, 'text/xml', queryError(fault as AwsFault));
        const outputs = stack.outputs
          .map((o) => `<member><OutputKey>${xmlEscape(o.OutputKey)}</OutputKey><OutputValue>${xmlEscape(o.OutputValue)}</OutputValue></member>`)
          .join('');
        return send(
          200,
          'text/xml',
          `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>${xmlEscape(name)}</StackName><StackId>arn:aws:cloudformation:us-east-1:${state.caller.Account}:stack/${xmlEscape(name)}/0</StackId><CreationTime>2026-11-01T00:00:00Z</CreationTime><StackStatus>${stack.status ?? 'CREATE_COMPLETE'}</StackStatus><Outputs>${outputs}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>0</RequestId></ResponseMetadata></DescribeStacksResponse>`,
        );
      }
      send(400, 'text/plain', `the test server has no handler for ${req.method} ${req.url} ${operation}`);
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    calls,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
