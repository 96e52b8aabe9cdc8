// Canopy's decision semantics on top of Cedar's answer. Policies are guard rails over RBAC: a request is
// allowed unless an enforce-mode forbid matches. Fail closed: a policy that cannot be evaluated counts as
// matching (unless it says @onError("skip")), and an engine failure denies.
import type { Evaluation, PolicyInfo, PolicyMode, Severity } from '../engine/index.js';

export interface PolicyHit {
  id: string;
  advice: string;
  severity: Severity;
  mode: PolicyMode;
  /** Set when the policy could not be evaluated: the hit is Canopy failing closed, not a match. */
  error?: string;
}

export interface Decision {
  allowed: boolean;
  /** Enforce-mode policies that deny the request. */
  denials: PolicyHit[];
  /** Warn-mode policies: shown to the user as admission warnings. */
  warnings: PolicyHit[];
  /** Audit-mode policies, and errors of @onError("skip") policies: recorded in the decision log only. */
  audits: PolicyHit[];
  /** Why no policy could be evaluated at all (engine failure, no active policy set). */
  failure?: string;
  revision: string;
}

function hitOf(id: string, info: PolicyInfo | undefined, error?: string): PolicyHit {
  // An id Cedar returns that we do not know cannot be trusted to be harmless: it denies.
  const base = info ?? { advice: 'unknown policy', severity: 'high' as const, mode: 'enforce' as const };
  return { id, advice: base.advice, severity: base.severity, mode: base.mode, ...(error ? { error } : {}) };
}

export function failedDecision(message: string, revision: string): Decision {
  return { allowed: false, denials: [], warnings: [], audits: [], failure: message, revision };
}

/** What a decision needs of a policy set: its revision, and each policy's annotations by id. */
export interface DecidingSet {
  revision: string;
  policies: ReadonlyMap<string, PolicyInfo>;
}

export function decide(set: DecidingSet, evaluation: Evaluation): Decision {
  if (!evaluation.ok) return failedDecision(evaluation.message, set.revision);
  const byMode: Record<PolicyMode, PolicyHit[]> = { enforce: [], warn: [], audit: [] };
  for (const id of evaluation.satisfied) {
    const hit = hitOf(id, set.policies.get(id));
    byMode[hit.mode].push(hit);
  }
  for (const { policyId, message } of evaluation.errors) {
    const info = set.policies.get(policyId);
    const hit = hitOf(policyId, info, message);
    if (info?.onError === 'skip') byMode.audit.push(hit);
    else byMode[hit.mode].push(hit);
  }
  return {
    allowed: byMode.enforce.length === 0,
    denials: byMode.enforce,
    warnings: byMode.warn,
    audits: byMode.audit,
    revision: set.revision,
  };
}
