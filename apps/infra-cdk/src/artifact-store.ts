/**
 * Where releases publish the deployables, once per account and region, shared
 * by every environment (dev and prod deploy the same bytes): the artifact
 * bucket for the Lambda zips and the ECR repository of the batch-runner
 * image. Deployed by `nx run infra:bootstrap` before the first publish; the
 * environment stacks only reference what a release published there
 * (`release.ts`), so a deploy never uploads or builds an artifact.
 *
 * - The bucket is versioned and retained: a zip a stack references is never
 *   lost, and keys name the package version and the bytes' SHA-256.
 * - Image tags are IMMUTABLE: a version tag names one digest for good
 *   (https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html);
 *   the publish step refuses to reuse a version for other bytes before ECR would.
 */
import { Aws, CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { acknowledge } from './nag.js';

export const ARTIFACT_STORE_STACK = 'fibbars-artifacts';
export const IMAGE_REPOSITORY_NAME = 'fibbars/batch-runner';
/** The outputs the release README tells operators to export for `publish`. */
export const ARTIFACT_STORE_OUTPUTS = { bucket: 'ArtifactBucketName', repository: 'ImageRepositoryUri' } as const;

export class ArtifactStoreStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly repository: ecr.Repository;

  constructor(scope: Construct, id: string = ARTIFACT_STORE_STACK, props: StackProps = {}) {
    super(scope, id, { description: 'fibbars release artifacts: Lambda zips and the batch-runner image', ...props });
    this.bucket = new s3.Bucket(this, 'ArtifactBucket', {
      bucketName: `fibbars-artifacts-${Aws.ACCOUNT_ID}-${Aws.REGION}`,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.bucket,
      'AwsSolutions-S1',
      'Written only by the release publisher and read by CloudFormation at deploy time; CloudTrail records those calls.',
    );
    this.repository = new ecr.Repository(this, 'ImageRepository', {
      repositoryName: IMAGE_REPOSITORY_NAME,
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      imageScanOnPush: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    new CfnOutput(this, ARTIFACT_STORE_OUTPUTS.bucket, { value: this.bucket.bucketName, description: 'FIBBARS_ARTIFACT_BUCKET of nx affected -t publish' });
    new CfnOutput(this, ARTIFACT_STORE_OUTPUTS.repository, {
      value: this.repository.repositoryUri,
      description: 'FIBBARS_IMAGE_REPOSITORY of nx affected -t publish',
    });
  }
}
