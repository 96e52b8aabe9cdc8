// What templates can read ({{ ... }} in mutation annotations and in @advice): the request, the object,
// the facts Cedar sees about it, its namespace, cluster and workspace, its sovereignty facts, and the
// policy data.
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import { resourceEntities, UNKNOWN_CLUSTER, type RequestFacts } from '../translate/index.js';

/** The facts Cedar policies see about the object, with its labels as `labels`. */
function resourceFacts(request: AdmissionRequest, object: unknown, facts: RequestFacts): Record<string, unknown> {
  const { resource, entities } = resourceEntities({ ...request, object, oldObject: null }, facts);
  const entity = entities.find((e) => 'type' in e.uid && e.uid.type === resource.type && e.uid.id === resource.id);
  const { old: _old, ...attrs } = entity?.attrs ?? {};
  return { ...attrs, labels: entity?.tags ?? {} };
}

export function templateContext(
  request: AdmissionRequest,
  object: unknown,
  facts: RequestFacts,
  data: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  let resource: Record<string, unknown> | undefined;
  return {
    request: {
      uid: request.uid,
      name: request.name,
      namespace: request.namespace,
      operation: request.operation,
      kind: request.kind,
      resource: request.resource,
      subResource: request.subResource,
      userInfo: request.userInfo,
      dryRun: request.dryRun,
    },
    object,
    // Computed only when a template reads it, and then once: every {{ resource.… }} of every hit reads it.
    get resource() {
      resource ??= resourceFacts(request, object, facts);
      return resource;
    },
    namespace: { name: request.namespace, labels: facts.namespaceLabels ?? {} },
    cluster: facts.cluster ?? UNKNOWN_CLUSTER,
    ...(facts.workspace ? { workspace: { ...facts.workspace, labels: facts.workspace.labels[facts.workspace.path] ?? {} } } : {}),
    ...(facts.sovereignty ? { sovereignty: facts.sovereignty } : {}),
    ...(facts.quota ? { quota: facts.quota.human } : {}),
    ...(facts.supplyChain ? { supplyChain: { ...facts.supplyChain.cedar, pins: facts.supplyChain.pins, unpinnedReason: facts.supplyChain.unpinnedReason } } : {}),
    data,
  };
}
