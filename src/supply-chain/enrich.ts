// Registry look-ups for a request's images, with caches and a deadline: a burst of pods with the same
// image costs one look-up (in-flight requests are shared), digests and verifications are remembered
// for a while (separately), and a registry that is down or slow yields a reason, never a hang.
import { LRUCache } from 'lru-cache';
import { OciError, verifyCosign, type OciClient, type SignatureCheck } from '../oci/index.js';
import type { AdmissionRequest } from '../admission/index.js';
import type { ImageReference } from '../oci/index.js';
import { sovereigntyFacts, type SovereigntyData } from '../sovereignty/index.js';
import type { FleetFacts } from '../kubernetes/fleet.js';
import { imagesOf } from '../kubernetes/images.js';
import type { LookupObserver, LookupResult } from '../facts/lookups.js';
import type { SupplyChainData } from './data.js';
import { allowedSourcesFor, digestRequired, lookupNeeds, type ImageLookup, type LookupNeeds } from './facts.js';

export interface EnricherOptions {
  /** How long one request may wait for registries. */
  deadlineMs?: number;
  digestTtlMs?: number;
  verificationTtlMs?: number;
  /** Told of every registry look-up: answered from the cache (hit), fetched (miss), or failed. */
  onLookup?: LookupObserver;
}

/** A cached answer (fresh, or stale while it refreshes) is a hit; a fetch, or waiting on another's fetch, a miss. */
function cacheResult(status: { fetch?: string }): LookupResult {
  return status.fetch === 'hit' || status.fetch === 'stale' ? 'hit' : 'miss';
}

const describe = (error: unknown, registry: string) =>
  error instanceof OciError ? error.message : `registry ${registry}: ${(error as Error).message}`;

export class ImageEnricher {
  private readonly digests: LRUCache<string, string, ImageReference>;
  private readonly verifications: LRUCache<string, SignatureCheck, { reference: ImageReference; digest: string; needs: LookupNeeds }>;
  private readonly deadlineMs: number;
  private readonly onLookup: LookupObserver;

  constructor(private readonly client: OciClient, options: EnricherOptions = {}) {
    this.deadlineMs = options.deadlineMs ?? 2000;
    this.onLookup = options.onLookup ?? (() => undefined);
    this.digests = new LRUCache({
      max: 10_000,
      ttl: options.digestTtlMs ?? 5 * 60_000,
      fetchMethod: async (_key, _stale, { context }) => this.client.resolve(context.registry, context.repository, context.tag ?? 'latest'),
    });
    this.verifications = new LRUCache({
      max: 10_000,
      ttl: options.verificationTtlMs ?? 10 * 60_000,
      fetchMethod: async (_key, _stale, { context, options: fetchOptions }) => {
        const check = await verifyCosign(this.client, context.reference.registry, context.reference.repository, context.digest, context.needs.keys ?? []);
        // A failed check is remembered briefly: an image signed a moment later must not wait long.
        if (!check.verified) fetchOptions.ttl = Math.min(30_000, options.verificationTtlMs ?? 30_000);
        return check;
      },
    });
  }

  private async lookup(reference: ImageReference, needs: LookupNeeds): Promise<ImageLookup> {
    let digest = reference.digest;
    if (!digest) {
      const status: LRUCache.Status<string, string> = {};
      try {
        digest = await this.digests.fetch(`${reference.registry}/${reference.repository}:${reference.tag}`, { context: reference, status });
        this.onLookup('image-digest', cacheResult(status));
      } catch (error) {
        this.onLookup('image-digest', 'error');
        return { resolveError: describe(error, reference.registry) };
      }
    }
    if (!digest) return { resolveError: `registry ${reference.registry}: no digest for ${reference.normalized}` };
    if (!needs.keys) return { digest };
    const status: LRUCache.Status<string, SignatureCheck> = {};
    try {
      const check = await this.verifications.fetch(`${reference.registry}/${reference.repository}@${digest}|${needs.ruleId}`, { context: { reference, digest, needs }, status });
      this.onLookup('image-signature', cacheResult(status));
      return { digest, ...(check ? { signature: check } : {}) };
    } catch (error) {
      this.onLookup('image-signature', 'error');
      return { digest, signature: { verified: false, reason: `its signature could not be checked (${describe(error, reference.registry)})` } };
    }
  }

  /** Looks every image up at once, and stops waiting at the deadline: what has not answered by then is named as such. */
  async lookupAll(needs: ReadonlyMap<string, { reference: ImageReference } & LookupNeeds>): Promise<Map<string, ImageLookup>> {
    const results = new Map<string, ImageLookup>();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), this.deadlineMs)));
    await Promise.all(
      [...needs.entries()].map(async ([key, need]) => {
        const answer = await Promise.race([this.lookup(need.reference, need), deadline]);
        results.set(key, answer === 'deadline' ? { resolveError: `registry ${need.reference.registry} did not answer within ${this.deadlineMs} ms` } : answer);
      }),
    );
    clearTimeout(timer);
    return results;
  }
}

/**
 * The registry look-ups a request needs under the active policy data: digests where digests are
 * required or signatures checked, signatures where a trust rule applies. Nothing when none applies.
 */
export async function lookUpImages(
  enricher: ImageEnricher,
  data: { supplyChain?: SupplyChainData; sovereignty?: SovereigntyData } | undefined,
  request: AdmissionRequest,
  facts: FleetFacts,
): Promise<{ imageLookups?: ReadonlyMap<string, ImageLookup> }> {
  const supplyChain = data?.supplyChain;
  if (!supplyChain || (request.operation !== 'CREATE' && request.operation !== 'UPDATE')) return {};
  const images = imagesOf(request.kind.group, request.kind.kind, request.object);
  if (images.length === 0) return {};
  const dataClass = sovereigntyFacts(data.sovereignty, facts)?.dataClass;
  const environment = facts.cluster?.environment ?? '';
  const needs = lookupNeeds(supplyChain, images, digestRequired(supplyChain, dataClass, environment), allowedSourcesFor(supplyChain, dataClass, environment));
  return needs.size === 0 ? {} : { imageLookups: await enricher.lookupAll(needs) };
}
