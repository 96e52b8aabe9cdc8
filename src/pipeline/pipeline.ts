// The one pipeline behind every entry point (webhook, `canopy eval`, later test, audit and impact):
// AdmissionReview → checks → Cedar request → engine → decision → AdmissionReview response; and for the
// mutating webhook, the mutations whose conditions hold → a checked JSON Patch.
import { judgedObject, parseAdmissionReview, type AdmissionRequest, type AdmissionReviewResponse } from '../admission/index.js';
import { decide, failedDecision, type Decision } from '../decision/index.js';
import { decisionRecord, mutationRecord, type Logger } from '../decision-log/index.js';
import { evaluate, preparePolicySet, type CheckedPolicySet, type CompiledPolicySet } from '../engine/index.js';
import { toCedarRequest, type RequestFacts } from '../translate/index.js';
import { renderAdvice } from '../decision/index.js';
import { templateContext } from '../mutation/index.js';
import { isZero, QuantityError, quotaFacts } from '../quota/index.js';
import { sovereigntyFacts } from '../sovereignty/index.js';
import { imagesOf, supplyChainFacts } from '../supply-chain/index.js';
import { decideMutation, failedMutation, NO_POLICY_SET, type MutationDecision } from './mutate.js';
import { toAdmissionReview, toMutationReview } from './response.js';
import { WARM_UP_FACT_REQUESTS, WARM_UP_FACTS, WARM_UP_REQUESTS } from './warm-up.js';

/** A checked policy set that could not be made active: the previously active one (if any) stays. */
export class PolicyActivationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyActivationError';
  }
}

export interface AdmissionResult {
  request: AdmissionRequest;
  decision: Decision;
  review: AdmissionReviewResponse;
  latencyUs: number;
}

export interface MutationResult {
  request: AdmissionRequest;
  decision: MutationDecision;
  review: AdmissionReviewResponse;
  latencyUs: number;
}

export interface AdmissionOutcome {
  mutation: MutationResult;
  /** Absent when the mutation denied the request. */
  validation?: AdmissionResult;
}

/** What the API server would end with: the verdict, the policies that spoke, the patch, the message. */
export interface AdmissionSummary {
  allowed: boolean;
  denied: string[];
  warnings: string[];
  audits: string[];
  mutations: string[];
  patch: unknown[];
  /** The denial message, or the mutation failure. */
  message?: string;
}

export function summarizeAdmission({ mutation, validation }: AdmissionOutcome): AdmissionSummary {
  const decision = validation?.decision;
  const message = mutation.decision.failure ?? validation?.review.response.status?.message;
  return {
    allowed: mutation.decision.allowed && (decision?.allowed ?? false),
    denied: decision?.denials.map((hit) => hit.id) ?? [],
    warnings: decision?.warnings.map((hit) => hit.id) ?? [],
    audits: decision?.audits.map((hit) => hit.id) ?? [],
    mutations: mutation.decision.applied,
    patch: mutation.decision.operations,
    ...(message ? { message } : {}),
  };
}

export interface PipelineOptions {
  /** Where decision records go; none for callers that report decisions themselves. */
  decisionLog?: Logger;
  /** Gathers what the webhook knows about a request beyond its body (cluster, namespace labels, ...). */
  facts?: (request: AdmissionRequest, set: CompiledPolicySet | undefined) => Promise<RequestFacts>;
}


function judgeWith(set: CompiledPolicySet, request: AdmissionRequest, facts: RequestFacts): Decision {
  let cedarRequest;
  try {
    cedarRequest = toCedarRequest(request, facts);
  } catch (error) {
    // Translation reads untrusted shapes defensively; should it still throw, the request is denied.
    return failedDecision(`could not translate the request: ${(error as Error).message}`, set.revision);
  }
  const decision = decide(set, evaluate(set, cedarRequest));
  return renderAdvice(decision, templateContext(request, judgedObject(request), facts, set.data));
}

