// Requests that exercise every entity type, action and principal kind once. Run against a freshly
// prepared policy set before it is activated: they warm up the engine, and they prove that the schema
// accepts the entities Canopy builds, so a schema edit that breaks translation is refused at load time
// instead of denying every request in production.
import type { AdmissionRequest } from '../kubernetes/admission/index.js';
import { evaluate, type CedarRequest } from '../policy/engine/index.js';
import type { CompiledPolicySet } from '../policy/set/prepare.js';
import { toCedarRequest, type RequestFacts } from '../policy/translate/index.js';
import { CanopyError } from '../operations/errors/index.js';

/** A checked policy set that could not be made active: the previously active one (if any) stays. */
export class PolicyActivationError extends CanopyError {
  constructor(message: string) {
    super('policy-activation', message);
  }
}

const user = { username: 'canopy:warm-up', groups: ['system:authenticated'] };

function request(partial: Partial<AdmissionRequest> & Pick<AdmissionRequest, 'kind' | 'resource' | 'operation'>): AdmissionRequest {
  return {
    uid: 'canopy-warm-up',
    subResource: '',
    name: 'warm-up',
    namespace: 'default',
    userInfo: user,
    object: null,
    oldObject: null,
    dryRun: true,
    ...partial,
  };
}

const pod = {
  metadata: { name: 'warm-up', labels: { app: 'warm-up' } },
  spec: { containers: [{ name: 'app', image: 'registry.example/app:1', securityContext: { privileged: false } }] },
};

