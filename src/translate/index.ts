// Translation from an AdmissionRequest to the Cedar request policies are judged against.
export { cedarApiGroup, CORE_API_GROUP } from './api-group.js';
export { principalEntities } from './principal.js';
export { namespaceEntity, resourceEntities } from './resource.js';
export { toCedarRequest } from './request.js';
export { isWorkloadKind, workloadFacts, type WorkloadFacts } from './workload.js';
