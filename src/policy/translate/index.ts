// Translation from an AdmissionRequest and its facts to the Cedar request policies are judged against.
// The Kubernetes helpers it builds on live in kubernetes/ and are re-exported here for its callers.
export * from '../../kubernetes/objects/index.js';
export { principalEntities } from './principal.js';
export { namespaceEntity, resourceEntities } from './resource.js';
export type { RequestFacts } from './facts.js';
export type { DeclaredFactValues } from '../../facts/declared/index.js';
export type { SovereigntyFacts } from '../../facts/sovereignty/index.js';
export { schedulingFacts, storageFacts } from './placement.js';
export { requestScopeOf, toCedarRequest } from './request.js';
export { portableFacts, revivedFacts, type PortableFacts } from './portable-facts.js';
