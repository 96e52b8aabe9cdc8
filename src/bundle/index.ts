// Policy bundles: format (build, sign, verify), stores (HTTP, OCI), and a webhook's sync lifecycle.
export { BundleError, LIMITS, readArchive, writeArchive } from './archive.js';
export { buildBundle, inspectBundle, keyIdOf, readPublicKeys, signBundle, verifyBundle, MANIFEST, SIGNATURE, type BundleManifest, type BundleSignature, type VerifiedBundle } from './format.js';
export { createBundleStore, type StoreOptions } from './store.js';
export { bundleSource, HttpBundleSource, OciBundleSource, parseOciUrl, pushBundle, BUNDLE_LAYER, type BundleSource, type FetchResult } from './sources.js';
export { BundleSync, type BundleStatus, type BundleSyncOptions, type CheckResult } from './sync.js';
export { PolicyDirectoryWatcher, type DirectoryStatus } from './watch.js';