export const WARM_UP_REQUESTS: readonly AdmissionRequest[] = [
  request({
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    operation: 'CREATE',
    object: pod,
  }),
  request({
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    operation: 'UPDATE',
    userInfo: { username: 'system:serviceaccount:default:warm-up', groups: ['system:serviceaccounts'] },
    object: { metadata: { name: 'warm-up' }, spec: { template: pod } },
    oldObject: { metadata: { name: 'warm-up' }, spec: { template: pod } },
  }),
  request({
    kind: { group: '', version: 'v1', kind: 'ConfigMap' },
    resource: { group: '', version: 'v1', resource: 'configmaps' },
    operation: 'DELETE',
    userInfo: { username: 'system:node:warm-up', groups: ['system:nodes'] },
    oldObject: { metadata: { name: 'warm-up', labels: { app: 'warm-up' } } },
  }),
  request({
    kind: { group: '', version: 'v1', kind: 'Namespace' },
    resource: { group: '', version: 'v1', resource: 'namespaces' },
    operation: 'UPDATE',
    namespace: 'warm-up',
    object: { metadata: { name: 'warm-up', labels: { team: 'warm-up' } } },
    oldObject: { metadata: { name: 'warm-up' } },
  }),
  request({
    kind: { group: '', version: 'v1', kind: 'PodExecOptions' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    subResource: 'exec',
    operation: 'CONNECT',
    object: { command: ['sh'] },
  }),
];

/**
 * Facts with every optional part present (workspace, sovereignty, quota, supply chain, storage classes,
 * nodes): the warm-up requests are evaluated with these too, so a schema that no longer accepts any of
 * them is refused at load time.
 */
const amounts = { cpuMillis: 100, memoryBytes: 1024, gpus: 0, monthlyCostMicros: 1 };
export const WARM_UP_FACTS: RequestFacts = {
  cluster: { name: 'warm-up', region: 'eu-central-1', jurisdiction: 'DE', provider: 'warm-up', environment: 'production', labels: { tier: 'warm-up' } },
  namespaceLabels: { team: 'warm-up' },
  workspace: { path: 'root:warm-up', logicalCluster: 'warm-up', labels: { 'root:warm-up': { team: 'warm-up' } } },
  storageClass: (name) => ({ name, regions: ['eu-central-1'], waitForFirstConsumer: false, isDefault: true }),
  nodeLabels: () => ({ 'topology.kubernetes.io/region': 'eu-central-1' }),
  sovereignty: { dataClass: 'warm-up', residency: '', anyJurisdiction: false, jurisdictions: ['DE'], anyRegion: false, regions: ['eu-central-1'] },
  quota: {
    tenant: 'warm-up',
    requested: { usage: { cpuMillis: 100n, memoryBytes: 1024n, gpus: 0n } },
    usedHere: { cpuMillis: 100n, memoryBytes: 1024n, gpus: 0n, monthlyCostMicros: 1n },
    asked: { cpuMillis: 100n, memoryBytes: 1024n, gpus: 0n, monthlyCostMicros: 1n },
    limit: {},
    soft: {},
    softThresholdPercent: '',
    currency: 'EUR',
    cedar: {
      tenant: 'warm-up',
      requested: amounts,
      used: amounts,
      limit: amounts,
      soft: amounts,
      fleet: { budget: 'warm-up', limit: amounts, used: amounts, regionUsed: amounts, share: amounts, current: true },
    },
  },
  supplyChain: {
    cedar: { unapprovedImages: [], allowedSources: ['registry.example'], requireDigest: true, signatureFailures: [], verifiedImages: [], unresolvedImages: [] },
    pins: {},
    unpinnedReason: '',
  },
};

/** Requests for the attributes only some kinds carry: a claim's storage, a binding's node. */
export const WARM_UP_FACT_REQUESTS: readonly AdmissionRequest[] = [
  request({
    kind: { group: 'apps', version: 'v1', kind: 'StatefulSet' },
    resource: { group: 'apps', version: 'v1', resource: 'statefulsets' },
    operation: 'CREATE',
    object: { metadata: { name: 'warm-up' }, spec: { template: pod, volumeClaimTemplates: [{ spec: { storageClassName: 'warm-up' } }] } },
  }),
  request({
    kind: { group: '', version: 'v1', kind: 'PersistentVolumeClaim' },
    resource: { group: '', version: 'v1', resource: 'persistentvolumeclaims' },
    operation: 'CREATE',
    object: { metadata: { name: 'warm-up' }, spec: { storageClassName: 'warm-up' } },
  }),
  request({
    kind: { group: '', version: 'v1', kind: 'Binding' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    subResource: 'binding',
    operation: 'CREATE',
    object: { metadata: { name: 'warm-up' }, target: { kind: 'Node', name: 'warm-up' } },
  }),
];

/**
 * Runs the warm-up requests through a freshly prepared set, in this thread: the schema must accept each
 * (conformance, even where no policy applies) and both kinds of policies must evaluate. Returns the
 * Cedar requests, for the evaluation workers to warm up with. Throws PolicyActivationError.
 */
export function warmUpRequests(prepared: CompiledPolicySet): CedarRequest[] {
  const runs: [AdmissionRequest, RequestFacts][] = [
    ...WARM_UP_REQUESTS.map((request): [AdmissionRequest, RequestFacts] => [request, {}]),
    ...[...WARM_UP_REQUESTS, ...WARM_UP_FACT_REQUESTS].map((request): [AdmissionRequest, RequestFacts] => [request, WARM_UP_FACTS]),
  ];
  return runs.map(([request, facts]) => {
    const cedarRequest = toCedarRequest(request, facts);
    // The two evaluations also make this thread's preparsed sets for the common requests before any arrives.
    const evaluations = [prepared.engine.conformance(cedarRequest), evaluate(prepared, cedarRequest), evaluate(prepared, cedarRequest, 'mutations')];
    for (const evaluation of evaluations) {
      if (!evaluation.ok) {
        throw new PolicyActivationError(
          `policy set ${prepared.revision} cannot evaluate Canopy's requests ` +
            `(${request.operation} ${request.kind.kind}): ${evaluation.message}. ` +
            'Does the schema still declare every attribute Canopy sends (policies/README.md)?',
        );
      }
    }
    return cedarRequest;
  });
}