/** Facts that follow from other facts and the policy data: where the request's data may live, what its images are. */
function derivedFacts(set: CompiledPolicySet | undefined, request: AdmissionRequest, facts: RequestFacts): RequestFacts {
  const sovereignty = sovereigntyFacts(set?.sovereignty, facts);
  const images = set?.supplyChain ? imagesOf(request.kind.group, request.kind.kind, judgedObject(request)) : [];
  const supplyChain = supplyChainFacts(set?.supplyChain, images, facts.imageLookups ?? new Map(), sovereignty?.dataClass, facts.cluster);
  return { ...facts, ...(sovereignty ? { sovereignty } : {}), ...(supplyChain ? { supplyChain } : {}) };
}

/**
 * Judges with quota facts, and reserves what an allowed request adds before anything else can run:
 * reading usage, deciding and reserving happen in one synchronous step, so two requests in this
 * replica cannot both pass a limit that only one fits under. Dry runs reserve nothing.
 */
function judgeWithQuota(set: CompiledPolicySet, request: AdmissionRequest, facts: RequestFacts): Decision {
  let quota;
  try {
    quota = quotaFacts(set.quota, request, facts);
  } catch (error) {
    if (error instanceof QuantityError) return failedDecision(`what the request asks for cannot be counted: ${error.message}`, set.revision);
    throw error;
  }
  const decision = judgeWith(set, request, quota ? { ...facts, quota } : facts);
  const claim = quota?.requested.claim;
  if (decision.allowed && quota && claim && !isZero(quota.requested.usage) && !request.dryRun) {
    facts.quotaLedger?.reserve(quota.tenant, request.namespace, claim);
  }
  return decision;
}

let pipelines = 0;

export class AdmissionPipeline {
  private active: CompiledPolicySet | undefined;
  /** Two preparse slots, the active set's and the candidate's: reloads reuse them instead of leaking. */
  private readonly slots: [string, string];
  private nextSlot = 0;

  constructor(private readonly options: PipelineOptions = {}) {
    pipelines += 1;
    this.slots = [`pipeline-${pipelines}/a`, `pipeline-${pipelines}/b`];
  }

  /** The active policy set, once one has been activated. */
  get policySet(): CompiledPolicySet | undefined {
    return this.active;
  }

  /** Ready means a validated, warmed-up policy set is serving. */
  get ready(): boolean {
    return this.active !== undefined;
  }

  /**
   * Preparses a checked set, runs the warm-up requests through it, and only then swaps it in. A set the
   * engine cannot evaluate is refused and the current one keeps serving.
   */
  activate(checked: CheckedPolicySet): CompiledPolicySet {
    // The candidate goes into the slot the active set does not use; evaluation is synchronous, so no
    // request can be reading the slot being overwritten.
    const slot = this.slots[this.nextSlot] ?? 'pipeline';
    const prepared = preparePolicySet(checked, slot);
    const runs: [AdmissionRequest, RequestFacts][] = [
      ...WARM_UP_REQUESTS.map((request): [AdmissionRequest, RequestFacts] => [request, {}]),
      ...[...WARM_UP_REQUESTS, ...WARM_UP_FACT_REQUESTS].map((request): [AdmissionRequest, RequestFacts] => [request, WARM_UP_FACTS]),
    ];
    for (const [request, facts] of runs) {
      const cedarRequest = toCedarRequest(request, facts);
      const evaluations = [evaluate(prepared, cedarRequest), evaluate(prepared, cedarRequest, 'mutations')];
      for (const evaluation of evaluations) {
        if (!evaluation.ok) {
          throw new PolicyActivationError(
            `policy set ${checked.revision} cannot evaluate Canopy's requests ` +
              `(${request.operation} ${request.kind.kind}): ${evaluation.message}. ` +
              'Does the schema still declare every attribute Canopy sends (policies/README.md)?',
          );
        }
      }
    }
    this.active = prepared;
    this.nextSlot = 1 - this.nextSlot;
    return prepared;
  }

