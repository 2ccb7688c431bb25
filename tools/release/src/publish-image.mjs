// Pushes the batch-runner image from its OCI layout (built by
// `nx run batch-runner:image`) to a registry with Debian's skopeo, digest
// preserved, and answers the digest the registry holds. Used by
// `publish.mjs batch-runner`, which records it in the release manifest.
//
// - ECR (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`): credentials from
//   ECR GetAuthorizationToken, whose token "is a base64-encoded string that
//   contains authorization data ... When the string is decoded, it is
//   presented in the format user:password"
//   (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetAuthorizationToken.html);
//   handed to skopeo on its command line, never printed.
// - A version tag names one image for good: when the registry already has the
//   tag with this digest, nothing is pushed; with another digest, the publish
//   is refused (ECR's IMMUTABLE tags would refuse the push too).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
// The image builder owns the layout it writes, and how to read its digest.
import { manifestDigest } from '../../../packages/batch-runner/scripts/oci-image.mjs';

const ECR_HOST = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

function skopeo(args) {
  const result = spawnSync('skopeo', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw new Error(`skopeo could not start (${result.error.code ?? result.error.message}): install it (apt-get install skopeo)`);
  return result;
}

/** The local manifest digest of `tag` in an OCI layout. */
function layoutDigest(layout, tag) {
  try {
    return manifestDigest(layout, tag);
  } catch (error) {
    throw new Error(`${error.message.split('\n')[0]}: run nx run batch-runner:image`, { cause: error });
  }
}

async function ecrCredentials(host) {
  const match = ECR_HOST.exec(host);
  if (match === null) return undefined;
  const { ECRClient, GetAuthorizationTokenCommand } = await import('@aws-sdk/client-ecr');
  const client = new ECRClient({ region: match[2] });
  try {
    const answer = await client.send(new GetAuthorizationTokenCommand({}));
    const token = answer.authorizationData?.[0]?.authorizationToken;
    if (token === undefined) throw new Error(`ECR GetAuthorizationToken returned no token for ${host}`);
    return Buffer.from(token, 'base64').toString('utf8');
  } finally {
    client.destroy();
  }
}

/** The digest the registry holds under `repository:tag`, or undefined when the tag is not there. */
function remoteDigest(reference, common) {
  const result = skopeo(['inspect', '--format', '{{.Digest}}', ...common.map((a) => a.replace('--dest-', '--')), `docker://${reference}`]);
  if (result.status === 0) return result.stdout.trim();
  if (/manifest unknown|not found|name unknown/i.test(result.stderr)) return undefined;
  throw new Error(`skopeo inspect ${reference} failed: ${result.stderr.trim().split('\n').pop()}`);
}

/**
 * @param {{ layout: string, tag: string, repository: string, insecure?: boolean, log?: (l: string) => void }} options
 * @returns {Promise<{ repository: string, tag: string, digest: string, pushed: boolean }>}
 */
export async function publishImage({ layout, tag, repository, insecure = false, log = () => {} }) {
  const local = layoutDigest(layout, tag);
  const host = repository.split('/')[0];
  const creds = await ecrCredentials(host);
  const common = [...(insecure ? ['--dest-tls-verify=false'] : []), ...(creds ? ['--dest-creds', creds] : [])];
  const reference = `${repository}:${tag}`;
  const existing = remoteDigest(reference, common);
  if (existing === local) {
    log(`publish: batch-runner ${tag} -> ${reference} (already published as ${local})`);
    return { repository, tag, digest: local, pushed: false };
  }
  if (existing !== undefined) {
    throw new Error(`batch-runner ${tag} is already published as ${existing}; this build is ${local}: bump @fibbars/batch-runner's version (pnpm changeset) to publish it`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'publish-image-'));
  try {
    const digestFile = path.join(dir, 'digest');
    log(`publish: pushing batch-runner ${tag} (${local}) to ${reference}`);
    const copied = skopeo(['copy', '--preserve-digests', '--digestfile', digestFile, ...common, `oci:${layout}:${tag}`, `docker://${reference}`]);
    if (copied.status !== 0) throw new Error(`skopeo copy to ${reference} failed: ${copied.stderr.trim().split('\n').pop()}`);
    const digest = readFileSync(digestFile, 'utf8').trim();
    if (digest !== local) throw new Error(`the registry stored ${digest} for ${reference}, not the built ${local}`);
    log(`publish: batch-runner ${tag} -> ${reference} (pushed ${digest})`);
    return { repository, tag, digest, pushed: true };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
