// What is being admitted: the object under judgement as a Cedar entity (Workload, Namespace or
// Resource), its labels as tags, its namespace as its parent, and on UPDATE the old object as `old`.
import type { CedarValueJson, EntityJson, EntityUidJson } from '../cedar/index.js';
import type { AdmissionRequest } from '../admission/index.js';
import type { EntityRef } from '../engine/index.js';
import { cedarApiGroup } from './api-group.js';
import { asRecord, asStringMap } from './json.js';
import { isWorkloadKind, workloadFacts } from './workload.js';

export const NAMESPACE_TYPE = 'k8s::Namespace';
const WORKLOAD_TYPE = 'k8s::Workload';
const RESOURCE_TYPE = 'k8s::Resource';

export interface ResourceEntities {
  resource: EntityRef;
  entities: EntityJson[];
}

function entityTypeOf(request: AdmissionRequest): string {
  const { group, kind } = request.kind;
  if (group === '' && kind === 'Namespace') return NAMESPACE_TYPE;
  return isWorkloadKind(group, kind) ? WORKLOAD_TYPE : RESOURCE_TYPE;
}

/** The entity for a namespace known only by name: the parent of every object in it. */
export function namespaceEntity(name: string, labels: Record<string, string> = {}): EntityJson {
  return {
    uid: { type: NAMESPACE_TYPE, id: name },
    attrs: {
      apiGroup: cedarApiGroup(''),
      apiVersion: 'v1',
      kind: 'Namespace',
      resource: 'namespaces',
      name,
      namespace: '',
    },
    parents: [],
    tags: labels,
  };
}

function objectAttributes(
  request: AdmissionRequest,
  type: string,
  object: unknown,
  name: string,
  namespace: string,
): Record<string, CedarValueJson> {
  const { group, version, kind } = request.kind;
  const attrs: Record<string, CedarValueJson> = {
    apiGroup: cedarApiGroup(group),
    apiVersion: version,
    kind,
    resource: request.resource.resource,
    name,
    namespace,
  };
  if (type === WORKLOAD_TYPE) {
    const facts = workloadFacts(group, kind, object);
    Object.assign(attrs, facts);
  }
  return attrs;
}

/** What Canopy knows about a request beyond the AdmissionReview itself. */
export interface RequestFacts {
  /** Labels of the request's namespace; without them the namespace entity carries only its name. */
  namespaceLabels?: Readonly<Record<string, string>>;
}

export function resourceEntities(request: AdmissionRequest, facts: RequestFacts = {}): ResourceEntities {
  const type = entityTypeOf(request);
  // On DELETE the object is gone from the request; what is being deleted is the old object.
  const current = request.operation === 'DELETE' ? request.oldObject : request.object;
  const old = request.operation === 'UPDATE' ? request.oldObject : null;
  const metadata = asRecord(asRecord(current)['metadata']);
  const name = request.name || (typeof metadata['name'] === 'string' ? metadata['name'] : '');
  // A Namespace is cluster-scoped, although the API server sets request.namespace to its name.
  const namespace = type === NAMESPACE_TYPE ? '' : request.namespace;
  const id = namespace ? `${namespace}/${name}` : name;
  const ref: EntityRef = { type, id };
  const parents: EntityUidJson[] = namespace ? [{ type: NAMESPACE_TYPE, id: namespace }] : [];

  const entities: EntityJson[] = [];
  const attrs = objectAttributes(request, type, current, name, namespace);
  if (old !== null && typeof old === 'object') {
    const oldRef: EntityRef = { type, id: `${id}#old` };
    attrs['old'] = { __entity: oldRef };
    entities.push({
      uid: oldRef,
      attrs: objectAttributes(request, type, old, name, namespace),
      parents,
      tags: asStringMap(asRecord(asRecord(old)['metadata'])['labels']),
    });
  }
  entities.push({ uid: ref, attrs, parents, tags: asStringMap(metadata['labels']) });
  if (namespace) entities.push(namespaceEntity(namespace, { ...facts.namespaceLabels }));
  return { resource: ref, entities };
}
