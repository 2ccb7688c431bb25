/**
 * Fetchers: the vendor API key secret and the two fetcher Lambdas (`ohlcv`,
 * `meta`), each with its own log group and least-privilege role.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { LAKE_PREFIX } from '../names.js';
import { acknowledge } from '../nag.js';
import type { PartContext } from './context.js';
import type { DataLake } from './data.js';

export type FetcherName = 'ohlcv' | 'meta';

export interface FetchersProps {
  readonly data: DataLake;
  /** Each handler's code: the published zip in the artifact bucket, or the local zip as an asset (`stack.ts`). */
  readonly code: Readonly<Record<FetcherName, lambda.Code>>;
}

/** One fetcher Lambda and the log group named in the alert text. */
export interface Fetcher {
  readonly function: lambda.Function;
  readonly logGroup: logs.LogGroup;
}

export class Fetchers {
  readonly apiKeySecret: secretsmanager.Secret;
  readonly ohlcv: Fetcher;
  readonly meta: Fetcher;

  constructor(
    private readonly context: PartContext,
    private readonly props: FetchersProps,
  ) {
    this.apiKeySecret = new secretsmanager.Secret(context.scope, 'PolygonApiKey', {
      secretName: `${context.prefix}/polygon-api-key`,
      description: 'Polygon/Massive REST API key read by the fetchers at cold start; set it with put-secret-value.',
    });
    acknowledge(
      this.apiKeySecret,
      'AwsSolutions-SMG4',
      'A vendor-issued API key: a new one is issued in the vendor console, so rotation is a manual put-secret-value.',
    );
    this.ohlcv = this.fetcher('ohlcv');
    this.meta = this.fetcher('meta');
  }

  private fetcher(name: FetcherName): Fetcher {
    const { scope, settings, prefix, retention } = this.context;
    const { data } = this.props;
    const title = name === 'ohlcv' ? 'Ohlcv' : 'Meta';
    const logGroup = new logs.LogGroup(scope, `${title}LogGroup`, {
      logGroupName: `/aws/lambda/${prefix}-${name}`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = this.role(name, title, logGroup);
    const fn = new lambda.Function(scope, `${title}Function`, {
      functionName: `${prefix}-${name}`,
      description: `fibbars ${name} fetcher`,
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: this.props.code[name],
      memorySize: settings[name].memoryMiB,
      timeout: Duration.minutes(settings[name].timeoutMinutes),
      role,
      logGroup,
      tracing: lambda.Tracing.ACTIVE,
      ...(name === 'ohlcv' ? reservedConcurrency(settings.ohlcv.reservedConcurrency) : {}),
      environment: {
        FIBBARS_LAKE: data.lakeUri,
        POLYGON_API_KEY_SECRET_ARN: this.apiKeySecret.secretArn,
        FIBBARS_LOOKBACK_SESSIONS: String(settings.lookbackSessions),
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
    acknowledge(
      role,
      'AwsSolutions-IAM5',
      'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (Resource "*").',
      ['Resource::*'],
    );
    acknowledge(
      role,
      'AwsSolutions-IAM5',
      'Objects under the lake prefix (read) and its raw zone (write) only; keys are per session and fetch.',
      [`Resource::${data.lakeArnRef}/${LAKE_PREFIX}/*`, `Resource::${data.lakeArnRef}/${LAKE_PREFIX}/raw/*`],
    );
    return { function: fn, logGroup };
  }

  /** Its own log group, lake read, raw-zone write, lake list, the API key (X-Ray comes with tracing). */
  private role(name: FetcherName, title: string, logGroup: logs.LogGroup): iam.Role {
    const { data } = this.props;
    const role = new iam.Role(this.context.scope, `${title}FunctionRole`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `fibbars ${name} fetcher: its log group, the API key secret, the lake prefix`,
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadLake', actions: ['s3:GetObject'], resources: [data.lakeObjects] }));
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'WriteRawZone', actions: ['s3:PutObject'], resources: [data.objectsUnder('raw/*')] }),
    );
    role.addToPolicy(data.listStatement);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadApiKey',
        actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        resources: [this.apiKeySecret.secretArn],
      }),
    );
    return role;
  }
}

function reservedConcurrency(value: number | undefined): { reservedConcurrentExecutions?: number } {
  if (value === undefined) return {};
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`ohlcv reserved concurrency must be a positive integer or undefined, got ${value}`);
  }
  return { reservedConcurrentExecutions: value };
}
