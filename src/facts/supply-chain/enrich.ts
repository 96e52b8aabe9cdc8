// Registry look-ups for a request's images, with caches and a deadline: a burst of pods with the same
// image costs one look-up (in-flight requests are shared), digests and verifications are remembered
// for a while (separately), and a registry that is down or slow yields a reason, never a hang. The work
// one request can cause is bounded: at most `maxLookupsPerRequest` distinct images needing a look-up
// (more: the request is denied, naming the limit, before any is made), and look-ups in flight are
// bounded over all requests, with a fair share per tenant (limiter.ts).
import { setMaxListeners } from 'node:events';
import { LRUCache } from 'lru-cache';
import { OciError, verifyCosign, type OciClient, type SignatureCheck } from '../../sources/oci/index.js';
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { ImageReference } from '../../sources/oci/index.js';
import { sovereigntyFacts, type SovereigntyData } from '../sovereignty/index.js';
import type { FleetFacts } from '../../kubernetes/objects/fleet.js';
import { supplyChainImagesOf } from '../../kubernetes/objects/images.js';
import type { LookupObserver, LookupResult } from '../lookups.js';
import type { SupplyChainData } from './data.js';
import { tenantOf } from '../quota/index.js';
import { allowedSourcesFor, digestRequired, lookupNeeds, type ImageLookup, type LookupNeeds } from './facts.js';
import { LookupAbandoned, LookupLimiter } from './limiter.js';
import { messageOf } from '../../operations/errors/index.js';

/** Distinct images one request may need looked up; more are denied before any look-up. */
export const DEFAULT_MAX_LOOKUPS_PER_REQUEST = 64;
/** Image look-ups in flight at once, over every request and tenant. */
export const DEFAULT_MAX_CONCURRENT_LOOKUPS = 32;
/** Image look-ups in flight at once for one tenant. */
export const DEFAULT_MAX_LOOKUPS_PER_TENANT = 8;

export interface EnricherOptions {
  /** How long one request may wait for registries. */
  deadlineMs?: number;
  digestTtlMs?: number;
  verificationTtlMs?: number;
  /** Told of every registry look-up: answered from the cache (hit), fetched (miss), or failed. */
  onLookup?: LookupObserver;
  /** Distinct images one request may need looked up (cached or not); over it, none is looked up and the request is denied. Default 64. */
  maxLookupsPerRequest?: number;
  /** Look-ups not answered from the cache in flight at once, over all requests. Default 32. */
  maxConcurrentLookups?: number;
  /** Of those, at most this many for one tenant; waiting tenants are served in turn. Default 8. */
  maxLookupsPerTenant?: number;
}

/** A cached answer (fresh, or stale while it refreshes) is a hit; a fetch, or waiting on another's fetch, a miss. */
function cacheResult(status: { fetch?: string }): LookupResult {
  return status.fetch === 'hit' || status.fetch === 'stale' ? 'hit' : 'miss';
}

const describe = (error: unknown, registry: string) =>
  error instanceof OciError ? error.message : `registry ${registry}: ${messageOf(error)}`;

export class ImageEnricher {
  private readonly digests: LRUCache<string, string, ImageReference>;
  private readonly verifications: LRUCache<string, SignatureCheck, { reference: ImageReference; digest: string; needs: LookupNeeds }>;
  private readonly deadlineMs: number;
  private readonly onLookup: LookupObserver;
  readonly maxLookupsPerRequest: number;
  /** Bounds the look-ups in flight, fairly between tenants. */
  readonly limiter: LookupLimiter;

