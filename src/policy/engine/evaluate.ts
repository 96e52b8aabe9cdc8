// One Cedar evaluation against a preparsed set. Every outcome comes back as a value: an engine that
// throws or answers `failure` is reported, never allowed to crash the caller or pass silently.
import type { CedarValueJson, EntityJson } from '../cedar/index.js';

export interface EntityRef {
  type: string;
  id: string;
}

export interface CedarRequest {
  principal: EntityRef;
  action: EntityRef;
  resource: EntityRef;
  context: Record<string, CedarValueJson>;
  entities: EntityJson[];
}

export interface PolicyError {
  policyId: string;
  message: string;
}

export type Evaluation =
  | { ok: true; satisfied: string[]; errors: PolicyError[] }
  | { ok: false; message: string };

/** Which of a compiled set's Cedar policy sets to evaluate. */
export type PolicyKind = 'validating' | 'mutations';

/** Evaluates a request against the policies of the set that can apply to it (engine/scoped-policy-set.ts). */
export function evaluate(set: { engine: { evaluate(request: CedarRequest, kind: PolicyKind): Evaluation } }, request: CedarRequest, kind: PolicyKind = 'validating'): Evaluation {
  return set.engine.evaluate(request, kind);
}
