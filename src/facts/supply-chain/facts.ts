// Supply-chain facts: which images come from outside the allowed sources, whether digests are required
// here, which signatures verified and which did not (and why), and the digest pins a mutation can apply.
import type { KeyObject } from 'node:crypto';
import type { ImageReference, SignatureCheck } from '../../sources/oci/index.js';
import type { ParsedImage } from '../../kubernetes/objects/images.js';
import { own } from '../../kubernetes/objects/json.js';
import { judgedObject, type AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { ClusterIdentity, FleetFacts } from '../../kubernetes/objects/fleet.js';
import { supplyChainImagesOf } from '../../kubernetes/objects/images.js';
import type { SupplyChainData, TrustRule } from './data.js';

/** What the registry said about one image (by its normalised reference). */
export interface ImageLookup {
  digest?: string;
  resolveError?: string;
  signature?: SignatureCheck;
}

export interface SupplyChainFacts {
  /** `context.supplyChain` */
  cedar: {
    unapprovedImages: string[];
    allowedSources: string[];
    requireDigest: boolean;
    signatureFailures: string[];
    verifiedImages: string[];
    unresolvedImages: string[];
  };
  /** Image as written → the same image pinned to its digest, for the pinning mutation. */
  pins: Record<string, string>;
  /**
   * `{{ supplyChain.unpinnedReason }}` in advice: why images are still unpinned, as a sentence. An
   * empty list would read "Canopy could not resolve: none"; when every tag resolved, what is unpinned
   * reached validation without the pinning mutation (no mutating webhook, or `canopy eval` alone).
   */
  unpinnedReason: string;
}


/** The allow-list that applies: the namespace's data class, else the cluster's environment, else default. */
export function allowedSourcesFor(data: SupplyChainData, dataClass: string | undefined, environment: string): string[] | undefined {
  return (dataClass ? own(data.allowedSources.classes, dataClass) : undefined) ?? own(data.allowedSources.environments, environment) ?? data.allowedSources.default;
}

export function digestRequired(data: SupplyChainData, dataClass: string | undefined, environment: string): boolean {
  return data.requireDigest.environments.includes(environment) || (dataClass !== undefined && data.requireDigest.classes.includes(dataClass));
}

/** A source is a registry ("127.0.0.1:5000") or a repository prefix ending in "/" ("docker.io/library/"). */
function approved(reference: ImageReference, sources: readonly string[]): boolean {
  const repository = `${reference.registry}/${reference.repository}`;
  return sources.some((source) => (source.endsWith('/') ? repository.startsWith(source) : reference.registry === source));
}

export function trustRuleFor(data: SupplyChainData, reference: ImageReference): TrustRule | undefined {
  const repository = `${reference.registry}/${reference.repository}`;
  return data.trust.find((rule) => rule.patterns.some((pattern) => pattern.test(repository)));
}

export interface LookupNeeds {
  digest: boolean;
  keys?: readonly KeyObject[];
  ruleId?: string;
}

/**
 * What must be asked of registries for these images: digests where required or to verify, signatures
 * where a trust rule applies. Images from outside the allowed sources are not looked up at all: they
 * are denied anyway, and the webhook must not be a way to make requests to arbitrary hosts.
 */
export function lookupNeeds(
  data: SupplyChainData,
  images: readonly ParsedImage[],
  requireDigest: boolean,
  sources?: readonly string[],
): Map<string, { reference: ImageReference } & LookupNeeds> {
  const needs = new Map<string, { reference: ImageReference } & LookupNeeds>();
  for (const image of images) {
    if (!image.reference) continue;
    if (sources && !approved(image.reference, sources)) continue;
    const rule = trustRuleFor(data, image.reference);
    if (!rule && (!requireDigest || image.reference.digest)) continue;
    needs.set(image.reference.normalized, { reference: image.reference, digest: !image.reference.digest, ...(rule ? { keys: rule.keys, ruleId: rule.id } : {}) });
  }
  return needs;
}

export function supplyChainFacts(
  data: SupplyChainData | undefined,
  images: readonly ParsedImage[],
  lookups: ReadonlyMap<string, ImageLookup>,
  dataClass: string | undefined,
  cluster: ClusterIdentity | undefined,
): SupplyChainFacts | undefined {
  if (!data || images.length === 0) return undefined;
  const environment = cluster?.environment ?? '';
  const sources = allowedSourcesFor(data, dataClass, environment);
  const cedar: SupplyChainFacts['cedar'] = {
    unapprovedImages: [],
    allowedSources: sources ?? [],
    requireDigest: digestRequired(data, dataClass, environment),
    signatureFailures: [],
    verifiedImages: [],
    unresolvedImages: [],
  };
  const pins: Record<string, string> = {};
  for (const image of images) {
    const reference = image.reference;
    if (!reference) {
      cedar.unapprovedImages.push(image.written);
      continue;
    }
    if (sources && !approved(reference, sources)) cedar.unapprovedImages.push(reference.normalized);
    const lookup = lookups.get(reference.normalized);
    if (lookup?.resolveError) cedar.unresolvedImages.push(`${reference.normalized} (${lookup.resolveError})`);
    const trusted = trustRuleFor(data, reference);
    // Pin where digests are required, and always where a signature was verified: the tag could be
    // moved to an unsigned image after the check.
    if (lookup?.digest && !reference.digest && (cedar.requireDigest || (trusted && lookup.signature?.verified))) {
      pins[image.written] = `${image.written}@${lookup.digest}`;
    }
    if (trusted) {
      const signature = lookup?.signature;
      if (signature?.verified) cedar.verifiedImages.push(reference.normalized);
      else cedar.signatureFailures.push(`${reference.normalized}: ${signature ? signature.reason : lookup?.resolveError ?? 'its signature could not be checked'}`);
    }
  }
  const unpinnedReason =
    cedar.unresolvedImages.length > 0
      ? `Canopy could not resolve their digests: ${cedar.unresolvedImages.join(', ')}.`
      : "Pin them (image@sha256:…), or send the request through Canopy's mutating webhook, which pins every tag its registry resolves.";
  return { cedar, pins, unpinnedReason };
}

export interface SupplyChainInputs extends FleetFacts {
  /** What registries said about the request's images, by normalised reference. */
  imageLookups?: ReadonlyMap<string, ImageLookup>;
  /** The data class sovereignty derived: data classes can require digests or narrow the sources. */
  sovereignty?: { dataClass: string };
}

/** The provider's derivation: the facts of the request's images, from the data and the registries' answers. */
export function deriveSupplyChain(request: AdmissionRequest, data: SupplyChainData | undefined, inputs: SupplyChainInputs): SupplyChainFacts | undefined {
  if (!data) return undefined;
  const images = supplyChainImagesOf(request.kind.group, request.kind.kind, judgedObject(request));
  return supplyChainFacts(data, images, inputs.imageLookups ?? new Map(), inputs.sovereignty?.dataClass, inputs.cluster);
}
