// Canopy's decision semantics on top of Cedar's answer. Policies are guard rails over RBAC: a request is
// allowed unless an enforce-mode forbid matches. Fail closed: a policy that cannot be evaluated counts as
// matching (unless it says @onError("skip")), and an engine failure denies.
import type { Evaluation, PolicyInfo, PolicyMode, SecurityLevel, Severity } from '../engine/index.js';

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

/** The Pod Security levels in force for a request (its namespace's labels over the defaults), and exemption. */
export interface SecurityLevels {
  enforce: SecurityLevel;
  warn: SecurityLevel;
  audit: SecurityLevel;
  exempt: boolean;
}

const LEVEL_RANK: Record<SecurityLevel, number> = { privileged: 0, baseline: 1, restricted: 2 };

/**
 * A @level control's mode for this request: enforce where the enforce level includes it, else warn,
 * else audit, as Pod Security admission does; nothing when no mode's level includes it or the request
 * is exempt. Without levels (no pod, no data) a control is enforced, failing closed.
 */
function levelMode(level: 'baseline' | 'restricted', levels: SecurityLevels | undefined): PolicyMode | undefined {
  if (!levels) return 'enforce';
  if (levels.exempt) return undefined;
  for (const mode of ['enforce', 'warn', 'audit'] as const) if (LEVEL_RANK[levels[mode]] >= LEVEL_RANK[level]) return mode;
  return undefined;
}

export function decide(set: DecidingSet, evaluation: Evaluation, levels?: SecurityLevels): Decision {
  if (!evaluation.ok) return failedDecision(evaluation.message, set.revision);
  const byMode: Record<PolicyMode, PolicyHit[]> = { enforce: [], warn: [], audit: [] };
  const place = (hit: PolicyHit, info: PolicyInfo | undefined, skip: boolean): void => {
    const mode = info?.level ? levelMode(info.level, levels) : hit.mode;
    if (mode === undefined) return;
    const placed = { ...hit, mode: skip ? ('audit' as const) : mode };
    byMode[placed.mode].push(placed);
  };
  for (const id of evaluation.satisfied) {
    const info = set.policies.get(id);
    place(hitOf(id, info), info, false);
  }
  for (const { policyId, message } of evaluation.errors) {
    const info = set.policies.get(policyId);
    place(hitOf(policyId, info, message), info, info?.onError === 'skip');
  }
  // Cedar names satisfied policies in no fixed order (a worker thread and this one can differ): by id,
  // the same request always reads the same message and warnings.
  const byId = (a: PolicyHit, b: PolicyHit) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  return {
    allowed: byMode.enforce.length === 0,
    denials: byMode.enforce.sort(byId),
    warnings: byMode.warn.sort(byId),
    audits: byMode.audit.sort(byId),
    revision: set.revision,
  };
}
