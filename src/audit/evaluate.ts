// Judging an existing object with the webhook's own pipeline, as if it were being created; mutation
// policies report what they would change.
import type { AdmissionPipeline } from '../pipeline/index.js';
import type { RequestFacts } from '../translate/index.js';
import type { Severity } from '../engine/index.js';
import type { AuditItem, Json } from './sources.js';

export interface Finding {
  policy: string;
  severity: Severity;
  message: string;
}

export interface AuditResult {
  cluster: string;
  source: string;
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  workspace?: string;
  failures: Finding[];
  warnings: Finding[];
  /** Mutations that would change the object. */
  mutations: string[];
}

const CLUSTER_SCOPED = new Set(['Namespace', 'Node', 'ClusterRole', 'ClusterRoleBinding', 'StorageClass', 'PersistentVolume', 'CustomResourceDefinition', 'PriorityClass']);
const pluralOf = (kind: string) => (kind.endsWith('s') ? `${kind.toLowerCase()}es` : kind.endsWith('y') ? `${kind.toLowerCase().slice(0, -1)}ies` : `${kind.toLowerCase()}s`);

let counter = 0;

export function auditObject(pipeline: AdmissionPipeline, item: AuditItem, facts: RequestFacts): AuditResult {
  const object = item.object;
  const metadata = (object['metadata'] ?? {}) as Json;
  const apiVersion = String(object['apiVersion']);
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  const kind = String(object['kind']);
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : '';
  const clusterScoped = group === '' && CLUSTER_SCOPED.has(kind);
  const namespace = kind === 'Namespace' && group === '' ? name : clusterScoped ? '' : typeof metadata['namespace'] === 'string' ? metadata['namespace'] : 'default';
  counter += 1;
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `canopy-audit-${counter}`,
      kind: { group, version, kind },
      resource: { group, version, resource: pluralOf(kind) },
      name,
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'canopy:audit', groups: ['system:authenticated'] },
      object,
      oldObject: null,
      dryRun: true,
    },
  };
  const { mutation, validation } = pipeline.admit(review, facts);
  const decision = validation?.decision;
  const failures: Finding[] = decision
    ? decision.denials.map((hit) => ({ policy: hit.id, severity: hit.severity, message: hit.error ? `could not be evaluated: ${hit.error}` : hit.advice }))
    : [{ policy: 'canopy.mutation', severity: 'high', message: mutation.decision.failure ?? 'the mutation failed' }];
  if (decision?.failure) failures.push({ policy: 'canopy.evaluation', severity: 'high', message: decision.failure });
  return {
    cluster: item.cluster,
    source: item.source,
    apiVersion,
    kind,
    namespace: kind === 'Namespace' && group === '' ? '' : namespace,
    name,
    ...(facts.workspace ? { workspace: facts.workspace.path } : {}),
    failures,
    warnings: (decision?.warnings ?? []).map((hit) => ({ policy: hit.id, severity: hit.severity, message: hit.advice })),
    mutations: mutation.decision.applied,
  };
}
