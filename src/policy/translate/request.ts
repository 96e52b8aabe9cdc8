// AdmissionRequest → Cedar request: principal, action, resource, context and the entities they name.
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { CedarRequest, RequestScope } from '../engine/index.js';
import { cedarApiGroup } from '../../kubernetes/objects/api-group.js';
import { principalEntities } from './principal.js';
import { entityTypeOf, resourceEntities, type RequestFacts } from './resource.js';

/** The shape of the Cedar request an AdmissionRequest becomes, known before it is built. */
export function requestScopeOf(request: Pick<AdmissionRequest, 'operation' | 'kind'>): RequestScope {
  return {
    action: `k8s::Action::${JSON.stringify(request.operation.toLowerCase())}`,
    resourceType: entityTypeOf(request),
    kind: request.kind.kind,
    apiGroup: cedarApiGroup(request.kind.group),
  };
}

export function toCedarRequest(request: AdmissionRequest, facts: RequestFacts = {}): CedarRequest {
  const who = principalEntities(request.userInfo);
  const what = resourceEntities(request, facts);
  return {
    principal: who.principal,
    action: { type: 'k8s::Action', id: request.operation.toLowerCase() },
    resource: what.resource,
    context: {
      operation: request.operation,
      subresource: request.subResource,
      dryRun: request.dryRun,
      cluster: { __entity: what.cluster },
      ...(what.namespace ? { namespace: { __entity: what.namespace } } : {}),
      ...(what.workspace ? { workspace: { __entity: what.workspace } } : {}),
      ...(facts.sovereignty ? { sovereignty: { ...facts.sovereignty } } : {}),
      ...(facts.quota ? { quota: facts.quota.cedar } : {}),
      ...(facts.supplyChain ? { supplyChain: { ...facts.supplyChain.cedar } } : {}),
      ...(facts.podSecurity ? { podSecurity: { ...facts.podSecurity, exceptions: [...facts.podSecurity.exceptions] } } : {}),
    },
    entities: [...who.entities, ...what.entities],
  };
}
