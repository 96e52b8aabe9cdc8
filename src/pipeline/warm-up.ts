// Requests that exercise every entity type, action and principal kind once. Run against a freshly
// prepared policy set before it is activated: they warm up the engine, and they prove that the schema
// accepts the entities Canopy builds, so a schema edit that breaks translation is refused at load time
// instead of denying every request in production.
import type { AdmissionRequest } from '../admission/index.js';

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
