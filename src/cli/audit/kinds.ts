// Which kinds an audit lists in a cluster: those the policies can judge (from their scopes), or the
// ones `--kinds` names.
import { cedar } from '../../policy/cedar/index.js';
import type { CheckedPolicySet } from '../../policy/set/index.js';

export interface KindInfo {
  group: string;
  version: string;
  kind: string;
  resource: string;
  namespaced: boolean;
}

const k = (group: string, version: string, kind: string, resource: string, namespaced = true): KindInfo => ({ group, version, kind, resource, namespaced });

export const WORKLOAD_KINDS: KindInfo[] = [
  k('', 'v1', 'Pod', 'pods'),
  k('apps', 'v1', 'Deployment', 'deployments'),
  k('apps', 'v1', 'StatefulSet', 'statefulsets'),
  k('apps', 'v1', 'DaemonSet', 'daemonsets'),
  k('apps', 'v1', 'ReplicaSet', 'replicasets'),
  k('batch', 'v1', 'Job', 'jobs'),
  k('batch', 'v1', 'CronJob', 'cronjobs'),
  k('', 'v1', 'ReplicationController', 'replicationcontrollers'),
];
const NAMESPACE_KINDS: KindInfo[] = [k('', 'v1', 'Namespace', 'namespaces', false)];
const RESOURCE_KINDS: KindInfo[] = [
  k('', 'v1', 'ConfigMap', 'configmaps'),
  k('', 'v1', 'Service', 'services'),
  k('', 'v1', 'ServiceAccount', 'serviceaccounts'),
  k('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims'),
  k('networking.k8s.io', 'v1', 'Ingress', 'ingresses'),
  k('rbac.authorization.k8s.io', 'v1', 'Role', 'roles'),
  k('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings'),
  k('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', false),
  k('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
];
export const KNOWN_KINDS = [...WORKLOAD_KINDS, ...NAMESPACE_KINDS, ...RESOURCE_KINDS];

/** The list path of a kind across all namespaces. */
export const listPath = (kind: KindInfo) => `${kind.group ? `/apis/${kind.group}/${kind.version}` : `/api/${kind.version}`}/${kind.resource}`;

/** `pods,deployments.apps,ingresses.networking.k8s.io` → kinds; throws with the names it does not know. */
export function parseKinds(list: string): KindInfo[] {
  const names = list.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown: string[] = [];
  const kinds = names.map((name) => {
    const [resource = '', ...group] = name.split('.');
    const found = KNOWN_KINDS.find((kind) => kind.resource === resource && (group.length === 0 || kind.group === group.join('.')));
    if (!found) unknown.push(name);
    return found;
  });
  if (unknown.length > 0) {
    throw new Error(`unknown kinds ${unknown.join(', ')}: known are ${KNOWN_KINDS.map((kind) => (kind.group ? `${kind.resource}.${kind.group}` : kind.resource)).join(', ')}`);
  }
  return kinds.filter((kind): kind is KindInfo => kind !== undefined);
}

/** The kinds the policies' scopes can apply to: a policy scoped to k8s::Workload needs only workloads. */
export function kindsForPolicies(set: CheckedPolicySet): KindInfo[] {
  const types = new Set<string>();
  for (const text of [...Object.values(set.texts), ...Object.values(set.mutationTexts)]) {
    const json = cedar.policyToJson(text);
    const scope = json.type === 'success' ? json.json.resource : undefined;
    if (scope && scope.op === 'is') types.add(scope.entity_type);
    else types.add('*');
  }
  if (types.has('*') || types.has('k8s::Resource')) return KNOWN_KINDS;
  return [...(types.has('k8s::Workload') ? WORKLOAD_KINDS : []), ...(types.has('k8s::Namespace') ? NAMESPACE_KINDS : [])];
}
