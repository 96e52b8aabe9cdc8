// How enrichers report their look-ups, without depending on the metrics library: the fleet context
// and the image enricher take an observer; the metrics registry is one.

/** namespace labels, kcp workspaces, image digests, image signature checks. */
export type EnricherName = 'namespace' | 'workspace' | 'image-digest' | 'image-signature';

/** hit: answered from a cache; miss: fetched from its source; error: could not be answered. */
export type LookupResult = 'hit' | 'miss' | 'error';

export type LookupObserver = (enricher: EnricherName, result: LookupResult) => void;
