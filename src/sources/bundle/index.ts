// Policy bundles: format (build, sign, verify), stores (HTTP, OCI), and a webhook's sync lifecycle.
export { BundleError, LIMITS, readArchive, writeArchive } from './archive.js';
export { buildBundle, inspectBundle, type BuildOptions, keyIdOf, readPublicKeys, signBundle, verifyBundle, MANIFEST, SIGNATURE, type BundleManifest, type BundleSignature, type VerifiedBundle } from './format.js';
export { createBundleStore, type StoreOptions } from './store.js';
export { bundleSource, HttpBundleSource, OciBundleSource, parseOciUrl, pushBundle, BUNDLE_LAYER, type BundleSource, type FetchResult } from './sources.js';
export { BundleSync, DEFAULT_CANARIES, DEFAULT_MAX_CLOCK_SKEW_MS, type BundleStatus, type BundleSyncOptions, type Canary, type CheckResult } from './sync.js';
export { audienceProblem, audienceRefusal, parseSelectorText, selectorMismatches, IDENTITY_KEYS, type BundleAudience, type ClusterSelector, type SelectorRequirement } from './audience.js';
export { PolicyDirectoryWatcher, type DirectoryStatus } from './watch.js';
