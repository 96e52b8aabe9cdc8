// Fleet context: which cluster, namespace and kcp workspace each request is about, with their labels.
export { ConfigError, FLEET_SETTINGS, fleetConfigOf, parseFleetConfig, withoutNulls, type FleetConfig, type FleetSettings } from './config.js';
export { FleetContext, LOGICAL_CLUSTER_ANNOTATION, type FleetStatus } from './context.js';
export {
  describeChange,
  describeIdentity,
  describeOrigin,
  discoverIdentity,
  IDENTITY_PROPERTIES,
  identityChanges,
  identityFromConfig,
  mergeIdentity,
  type DiscoveredIdentity,
  type IdentityChange,
  type IdentityOrigin,
  type IdentitySource,
} from './identity.js';
export { CRD_RECHECK_MS, IdentityWatch, type IdentitySourceWatch, type IdentityStatus, type IdentityWatchOptions } from './identity-watch.js';
export { IngressInventory } from './ingresses.js';
