// The pipeline's part in declared facts: compute, for a request, only the facts that the policies and
// mutations that can apply to it read; and after Cedar answers, fail closed on every such policy that
// reads a fact that could not be computed.
import type { AdmissionRequest } from '../kubernetes/admission/index.js';
import { type Evaluation, type PolicyKind } from '../policy/engine/index.js';
import type { CheckedPolicySet } from '../policy/set/compile.js';
import { policiesInScope } from '../policy/set/in-scope.js';
import { computeFacts, declarationsFor, factFailureErrors, neededFacts, oldFactsNeeded } from '../facts/declared/index.js';
import { requestScopeOf, type DeclaredFactValues, type RequestFacts } from '../policy/translate/index.js';

/**
 * The request's declared facts for the validating policies or the mutations that can apply to it, or
 * undefined when none of them reads any: each webhook computes only what its own policies read. With
 * `all`, every fact declared for the object's kind, whoever reads it (to show an author what policies see).
 */
export function declaredFactsOf(set: CheckedPolicySet, request: AdmissionRequest, facts: RequestFacts, readers: PolicyKind | 'all'): DeclaredFactValues | undefined {
  if (set.facts.declarations.length === 0) return undefined;
  const inputs = { data: set.data, ...(facts.namespaceLabels ? { namespaceLabels: facts.namespaceLabels } : {}), ...(facts.inventory ? { inventory: facts.inventory } : {}) };
  if (readers === 'all') {
    const every = declarationsFor(set.facts.declarations, request);
    return every.length === 0 ? undefined : computeFacts(every, request, inputs);
  }
  const ids = policiesInScope(set, requestScopeOf(request), readers);
  const needed = neededFacts(set.facts, ids, request.kind.group, request.kind.kind);
  if (needed.length === 0) return undefined;
  // The old object's facts only those a policy that can apply reads there (`resource.old.facts.NAME`).
  return computeFacts(needed, request, inputs, { old: oldFactsNeeded(set.facts, ids) });
}

/** `evaluation` with an error for each policy of `kind` that can apply and reads a fact that failed. */
export function withFactFailures(set: CheckedPolicySet, request: AdmissionRequest, kind: PolicyKind, evaluation: Evaluation, declared: DeclaredFactValues | undefined): Evaluation {
  if (!evaluation.ok || !declared || Object.keys(declared.failures).length === 0) return evaluation;
  const ids = policiesInScope(set, requestScopeOf(request), kind);
  const added = factFailureErrors(set.facts, ids, declared.failures).filter((error) => !evaluation.errors.some((e) => e.policyId === error.policyId));
  return added.length === 0 ? evaluation : { ...evaluation, errors: [...evaluation.errors, ...added] };
}
