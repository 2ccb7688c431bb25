/**
 * Data: the lake bucket (versioned, retained) and the bucket its access logs
 * go to, plus the lake's ARNs and the list grant every lake user shares.
 */
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { LAKE_PREFIX } from '../names.js';
import { acknowledge, arnRef } from '../nag.js';
import type { PartContext } from './context.js';

export class DataLake {
  readonly accessLogsBucket: s3.Bucket;
  readonly lakeBucket: s3.Bucket;
  /** `s3://<bucket>/lake`: FIBBARS_LAKE of the fetchers and the jobs. */
  readonly lakeUri: string;
  /** ARN of every object under the lake prefix. */
  readonly lakeObjects: string;
  /** The `<LakeBucket.Arn>` form cdk-nag uses in IAM5 findings. */
  readonly lakeArnRef: string;
  /**
   * `s3:ListBucket` on the lake bucket, one statement shared by every role.
   * No s3:prefix condition on purpose: S3 answers a GET or HEAD of a missing
   * key with 404 only to callers that hold s3:ListBucket, and such requests
   * carry no prefix, so a prefix-conditioned grant would turn every "not
   * there yet" (commit heads, exists checks) into 403 AccessDenied. The
   * bucket holds nothing but the lake, so listing it reveals nothing more.
   */
  readonly listStatement: iam.PolicyStatement;

  constructor({ scope, settings, prefix }: PartContext) {
    this.accessLogsBucket = new s3.Bucket(scope, 'AccessLogsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
    });
    acknowledge(
      this.accessLogsBucket,
      'AwsSolutions-S1',
      'This is the access-log bucket of the lake; logging it into itself would loop.',
    );

    this.lakeBucket = new s3.Bucket(scope, 'LakeBucket', {
      bucketName: `${prefix}-lake-${Aws.ACCOUNT_ID}-${Aws.REGION}`,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'lake-bucket/',
      lifecycleRules: [
        {
          // gc deletes unreferenced files; versioning keeps them as noncurrent
          // versions for a grace period, then they go for good.
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: Duration.days(settings.noncurrentVersionDays),
          expiredObjectDeleteMarker: true,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          // Scratch space that no commit ever references.
          id: 'expire-tmp',
          prefix: `${LAKE_PREFIX}/tmp/`,
          expiration: Duration.days(settings.tmpExpirationDays),
        },
      ],
    });
    this.lakeUri = `s3://${this.lakeBucket.bucketName}/${LAKE_PREFIX}`;
    this.lakeObjects = this.lakeBucket.arnForObjects(`${LAKE_PREFIX}/*`);
    this.lakeArnRef = arnRef(this.lakeBucket);
    this.listStatement = new iam.PolicyStatement({
      sid: 'ListLake',
      actions: ['s3:ListBucket'],
      resources: [this.lakeBucket.bucketArn],
    });
  }

  /** ARN of the objects under `lake/<path>` (e.g. `raw/*`). */
  objectsUnder(path: string): string {
    return this.lakeBucket.arnForObjects(`${LAKE_PREFIX}/${path}`);
  }
}
