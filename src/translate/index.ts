// Translation from an AdmissionRequest to the Cedar request policies are judged against.
export { cedarApiGroup, CORE_API_GROUP } from './api-group.js';
export { asArray, asRecord, asString, asStringMap, type JsonRecord } from './json.js';
export { principalEntities } from './principal.js';
export { namespaceEntity, resourceEntities, type RequestFacts } from './resource.js';
export { toCedarRequest } from './request.js';
export {
  CONTAINER_LISTS,
  isWorkloadKind,
  podMetadataPath,
  podSpecPath,
  workloadFacts,
  type WorkloadFacts,
} from './workload.js';
