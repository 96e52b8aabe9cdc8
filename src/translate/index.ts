// Translation from an AdmissionRequest to the Cedar request policies are judged against.
export { cedarApiGroup, CORE_API_GROUP } from './api-group.js';
export { asArray, asRecord, asString, asStringMap, own, type JsonRecord } from './json.js';
export { principalEntities } from './principal.js';
export { namespaceEntity, resourceEntities } from './resource.js';
export {
  EU_MEMBERS,
  jurisdictionsOf,
  REGION_LABEL,
  UNKNOWN_CLUSTER,
  type ClusterIdentity,
  type DeclaredFactValues,
  type RequestFacts,
  type SovereigntyFacts,
  type StorageClassInfo,
  type WorkspaceInfo,
} from './facts.js';
export { schedulingFacts, storageFacts } from './placement.js';
export { REDACTED, redactObject, redactSecrets } from './redact.js';
export { requestScopeOf, toCedarRequest } from './request.js';
export {
  CONTAINER_LISTS,
  isWorkloadKind,
  podMetadataPath,
  podSpecOf,
  podSpecPath,
  workloadFacts,
  type WorkloadFacts,
} from './workload.js';
