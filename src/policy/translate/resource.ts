// What is being admitted: the object under judgement as a Cedar entity (Workload, Namespace or
// Resource), its labels as tags, its namespace, cluster and kcp workspace as its parents, and on UPDATE
// the old object as `old`. Also the fleet entities themselves (Cluster, Workspace, Namespace).
import type { CedarValueJson, EntityJson, EntityUidJson } from '../cedar/index.js';
import { judgedObject, type AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { EntityRef } from '../engine/index.js';
import { cedarApiGroup } from '../../kubernetes/objects/api-group.js';
import { jurisdictionsOf, REGION_LABEL, UNKNOWN_CLUSTER } from '../../kubernetes/objects/fleet.js';
import { imagesOf } from '../../kubernetes/objects/images.js';
import { asArray, asRecord, asString, asStringMap, type JsonRecord } from '../../kubernetes/objects/json.js';
import { isWorkloadKind, podSpecOf, workloadFacts } from '../../kubernetes/objects/workload.js';
import type { RequestFacts } from './facts.js';
import { NO_STORAGE, schedulingFacts, storageFacts } from './placement.js';

/** Normalised image facts; a reference that cannot be read counts as its own registry, so no allow-list admits it. */
function imageFacts(group: string, kind: string, object: unknown): Record<string, string[]> {
  const registries = new Set<string>();
  const repositories = new Set<string>();
  const withoutDigest = new Set<string>();
  const latest = new Set<string>();
  for (const image of imagesOf(group, kind, object)) {
    const reference = image.reference;
    if (!reference) {
      registries.add(image.written);
      withoutDigest.add(image.written);
      continue;
    }
    registries.add(reference.registry);
    repositories.add(`${reference.registry}/${reference.repository}`);
    if (!reference.digest) withoutDigest.add(reference.normalized);
    if (reference.tag === 'latest' && !reference.digest) latest.add(reference.normalized);
  }
  return { registries: [...registries], repositories: [...repositories], imagesWithoutDigest: [...withoutDigest], latestImages: [...latest] };
}

export type { RequestFacts } from './facts.js';

export const NAMESPACE_TYPE = 'k8s::Namespace';
const WORKLOAD_TYPE = 'k8s::Workload';
const RESOURCE_TYPE = 'k8s::Resource';
const CLUSTER_TYPE = 'k8s::Cluster';
const WORKSPACE_TYPE = 'k8s::Workspace';

export interface ResourceEntities {
  resource: EntityRef;
  /** The fleet around it, for the request's context. */
  cluster: EntityRef;
  namespace?: EntityRef;
  workspace?: EntityRef;
  entities: EntityJson[];
}

/** The Cedar entity type of the object under admission. */
export function entityTypeOf(request: Pick<AdmissionRequest, 'kind'>): string {
  const { group, kind } = request.kind;
  if (group === '' && kind === 'Namespace') return NAMESPACE_TYPE;
  return isWorkloadKind(group, kind) ? WORKLOAD_TYPE : RESOURCE_TYPE;
}

function clusterEntity(facts: RequestFacts): EntityJson {
  const cluster = facts.cluster ?? UNKNOWN_CLUSTER;
  return {
    uid: { type: CLUSTER_TYPE, id: cluster.name },
    attrs: {
      name: cluster.name,
      region: cluster.region,
      jurisdiction: cluster.jurisdiction,
      jurisdictions: jurisdictionsOf(cluster.jurisdiction),
      provider: cluster.provider,
      environment: cluster.environment,
    },
    parents: [],
    tags: { ...cluster.labels },
  };
}

/** The workspace and its ancestors, each the parent of the next: root, root:org-eu, root:org-eu:payments. */
function workspaceEntities(facts: RequestFacts): EntityJson[] {
  const workspace = facts.workspace;
  if (!workspace) return [];
  const segments = workspace.path.split(':');
  return segments.map((_segment, index) => {
    const path = segments.slice(0, index + 1).join(':');
    return {
      uid: { type: WORKSPACE_TYPE, id: path },
      attrs: { name: path, logicalCluster: path === workspace.path ? workspace.logicalCluster : '' },
      parents: index === 0 ? [] : [{ type: WORKSPACE_TYPE, id: segments.slice(0, index).join(':') }],
      tags: { ...workspace.labels[path] },
    };
  });
}

/** The entity for a namespace known by name (and labels, when Canopy has them). */
export function namespaceEntity(name: string, labels: Record<string, string> = {}, parents: EntityUidJson[] = []): EntityJson {
  return {
    uid: { type: NAMESPACE_TYPE, id: name },
    attrs: {
      apiGroup: cedarApiGroup(''),
      apiVersion: 'v1',
      kind: 'Namespace',
      resource: 'namespaces',
      name,
      namespace: '',
      // Declared facts are about the object under admission; a namespace around it has none.
      facts: {},
    },
    parents,
    tags: labels,
  };
}

/**
 * The storage claims an object makes, whose storage classes translation looks up (storageFacts): a
 * StatefulSet's volumeClaimTemplates, a PersistentVolumeClaim's own spec; none for other kinds.
 */
export function claimSpecsOf(request: Pick<AdmissionRequest, 'kind'>, object: unknown): JsonRecord[] {
  const { group, kind } = request.kind;
  if (group === 'apps' && kind === 'StatefulSet') {
    return asArray(asRecord(asRecord(object)['spec'])['volumeClaimTemplates']).map((template) => asRecord(asRecord(template)['spec']));
  }
  return group === '' && kind === 'PersistentVolumeClaim' ? [asRecord(asRecord(object)['spec'])] : [];
}

/** The node a Binding names, whose labels translation looks up (its region). */
export function bindingNodeOf(object: unknown): string {
  return asString(asRecord(asRecord(object)['target'])['name']);
}

/**
 * A pod bound to a node: the scheduler's pods/binding, or a Binding created through the top-level
 * `bindings` resource (POST /api/v1/namespaces/NS/bindings), which binds just the same. Recognised by
 * kind or by what was requested: a body on those paths that is not a Binding names no node, so its
 * region is unknown and sovereignty.binding-region denies it.
 */
export function isBinding(request: AdmissionRequest): boolean {
  if (request.kind.group === '' && request.kind.kind === 'Binding') return true;
  const { group, resource } = request.resource;
  return group === '' && ((resource === 'pods' && request.subResource === 'binding') || (resource === 'bindings' && request.subResource === ''));
}

function objectAttributes(
  request: AdmissionRequest,
  type: string,
  object: unknown,
  name: string,
  namespace: string,
  facts: RequestFacts,
  declared: Record<string, CedarValueJson>,
): Record<string, CedarValueJson> {
  const { group, version, kind } = request.kind;
  const attrs: Record<string, CedarValueJson> = {
    apiGroup: cedarApiGroup(group),
    apiVersion: version,
    kind,
    resource: request.resource.resource,
    name,
    namespace,
    facts: { ...declared },
  };
  if (type === WORKLOAD_TYPE) {
    const storage = group === 'apps' && kind === 'StatefulSet' ? storageFacts(claimSpecsOf(request, object), facts) : NO_STORAGE;
    Object.assign(attrs, workloadFacts(group, kind, object), imageFacts(group, kind, object), schedulingFacts(podSpecOf(group, kind, object)), { storage: { ...storage } });
  } else if (group === '' && kind === 'PersistentVolumeClaim') {
    attrs['storage'] = { ...storageFacts(claimSpecsOf(request, object), facts) };
  } else if (isBinding(request)) {
    const node = bindingNodeOf(object);
    attrs['bindingNode'] = node;
    attrs['bindingNodeRegion'] = (node && facts.nodeLabels?.(node)?.[REGION_LABEL]) || '';
  }
  return attrs;
}

export function resourceEntities(request: AdmissionRequest, facts: RequestFacts = {}): ResourceEntities {
  const type = entityTypeOf(request);
  const current = judgedObject(request);
  const old = request.operation === 'UPDATE' ? request.oldObject : null;
  const metadata = asRecord(asRecord(current)['metadata']);
  const name = request.name || (typeof metadata['name'] === 'string' ? metadata['name'] : '');
  // A Namespace is cluster-scoped, although the API server sets request.namespace to its name.
  const namespace = type === NAMESPACE_TYPE ? '' : request.namespace;
  const id = namespace ? `${namespace}/${name}` : name;
  const ref: EntityRef = { type, id };

  const cluster = clusterEntity(facts);
  const workspaces = workspaceEntities(facts);
  const workspace = workspaces.at(-1);
  const fleetParents: EntityUidJson[] = [cluster.uid, ...(workspace ? [workspace.uid] : [])];
  const parents: EntityUidJson[] = namespace ? [{ type: NAMESPACE_TYPE, id: namespace }, ...fleetParents] : fleetParents;

  const entities: EntityJson[] = [cluster, ...workspaces];
  const attrs = objectAttributes(request, type, current, name, namespace, facts, facts.declared?.current ?? {});
  if (old !== null && typeof old === 'object') {
    const oldRef: EntityRef = { type, id: `${id}#old` };
    attrs['old'] = { __entity: oldRef };
    entities.push({
      uid: oldRef,
      attrs: objectAttributes(request, type, old, name, namespace, facts, facts.declared?.old ?? {}),
      parents,
      tags: asStringMap(asRecord(asRecord(old)['metadata'])['labels']),
    });
  }
  entities.push({ uid: ref, attrs, parents, tags: asStringMap(metadata['labels']) });
  if (namespace) entities.push(namespaceEntity(namespace, { ...facts.namespaceLabels }, fleetParents));
  return {
    resource: ref,
    cluster: cluster.uid as EntityRef,
    ...(namespace ? { namespace: { type: NAMESPACE_TYPE, id: namespace } } : {}),
    ...(workspace ? { workspace: workspace.uid as EntityRef } : {}),
    entities,
  };
}
