// An AdmissionReview for an object Canopy reads itself (a policy test case, an audited manifest or
// cluster object), shaped as the API server would send it, so that it goes through the same pipeline.
import { ADMISSION_API_VERSION, type Operation, type UserInfo } from './review.js';

type Json = Record<string, unknown>;

/** Built-in cluster-scoped kinds: their requests carry no namespace. */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'StorageClass', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass',
  'CustomResourceDefinition', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'IngressClass',
  'RuntimeClass', 'CSIDriver', 'CSINode', 'VolumeAttachment', 'APIService',
]);

/** Kubernetes' plural for a kind, for the common cases; callers that know the resource pass it instead. */
export function pluralOf(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower === 'endpoints') return lower;
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

export interface SyntheticRequest {
  uid: string;
  operation: Operation;
  userInfo: UserInfo;
  /** The object as written; null for DELETE. */
  object: Json | null;
  oldObject: Json | null;
  dryRun: boolean;
  /** The resource's plural when the caller knows it (a cluster listing does). */
  resource?: string;
  subResource?: string;
  /**
   * Whether its kind is cluster-scoped, when the caller knows (a cluster listing, a test case's
   * `scope`): a custom resource's scope is in its CRD, not its manifest. Built-in kinds are known.
   */
  clusterScoped?: boolean;
}

/** The coordinates of an object: group, version, kind, name and the namespace its request would carry. */
export function objectCoordinates(object: Json, clusterScoped?: boolean): { group: string; version: string; kind: string; name: string; namespace: string } {
  const apiVersion = typeof object['apiVersion'] === 'string' ? object['apiVersion'] : 'v1';
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/', 2) as [string, string]) : ['', apiVersion];
  const kind = typeof object['kind'] === 'string' ? object['kind'] : '';
  const metadata = (typeof object['metadata'] === 'object' && object['metadata'] !== null ? object['metadata'] : {}) as Json;
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : '';
  // A Namespace's own requests carry its name as the namespace, as the API server sends them.
  const namespace =
    kind === 'Namespace' ? name : (clusterScoped ?? CLUSTER_SCOPED.has(kind)) ? '' : typeof metadata['namespace'] === 'string' ? metadata['namespace'] : 'default';
  return { group, version, kind, name, namespace };
}

export function syntheticReview(request: SyntheticRequest): Json {
  const { group, version, kind, name, namespace } = objectCoordinates(request.object ?? request.oldObject ?? {}, request.clusterScoped);
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    request: {
      uid: request.uid,
      kind: { group, version, kind },
      resource: { group, version, resource: request.resource ?? pluralOf(kind) },
      ...(request.subResource ? { subResource: request.subResource } : {}),
      name,
      namespace,
      operation: request.operation,
      userInfo: request.userInfo,
      object: request.object,
      oldObject: request.oldObject,
      dryRun: request.dryRun,
    },
  };
}
