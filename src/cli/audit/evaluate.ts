// Judging an existing object with the webhook's own pipeline, as if it were being created; mutation
// policies report what they would change.
import { objectCoordinates, syntheticReview } from '../../kubernetes/admission/index.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';
import type { RequestFacts } from '../../policy/translate/index.js';
import type { Severity } from '../../policy/engine/index.js';
import type { AuditItem } from './sources.js';
import type { PodSecurityAuditor, PodSecurityStanding } from './pod-security.js';

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
  /** A workload's Pod Security standing, when the policies have Pod Security data and controls. */
  podSecurity?: PodSecurityStanding;
}

let counter = 0;

export function auditObject(pipeline: AdmissionPipeline, item: AuditItem, facts: RequestFacts, podSecurity?: PodSecurityAuditor): AuditResult {
  const object = item.object;
  const { kind, name, namespace } = objectCoordinates(object, item.clusterScoped);
  counter += 1;
  const review = syntheticReview({
    uid: `canopy-audit-${counter}`,
    operation: 'CREATE',
    userInfo: { username: 'canopy:audit', groups: ['system:authenticated'] },
    object,
    oldObject: null,
    dryRun: true,
    ...(item.resource ? { resource: item.resource } : {}),
    ...(item.clusterScoped !== undefined ? { clusterScoped: item.clusterScoped } : {}),
  });
  const { mutation, validation } = pipeline.admit(review, facts);
  const decision = validation?.decision;
  const failures: Finding[] = decision
    ? decision.denials.map((hit) => ({ policy: hit.id, severity: hit.severity, message: hit.error ? `could not be evaluated: ${hit.error}` : hit.advice }))
    : [{ policy: 'canopy.mutation', severity: 'high', message: mutation.decision.failure ?? 'the mutation failed' }];
  if (decision?.failure) failures.push({ policy: 'canopy.evaluation', severity: 'high', message: decision.failure });
  const standing = podSecurity && validation ? podSecurity.standing(pipeline, validation.request, facts, validation.decision) : undefined;
  return {
    cluster: item.cluster,
    source: item.source,
    apiVersion: String(object['apiVersion']),
    kind,
    namespace: kind === 'Namespace' ? '' : namespace,
    name,
    ...(facts.workspace ? { workspace: facts.workspace.path } : {}),
    failures,
    warnings: (decision?.warnings ?? []).map((hit) => ({ policy: hit.id, severity: hit.severity, message: hit.advice })),
    mutations: mutation.decision.applied,
    ...(standing ? { podSecurity: standing } : {}),
  };
}