  constructor(private readonly client: OciClient, options: EnricherOptions = {}) {
    this.deadlineMs = options.deadlineMs ?? 2000;
    this.maxLookupsPerRequest = options.maxLookupsPerRequest ?? DEFAULT_MAX_LOOKUPS_PER_REQUEST;
    const global = options.maxConcurrentLookups ?? DEFAULT_MAX_CONCURRENT_LOOKUPS;
    this.limiter = new LookupLimiter({ global, perTenant: Math.min(global, options.maxLookupsPerTenant ?? DEFAULT_MAX_LOOKUPS_PER_TENANT) });
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

  /** Whether the cache answers this look-up without asking a registry (fresh entries only). */
  private cached(reference: ImageReference, needs: LookupNeeds): boolean {
    const digest = reference.digest ?? this.digests.get(`${reference.registry}/${reference.repository}:${reference.tag}`, { allowStale: false, updateAgeOnGet: false });
    if (!digest) return false;
    return !needs.keys || this.verifications.has(`${reference.registry}/${reference.repository}@${digest}|${needs.ruleId}`);
  }

  /**
   * Looks every image up, each with a slot of the limiter (`tenant`'s fair share) unless the cache
   * answers it, and stops waiting at the deadline: what has not answered by then is named as such.
   * Look-ups still waiting for a slot then leave the queue; those running keep their slot until their
   * exchange ends (the client's own timeout bounds it), so the slots bound the real work in flight.
   */
  async lookupAll(needs: ReadonlyMap<string, { reference: ImageReference } & LookupNeeds>, tenant = ''): Promise<Map<string, ImageLookup>> {
    const results = new Map<string, ImageLookup>();
    const abandon = new AbortController();
    // Every look-up waiting for a slot listens for the abandonment: as many as the request has images.
    setMaxListeners(0, abandon.signal);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), this.deadlineMs)));
    const waiting = new Set<string>();
    const limited = async (key: string, reference: ImageReference, need: LookupNeeds): Promise<ImageLookup | 'abandoned'> => {
      if (this.cached(reference, need)) return this.lookup(reference, need);
      let release: () => void;
      waiting.add(key);
      try {
        release = await this.limiter.acquire(tenant, abandon.signal);
        waiting.delete(key);
      } catch (error) {
        if (error instanceof LookupAbandoned) return 'abandoned';
        throw error;
      }
      try {
        return await this.lookup(reference, need);
      } finally {
        release();
      }
    };
    await Promise.all(
      [...needs.entries()].map(async ([key, need]) => {
        const answer = await Promise.race([limited(key, need.reference, need), deadline]);
        if (typeof answer !== 'string') results.set(key, answer);
        else if (waiting.has(key)) {
          results.set(key, { resolveError: `registry ${need.reference.registry} was not asked within ${this.deadlineMs} ms: the look-ups were still waiting for a slot (supplyChain.maxConcurrentLookups, maxLookupsPerTenant)` });
        } else results.set(key, { resolveError: `registry ${need.reference.registry} did not answer within ${this.deadlineMs} ms` });
      }),
    );
    clearTimeout(timer);
    abandon.abort();
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
): Promise<{ imageLookups?: ReadonlyMap<string, ImageLookup>; unavailable?: string }> {
  const supplyChain = data?.supplyChain;
  if (!supplyChain || (request.operation !== 'CREATE' && request.operation !== 'UPDATE')) return {};
  const images = supplyChainImagesOf(request.kind.group, request.kind.kind, request.object);
  if (images.length === 0) return {};
  const dataClass = sovereigntyFacts(data.sovereignty, facts)?.dataClass;
  const environment = facts.cluster?.environment ?? '';
  const needs = lookupNeeds(supplyChain, images, digestRequired(supplyChain, dataClass, environment), allowedSourcesFor(supplyChain, dataClass, environment));
  if (needs.size === 0) return {};
  // Counted whether cached or not, so the same object gets the same answer on every replica, warm or cold.
  if (needs.size > enricher.maxLookupsPerRequest) {
    return {
      unavailable:
        `${needs.size} distinct images here need a registry look-up (digest or signature); Canopy looks up at most ` +
        `${enricher.maxLookupsPerRequest} for one request (supplyChain.maxLookupsPerRequest): denied without looking any up`,
    };
  }
  // The tenant whose fair share of look-ups this request draws on: its tenant or team label, else the namespace.
  const tenant = tenantOf(facts.namespaceLabels, facts.workspace?.path) ?? request.namespace;
  return { imageLookups: await enricher.lookupAll(needs, tenant) };
}
