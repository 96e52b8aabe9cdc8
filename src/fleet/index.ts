// Fleet context: which cluster, namespace and kcp workspace each request is about, with their labels.
export { ConfigError, parseFleetConfig, type FleetConfig } from './config.js';
export { FleetContext, LOGICAL_CLUSTER_ANNOTATION, type FleetStatus } from './context.js';
export { discoverIdentity, IDENTITY_PROPERTIES, identityFromConfig, type DiscoveredIdentity } from './identity.js';
