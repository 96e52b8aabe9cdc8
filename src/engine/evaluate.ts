// One Cedar evaluation against a preparsed set. Every outcome comes back as a value: an engine that
// throws or answers `failure` is reported, never allowed to crash the caller or pass silently.
import { cedar, type CedarValueJson, type EntityJson } from '../cedar/index.js';
import type { CompiledPolicySet } from './compile.js';
import { IMPLICIT_ALLOW_ID } from './compile.js';

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

export function evaluate(set: CompiledPolicySet, request: CedarRequest, kind: PolicyKind = 'validating'): Evaluation {
  let answer;
  try {
    answer = cedar.statefulIsAuthorized({
      principal: request.principal,
      action: request.action,
      resource: request.resource,
      context: request.context,
      entities: request.entities,
      preparsedPolicySetId: kind === 'validating' ? set.cedarPolicySetId : set.cedarMutationSetId,
      preparsedSchemaName: set.cedarSchemaName,
      // Checks the request against the schema, so a translation bug is a clear failure, not a skipped rule.
      validateRequest: true,
    });
  } catch (error) {
    return { ok: false, message: `Cedar engine error: ${(error as Error).message}` };
  }
  if (answer.type === 'failure') {
    return { ok: false, message: answer.errors.map((e) => e.message).join('; ') || 'Cedar answered failure' };
  }
  const { reason, errors } = answer.response.diagnostics;
  return {
    ok: true,
    satisfied: reason.filter((id) => id !== IMPLICIT_ALLOW_ID),
    errors: errors.map((e) => ({ policyId: e.policyId, message: e.error.message })),
  };
}
