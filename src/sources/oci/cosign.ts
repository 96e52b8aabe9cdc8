// Cosign key-based signatures: an OCI manifest at tag `sha256-<digest>.sig` whose layers are simple-
// signing payloads, each with its ECDSA P-256 signature in the `dev.cosignproject.cosign/signature`
// annotation. A signature counts when it verifies with a trusted key AND its payload names the image's
// digest (a valid signature of another image proves nothing about this one).
import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { OciError, pushArtifact, type OciClient } from './client.js';

export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const SIMPLE_SIGNING_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';

export type SignatureCheck = { verified: true } | { verified: false; reason: string };

export const signatureTag = (digest: string) => `${digest.replace(':', '-')}.sig`;

export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
      optional: null,
    }),
  );
}

interface SignatureLayer {
  digest: string;
  size: number;
  mediaType: string;
  annotations?: Record<string, string>;
}

/** Verifies an image's cosign signatures against trusted keys. Throws OciError when the registry fails. */
export async function verifyCosign(client: OciClient, registry: string, repository: string, digest: string, keys: readonly KeyObject[]): Promise<SignatureCheck> {
  let manifest;
  try {
    manifest = await client.manifest(registry, repository, signatureTag(digest));
  } catch (error) {
    if (error instanceof OciError && error.status === 404) return { verified: false, reason: 'it is not signed' };
    throw error;
  }
  const layers = (JSON.parse(manifest.body.toString('utf8')) as { layers?: SignatureLayer[] }).layers ?? [];
  const signed = layers.filter((layer) => layer.annotations?.[SIGNATURE_ANNOTATION]);
  if (signed.length === 0) return { verified: false, reason: 'its signature manifest holds no signature' };
  let reason = 'no signature verifies with a trusted key';
  for (const layer of signed) {
    const payload = await client.blob(registry, repository, layer.digest);
    const signature = Buffer.from(layer.annotations?.[SIGNATURE_ANNOTATION] ?? '', 'base64');
    if (!keys.some((key) => verify('sha256', payload, key, signature))) continue;
    let named: unknown;
    try {
      named = (JSON.parse(payload.toString('utf8')) as { critical?: { image?: { 'docker-manifest-digest'?: unknown } } }).critical?.image?.['docker-manifest-digest'];
    } catch {
      named = undefined;
    }
    if (named === digest) return { verified: true };
    reason = `its signature is for ${String(named)}, not for ${digest}`;
  }
  return { verified: false, reason };
}

const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.image.config.v1+json', data: Buffer.from('{}') };

/** Signs an image the way `cosign sign --key` does: used by tests and by tools that publish images. */
export async function signImage(client: OciClient, registry: string, repository: string, digest: string, key: KeyObject, options: { payloadDigest?: string } = {}): Promise<void> {
  const payload = simpleSigningPayload(`${registry}/${repository}`, options.payloadDigest ?? digest);
  const signature = sign('sha256', payload, key).toString('base64');
  await pushArtifact(client, registry, repository, signatureTag(digest), {
    config: EMPTY_CONFIG,
    layers: [{ mediaType: SIMPLE_SIGNING_TYPE, data: payload, annotations: { [SIGNATURE_ANNOTATION]: signature } }],
  });
}

/** Pushes a small image (a config and one layer) and returns its manifest digest. */
export async function pushImage(client: OciClient, registry: string, repository: string, tag: string, content: string): Promise<string> {
  const layer = Buffer.from(content);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(layer).digest('hex')}`] } }));
  return pushArtifact(client, registry, repository, tag, {
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', data: config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', data: layer }],
  });
}
