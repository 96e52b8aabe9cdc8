// The mutating webhook's decision: which mutations' conditions hold (Cedar), what they change (the
// mutation runner), and a denial naming the mutation when something cannot be done.
import type { AdmissionRequest } from '../kubernetes/admission/index.js';
import type { Evaluation } from '../policy/engine/index.js';
import type { CompiledPolicySet } from '../policy/set/prepare.js';
import { MutationError, runMutations } from '../policy/mutation/index.js';
import { toCedarRequest, type RequestFacts } from '../policy/translate/index.js';
import type { MutationDecision } from '../policy/decision/index.js';

export type { MutationDecision } from '../policy/decision/index.js';
import { withFactFailures } from './declared-facts.js';
import type { Plan } from './plan.js';
import { messageOf } from '../operations/errors/index.js';

/** Why a request is refused before any policy set has been activated (the webhook is not ready). */
export const NO_POLICY_SET = 'no validated policy set is active yet';


/** Mutations rewrite the object being created or updated; a subresource body or a delete is left alone. */
function isMutable(request: AdmissionRequest): boolean {
  const object = request.object;
  return (
    (request.operation === 'CREATE' || request.operation === 'UPDATE') &&
    request.subResource === '' &&
    typeof object === 'object' &&
    object !== null &&
    !Array.isArray(object)
  );
}

/** A denial before any mutation ran: the request's facts could not be gathered. */
export function failedMutation(failure: string, revision: string, request: AdmissionRequest): MutationDecision {
  return { allowed: false, operations: [], applied: [], mutated: request.object, skipped: [], failure, revision };
}

/**
 * Everything about a mutation decision except the Cedar evaluation, which the caller runs where it
 * likes; `facts` are the request's facts with those derived from them (pipeline.ts, derivedFacts).
 */
export function planMutation(set: CompiledPolicySet | undefined, request: AdmissionRequest, facts: RequestFacts = {}): Plan<MutationDecision> {
  const unchanged = { operations: [], applied: [], mutated: request.object, skipped: [] };
  if (!set) return { decision: { ...unchanged, allowed: false, failure: NO_POLICY_SET, revision: 'none' } };
  const revision = set.revision;
  if (!isMutable(request) || set.mutations.length === 0) return { decision: { ...unchanged, allowed: true, revision } };

  const deny = (failure: string): MutationDecision => ({ ...unchanged, allowed: false, failure, revision });
  let cedarRequest;
  try {
    cedarRequest = toCedarRequest(request, facts);
  } catch (error) {
    return { decision: deny(`could not translate the request: ${messageOf(error)}`) };
  }
  return { set, cedarRequest, finish: (evaluation) => mutationFrom(set, request, facts, evaluation, deny) };
}

function mutationFrom(
  set: CompiledPolicySet,
  request: AdmissionRequest,
  facts: RequestFacts,
  answered: Evaluation,
  deny: (failure: string) => MutationDecision,
): MutationDecision {
  // A mutation that reads a declared fact that could not be computed counts as erroring.
  const evaluation = withFactFailures(set, request, 'mutations', answered, facts.declared);
  if (!evaluation.ok) return deny(`mutation conditions could not be evaluated: ${evaluation.message}`);

  const skipped: MutationDecision['skipped'] = [];
  for (const { policyId, message } of evaluation.errors) {
    const spec = set.mutations.find((m) => m.id === policyId);
    if (spec?.onError === 'skip') {
      skipped.push({ id: policyId, error: message });
      continue;
    }
    // Skipping a mutation could let an object through without a change a policy requires.
    return { ...deny(`mutation [${policyId}] could not be evaluated (${message}), so Canopy fails closed`), skipped };
  }
  const satisfied = new Set(evaluation.satisfied);
  const applicable = set.mutations.filter((spec) => satisfied.has(spec.id));
  try {
    const run = runMutations(applicable, request, { data: set.data, facts });
    return { allowed: true, operations: run.operations, applied: run.applied, mutated: run.mutated, skipped, revision: set.revision };
  } catch (error) {
    if (error instanceof MutationError) return { ...deny(error.message), skipped };
    throw error;
  }
}
