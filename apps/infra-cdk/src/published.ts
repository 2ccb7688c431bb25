/**
 * Before `infra:deploy`: is every artifact the release manifest names really
 * published? One line per artifact that is not, so a deploy never points
 * CloudFormation at a zip or an image that is not there (the Lambda update
 * would fail mid-deploy and roll back; a job definition would accept the
 * image and every job would then fail to pull it).
 *
 * - Lambda zips: S3 HeadObject. A missing key answers 404 `NotFound` when the
 *   caller may list the bucket, 403 otherwise
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html);
 *   both mean "not published for this caller". The size must match the
 *   manifest, and the SHA-256 too where S3 returns one (`ChecksumMode:
 *   ENABLED`, present when the object was uploaded with it:
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
 * - The image: ECR DescribeImages by digest; `ImageNotFoundException` and
 *   `RepositoryNotFoundException` are its documented errors for a missing
 *   image or repository
 *   (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html).
 */
import { DescribeImagesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parseEcrRepository, type PublishedFetchers, type PublishedImage, type ReleaseManifest } from './release.js';

export interface PublishedClients {
  readonly s3: S3Client;
  /** An ECR client for the repository's region. */
  readonly ecr: (region: string) => ECRClient;
}

function defaultClients(): PublishedClients {
  return {
    s3: new S3Client({ followRegionRedirects: true }),
    ecr: (region) => new ECRClient({ region }),
  };
}

function errorName(error: unknown): string {
  return (error as { name?: string }).name ?? 'Error';
}

async function zipProblems(s3: S3Client, fetchers: PublishedFetchers): Promise<string[]> {
  const problems: string[] = [];
  for (const handler of ['ohlcv', 'meta'] as const) {
    const zip = fetchers.lambdas[handler];
    const where = `fetchers ${fetchers.version} ${handler} zip s3://${fetchers.bucket}/${zip.key}`;
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: fetchers.bucket, Key: zip.key, ChecksumMode: 'ENABLED' }));
      if (head.ContentLength !== zip.bytes) {
        problems.push(`${where} holds ${String(head.ContentLength)} bytes, the manifest says ${zip.bytes}: publish again (nx run fetchers:publish)`);
      } else if (head.ChecksumSHA256 !== undefined && head.ChecksumSHA256 !== Buffer.from(zip.sha256, 'hex').toString('base64')) {
        problems.push(`${where} has another SHA-256 than the manifest's: publish again (nx run fetchers:publish)`);
      }
    } catch (error) {
      const name = errorName(error);
      if (name === 'NotFound' || name === 'NoSuchKey' || name === 'Forbidden' || name === 'NoSuchBucket') {
        problems.push(`${where} is not published (${name}): run nx run fetchers:publish`);
      } else throw error;
    }
  }
  return problems;
}

async function imageProblems(ecr: (region: string) => ECRClient, image: PublishedImage): Promise<string[]> {
  const { account, region, name } = parseEcrRepository(image.repository);
  const client = ecr(region);
  const where = `batch-runner ${image.version} image ${image.repository}@${image.digest}`;
  try {
    const found = await client.send(
      new DescribeImagesCommand({ registryId: account, repositoryName: name, imageIds: [{ imageDigest: image.digest }] }),
    );
    if (!(found.imageDetails ?? []).some((detail) => detail.imageDigest === image.digest)) {
      return [`${where} is not published: run nx run batch-runner:publish`];
    }
    return [];
  } catch (error) {
    const errName = errorName(error);
    if (errName === 'ImageNotFoundException' || errName === 'RepositoryNotFoundException') {
      return [`${where} is not published (${errName}): run nx run batch-runner:publish`];
    }
    throw error;
  } finally {
    client.destroy();
  }
}

/** One line per artifact the manifest names that is not published; empty when all are. */
export async function unpublishedArtifacts(manifest: ReleaseManifest, clients: PublishedClients = defaultClients()): Promise<string[]> {
  const problems: string[] = [];
  if (manifest.fetchers !== undefined) problems.push(...(await zipProblems(clients.s3, manifest.fetchers)));
  const image = manifest['batch-runner'];
  if (image !== undefined) problems.push(...(await imageProblems(clients.ecr, image)));
  return problems;
}
