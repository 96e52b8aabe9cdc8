// Kubernetes objects as Canopy reads them: defensive JSON access, where a pod spec sits in each kind,
// API group names, images, the fleet a request lands on, and redaction of Secret payloads and env
// values. A leaf: it imports nothing of Canopy's but the OCI reference parser.
export { cedarApiGroup, CORE_API_GROUP } from './api-group.js';
export { EU_MEMBERS, jurisdictionsOf, REGION_LABEL, UNKNOWN_CLUSTER, type ClusterIdentity, type FleetFacts, type StorageClassInfo, type WorkspaceInfo } from './fleet.js';
export { imagesOf, supplyChainImagesOf, type ParsedImage } from './images.js';
export { ingressHostPaths, ingressHosts, isIngress } from './ingresses.js';
export { inferenceServiceContainers, inferenceServiceModels, isInferenceService, KSERVE_GROUP, OCI_SCHEME, type Located } from './inference-services.js';
export { asArray, asRecord, asString, asStringMap, isRecord, own, type JsonRecord } from './json.js';
export { REDACTED, redactObject, redactSecrets } from './redact.js';
export { CONTAINER_LISTS, isWorkloadKind, podMetadataPath, podSpecOf, podSpecPath, workloadFacts, type WorkloadFacts } from './workload.js';