  /** Judges one checked request against the active policy set; never throws. */
  judge(request: AdmissionRequest, facts: RequestFacts = {}): Decision {
    const set = this.active;
    if (!set) return failedDecision(NO_POLICY_SET, 'none');
    if (facts.unavailable) return failedDecision(facts.unavailable, set.revision);
    let derived: RequestFacts;
    try {
      derived = derivedFacts(set, request, facts);
    } catch (error) {
      return failedDecision(`the request's facts could not be derived: ${(error as Error).message}`, set.revision);
    }
    return judgeWithQuota(set, request, derived);
  }

  /** The validating webhook: gathers the request's facts, then judges it. Throws AdmissionReviewError. */
  async handleValidate(body: unknown): Promise<AdmissionResult> {
    const started = process.hrtime.bigint();
    const request = parseAdmissionReview(body);
    return this.reviewRequest(request, (await this.options.facts?.(request, this.active)) ?? {}, started);
  }

  /** The mutating webhook: gathers the request's facts, then mutates. Throws AdmissionReviewError. */
  async handleMutate(body: unknown): Promise<MutationResult> {
    const started = process.hrtime.bigint();
    const request = parseAdmissionReview(body);
    return this.mutateRequest(request, (await this.options.facts?.(request, this.active)) ?? {}, started);
  }

  /** The validating webhook's job, for a parsed body and given facts. Throws AdmissionReviewError. */
  review(body: unknown, facts: RequestFacts = {}): AdmissionResult {
    const started = process.hrtime.bigint();
    return this.reviewRequest(parseAdmissionReview(body), facts, started);
  }

  private reviewRequest(request: AdmissionRequest, facts: RequestFacts, started: bigint): AdmissionResult {
    const decision = this.judge(request, facts);
    const review = toAdmissionReview(request.uid, decision);
    const latencyUs = Number((process.hrtime.bigint() - started) / 1000n);
    this.options.decisionLog?.info(decisionRecord(request, decision, latencyUs), 'decision');
    return { request, decision, review, latencyUs };
  }

  /** The mutating webhook's job, for a parsed body. Throws AdmissionReviewError on a bad envelope. */
  mutate(body: unknown, facts: RequestFacts = {}): MutationResult {
    const started = process.hrtime.bigint();
    return this.mutateRequest(parseAdmissionReview(body), facts, started);
  }

  private mutateRequest(request: AdmissionRequest, facts: RequestFacts, started: bigint): MutationResult {
    let decision: MutationDecision;
    if (facts.unavailable) decision = failedMutation(facts.unavailable, this.active?.revision ?? 'none', request);
    else {
      try {
        decision = decideMutation(this.active, request, derivedFacts(this.active, request, facts));
      } catch (error) {
        decision = failedMutation(`the request's facts could not be derived: ${(error as Error).message}`, this.active?.revision ?? 'none', request);
      }
    }
    const review = toMutationReview(request.uid, decision);
    const latencyUs = Number((process.hrtime.bigint() - started) / 1000n);
    const patch = review.response.patch;
    const patchBytes = patch ? Buffer.byteLength(patch, 'base64') : 0;
    this.options.decisionLog?.info(mutationRecord(request, decision, patchBytes, latencyUs), 'mutation');
    return { request, decision, review, latencyUs };
  }

  /**
   * What the API server would make of the request: the mutating webhook, then the validating webhook on
   * the mutated object (not run when the mutation denies). Throws AdmissionReviewError.
   */
  admit(body: unknown, facts: RequestFacts = {}): AdmissionOutcome {
    const mutation = this.mutate(body, facts);
    if (!mutation.decision.allowed) return { mutation };
    const mutated: AdmissionRequest = { ...mutation.request, object: mutation.decision.mutated };
    return { mutation, validation: this.reviewRequest(mutated, facts, process.hrtime.bigint()) };
  }
}
