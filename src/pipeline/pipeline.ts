// The one pipeline behind every entry point (webhook, `canopy eval`, later test, audit and impact):
// AdmissionReview → checks → Cedar request → engine → decision → AdmissionReview response; and for the
// mutating webhook, the mutations whose conditions hold → a checked JSON Patch.
import { judgedObject, parseAdmissionReview, type AdmissionRequest, type AdmissionReviewResponse } from '../kubernetes/admission/index.js';
import { decide, failedDecision, type Decision } from '../policy/decision/index.js';
import { decisionRecord, mutationRecord, type Logger } from '../operations/decision-log/index.js';
import type { CedarRequest, Evaluation, PlannedEvaluation, PolicyKind, RequestScope } from '../policy/engine/index.js';
// The set, the providers' derivations and the quota arithmetic come from their own modules, not their
// folders' index: an evaluation worker runs this module, and must not load the data readers and their
// schema library (typebox, about 350 ms of CPU per thread to import) that only checking a set needs.
import type { CheckedPolicySet } from '../policy/set/compile.js';
import { portablePolicySet } from '../policy/set/portable.js';
import { preparePolicySet, type CompiledPolicySet } from '../policy/set/prepare.js';
import { portableFacts, toCedarRequest, type RequestFacts } from '../policy/translate/index.js';
import { UNKNOWN_REVISION, type EvaluationPool } from './pool.js';
import type { GivenQuota } from './worker-protocol.js';
import { renderAdvice } from '../policy/decision/index.js';
import { templateContext } from '../policy/mutation/index.js';
import { quotaFacts, shortfall, tenantOf, type QuotaFacts } from '../facts/quota/facts.js';
import { isZero, QuantityError } from '../facts/quota/usage.js';
import { appliesTo, type FactDeclaration } from '../facts/declared/index.js';
import { deriveSovereignty } from '../facts/sovereignty/facts.js';
import { deriveSupplyChain } from '../facts/supply-chain/facts.js';
import { podSecurityFacts } from '../facts/pod-security/facts.js';
import { DecisionCache, DEFAULT_DECISION_CACHE_SIZE } from './decision-cache.js';
import { declaredFactsOf, withFactFailures } from './declared-facts.js';
import { Deadline, deadlineFor, DEFAULT_DEADLINE_MS } from './deadline.js';
import { KeyedLock } from './keyed-lock.js';
import { failedMutation, NO_POLICY_SET, planMutation, type MutationDecision } from './mutate.js';
import type { Plan } from './plan.js';
import { toAdmissionReview, toMutationReview } from './response.js';
import { PolicyActivationError, warmUpRequests } from './warm-up.js';
import { messageOf } from '../operations/errors/index.js';

export { PolicyActivationError } from './warm-up.js';

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
  /**
   * Judges the webhook's requests in worker threads (handleValidate: the whole decision, with the quota
   * facts of a tenant with a budget derived in this thread; handleMutate: the Cedar evaluation); without
   * it everything runs in this thread. Every set is loaded into the pool before it becomes active.
   */
  pool?: EvaluationPool;
  /** How many evaluations to remember (decision-cache.ts); 0 remembers none. Default 10,000. */
  decisionCacheSize?: number;
  /** The webhooks answer within this many ms, denying what is not judged by then (deadline.ts). Default 4000. */
  deadlineMs?: number;
}

/** Facts that follow from other facts and the policy data: where the request's data may live, what its images are. */
function derivedFacts(set: CompiledPolicySet | undefined, request: AdmissionRequest, facts: RequestFacts, readers: PolicyKind | 'all'): RequestFacts {
  // Each provider derives from what the ones before it derived: supply chain reads sovereignty's data class.
  const sovereignty = deriveSovereignty(request, set?.sovereignty, facts);
  const supplyChain = deriveSupplyChain(request, set?.supplyChain, { ...facts, ...(sovereignty ? { sovereignty } : {}) });
  const podSecurity = podSecurityFacts(set?.podSecurity, request, facts);
  const declared = set ? declaredFactsOf(set, request, facts, readers) : undefined;
  return { ...facts, ...(sovereignty ? { sovereignty } : {}), ...(supplyChain ? { supplyChain } : {}), ...(podSecurity ? { podSecurity } : {}), ...(declared ? { declared } : {}) };
}

/**
 * Everything about a validating decision but the Cedar evaluation. With quota facts, `finish` reserves
 * what an allowed request adds; the caller holds the tenant's lock from here to `finish` (see
 * judgeAsync), so two requests cannot both pass a limit that only one fits under. Dry runs reserve nothing.
 */
/** Quota facts already derived for this request against `set`, with nothing changed since (see growFleetShare). */
interface KnownQuota {
  set: CompiledPolicySet;
  quota: QuotaFacts | undefined;
}

/**
 * The request's quota facts against `set` (those already derived, while `set` is still the one they were
 * derived against), or the denial of a request whose asks cannot be counted.
 */
function quotaAgainst(set: CompiledPolicySet, request: AdmissionRequest, facts: RequestFacts, known: KnownQuota | undefined): GivenQuota | { decision: Decision } {
  try {
    return { quota: known?.set === set ? known.quota : quotaFacts(set.quota, request, facts) };
  } catch (error) {
    if (error instanceof QuantityError) return { decision: failedDecision(`what the request asks for cannot be counted: ${error.message}`, set.revision) };
    throw error;
  }
}

function planDecision(set: CompiledPolicySet | undefined, request: AdmissionRequest, given: RequestFacts, known?: KnownQuota): Plan<Decision> {
  if (!set) return { decision: failedDecision(NO_POLICY_SET, 'none') };
  if (given.unavailable) return { decision: failedDecision(given.unavailable, set.revision) };
  let facts: RequestFacts;
  try {
    facts = derivedFacts(set, request, given, 'validating');
  } catch (error) {
    return { decision: failedDecision(`the request's facts could not be derived: ${messageOf(error)}`, set.revision) };
  }
  const counted = quotaAgainst(set, request, facts, known);
  if ('decision' in counted) return counted;
  const quota = counted.quota;
  const judged = quota ? { ...facts, quota } : facts;
  let cedarRequest;
  try {
    cedarRequest = toCedarRequest(request, judged);
  } catch (error) {
    // Translation reads untrusted shapes defensively; should it still throw, the request is denied.
    return { decision: failedDecision(`could not translate the request: ${messageOf(error)}`, set.revision) };
  }
  const finish = (evaluation: Evaluation): Decision => {
    const judgedEvaluation = withFactFailures(set, request, 'validating', evaluation, judged.declared);
    const decision = renderAdvice(decide(set, judgedEvaluation, judged.podSecurity), () => templateContext(request, judgedObject(request), judged, set.data));
    reserveAdmitted(request, facts, quota, decision);
    return decision;
  };
  return { set, cedarRequest, finish };
}

/**
 * Reserves what an allowed request adds to its tenant's usage, in the ledger of `facts` (the main
 * thread's: a worker's facts have none, and the pool's caller reserves for it). Dry runs reserve nothing.
 */
function reserveAdmitted(request: AdmissionRequest, facts: RequestFacts, quota: QuotaFacts | undefined, decision: Decision): void {
  const claim = quota?.requested.claim;
  if (decision.allowed && quota && claim && !isZero(quota.requested.usage) && !request.dryRun) {
    facts.quotaLedger?.reserve(quota.tenant, request.namespace, claim);
  }
}

/** The mutating webhook's plan: the request's derived facts, then the mutations whose conditions can hold (mutate.ts). */
function planMutationWithFacts(set: CompiledPolicySet | undefined, request: AdmissionRequest, given: RequestFacts): Plan<MutationDecision> {
  if (given.unavailable) return { decision: failedMutation(given.unavailable, set?.revision ?? 'none', request) };
  let derived: RequestFacts;
  try {
    derived = derivedFacts(set, request, given, 'mutations');
  } catch (error) {
    return { decision: failedMutation(`the request's facts could not be derived: ${messageOf(error)}`, set?.revision ?? 'none', request) };
  }
  return planMutation(set, request, derived);
}

let pipelines = 0;

/** What decides an evaluation: the group of policies (its shape), the subset of it (mask), the request Cedar is handed. */
function planKey(shape: RequestScope, mask: string, requestJson: string): string {
  return `${shape.action}\0${shape.resourceType}\0${shape.apiGroup}\0${shape.kind}\0${mask}\0${requestJson}`;
}

type PlannedWithKey = { evaluation: Evaluation } | { plan: PlannedEvaluation; json: string; key?: string };

/**
 * The plan of an evaluation (engine/scoped-policy-set.ts) with its decision-cache key, or its answer when the plan
 * already has it (no policy left, a request the schema refuses) or the cache remembers it. What Cedar
 * is handed, with the policies it is evaluated against, is what the cache is keyed by; `json` is that
 * request as text (for the key and for a worker), made only when one of them needs it.
 */
function plannedEvaluation(set: CompiledPolicySet, cedarRequest: CedarRequest, kind: PolicyKind, cache: DecisionCache | undefined, forWorker: boolean): PlannedWithKey {
  const plan = set.engine.plan(cedarRequest, kind);
  if ('evaluation' in plan) return plan;
  const json = cache || forWorker ? JSON.stringify(plan.request) : '';
  const key = cache?.keyOf(set.revision, kind, planKey(plan.shape, plan.mask, json));
  const remembered = key !== undefined ? cache?.get(key) : undefined;
  if (remembered) return { evaluation: remembered };
  return { plan, json, ...(key !== undefined ? { key } : {}) };
}

/** An evaluation in this thread, through the decision cache when there is one. */
function evaluateHere(set: CompiledPolicySet, cedarRequest: CedarRequest, kind: PolicyKind, cache: DecisionCache | undefined): Evaluation {
  const planned = plannedEvaluation(set, cedarRequest, kind, cache, false);
  if ('evaluation' in planned) return planned.evaluation;
  const evaluation = set.engine.evaluatePlanned(planned.plan, kind);
  if (planned.key !== undefined) cache?.remember(planned.key, evaluation);
  return evaluation;
}

/**
 * A validating decision, all of it in this thread: derived facts, translation, evaluation, decision.
 * What the pipeline does for a request judged here, and what an evaluation worker does (worker.ts).
 */
export function judgeHere(set: CompiledPolicySet | undefined, request: AdmissionRequest, facts: RequestFacts, cache: DecisionCache | undefined, given?: GivenQuota): Decision {
  const plan = planDecision(set, request, facts, given && set ? { set, quota: given.quota } : undefined);
  return 'decision' in plan ? plan.decision : plan.finish(evaluateHere(plan.set, plan.cedarRequest, 'validating', cache));
}

/** Each set's declared facts that read the cluster's inventory (which only this thread has). */
const inventoryReaders = new WeakMap<CompiledPolicySet, readonly FactDeclaration[]>();

/** Whether a declared fact computed for the request's kind reads the cluster's inventory. */
function readsInventory(set: CompiledPolicySet, request: AdmissionRequest): boolean {
  let readers = inventoryReaders.get(set);
  if (!readers) {
    readers = set.facts.declarations.filter((declaration) => declaration.expression.variables.has('inventory'));
    inventoryReaders.set(set, readers);
  }
  return readers.some((declaration) => appliesTo(declaration, request.kind.group, request.kind.kind));
}

export class AdmissionPipeline {
  private active: CompiledPolicySet | undefined;
  /** Two preparse slots, the active set's and the candidate's: reloads reuse them instead of leaking. */
  private readonly slots: [string, string];
  private nextSlot = 0;
  /** Activations run one at a time, in the order they were asked for. */
  private activations: Promise<unknown> = Promise.resolve();
  private readonly cache: DecisionCache | undefined;
  /** What the workers' decision caches answered for the requests they judged. */
  private readonly workerCache = { hits: 0, misses: 0 };
  private readonly quotaLocks = new KeyedLock();

  constructor(private readonly options: PipelineOptions = {}) {
    pipelines += 1;
    this.slots = [`pipeline-${pipelines}/a`, `pipeline-${pipelines}/b`];
    const size = options.decisionCacheSize ?? DEFAULT_DECISION_CACHE_SIZE;
    this.cache = size > 0 ? new DecisionCache(size) : undefined;
  }

  /** The active policy set, once one has been activated. */
  get policySet(): CompiledPolicySet | undefined {
    return this.active;
  }

  /** Runs a task while no request of the tenant is being judged (what fleet budget renewals need). */
  withTenantLock<T>(tenant: string, task: () => Promise<T>): Promise<T> {
    return this.quotaLocks.run(tenant, task);
  }

  /** Ready means a validated, warmed-up policy set is serving. */
  get ready(): boolean {
    return this.active !== undefined;
  }

  /** Hits and misses of the decision cache, for /status and the benchmark. */
  cacheStatus(): { size: number; entries: number; hits: number; misses: number } | undefined {
    const cache = this.cache;
    const workers = this.workerCache;
    const pooled = this.options.pool?.cacheEntries ?? 0;
    return cache && { size: cache.size, entries: cache.entriesHeld + pooled, hits: cache.hits + workers.hits, misses: cache.misses + workers.misses };
  }

  /**
   * Preparses a checked set, runs the warm-up requests through it (here and in every worker of the
   * pool), and only then swaps it in. A set the engine cannot evaluate is refused and the current one
   * keeps serving; requests keep being answered throughout.
   */
  activate(checked: CheckedPolicySet): Promise<CompiledPolicySet> {
    const activation = this.activations.then(() => this.activateNow(checked));
    this.activations = activation.catch(() => undefined);
    return activation;
  }

  private async activateNow(checked: CheckedPolicySet): Promise<CompiledPolicySet> {
    // The candidate goes into the slot the active set does not use; evaluation in this thread is
    // synchronous, so no request can be reading the slot being overwritten.
    const slot = this.slots[this.nextSlot] ?? 'pipeline';
    const prepared = preparePolicySet(checked, slot);
    warmUpRequests(prepared);
    if (this.options.pool) {
      try {
        await this.options.pool.load(portablePolicySet(checked), this.cache?.size ?? 0);
      } catch (error) {
        throw new PolicyActivationError(`policy set ${checked.revision} could not be loaded into the evaluation workers: ${messageOf(error)}`);
      }
    }
    this.active = prepared;
    this.nextSlot = 1 - this.nextSlot;
    return prepared;
  }

  /** Judges one checked request against the active policy set, in this thread; never throws. */
  judge(request: AdmissionRequest, facts: RequestFacts = {}): Decision {
    return judgeHere(this.active, request, facts, this.cache);
  }

  /**
   * As judge, in the pool when there is one; late work neither evaluates nor reserves. `review` is the
   * AdmissionReview's text, for a worker. Requests whose facts read the cluster's inventory are planned
   * here and only evaluated in the pool: the inventory is this thread's. For a tenant with a budget,
   * this thread derives the quota facts (the usage ledger and the fleet shares are its own) and reserves
   * what the worker's decision admits; both under the tenant's lock.
   */
  private async judgeAsync(request: AdmissionRequest, facts: RequestFacts, deadline: Deadline, review: () => string): Promise<Decision> {
    const run = (known?: KnownQuota) =>
      this.run(() => planDecision(this.active, request, facts, known), 'validating', deadline, (revision) => failedDecision(deadline.message(), revision));
    // Requests that count against a tenant's budget are judged one at a time per tenant (see planDecision).
    const tenant = tenantOf(facts.namespaceLabels, facts.workspace?.path);
    const quota = this.active?.quota;
    const fleet = tenant !== undefined && quota !== undefined && Object.hasOwn(quota.fleet, tenant);
    if (!tenant || !quota || (!Object.hasOwn(quota.budgets, tenant) && !fleet)) {
      const inPool = this.poolFor(request, facts);
      return inPool ? this.judgeInPool(inPool, request, facts, deadline, review()) : run();
    }
    deadline.stage = `waiting for earlier requests of tenant ${tenant} (quota)`;
    return this.quotaLocks.run(tenant, async () => {
      const known = fleet ? await this.growFleetShare(request, facts, deadline) : undefined;
      // Asked after the waits: the set active now is the one judged with.
      const inPool = this.poolFor(request, facts);
      if (!inPool) return run(known);
      // The quota facts are derived here, where the usage ledger and the fleet shares are; a worker
      // judges the rest (the declared facts' CEL among it), and what it admits is reserved here, all
      // within the tenant's lock.
      return this.judgeInPool(inPool, request, facts, deadline, review(), (active) => quotaAgainst(active, request, facts, known));
    });
  }

  /** The pool, when a worker can judge the request against the active set: not when its facts are missing or read the inventory. */
  private poolFor(request: AdmissionRequest, facts: RequestFacts): EvaluationPool | undefined {
    const pool = this.options.pool;
    const set = this.active;
    return pool && set && !facts.unavailable && !(facts.inventory && readsInventory(set, request)) ? pool : undefined;
  }

  /**
   * A whole validating decision in a worker (worker.ts, judgeHere there), against the active set: `late`
   * answers once the deadline has passed (before a worker is asked, and after it answers), and a request
   * whose set was replaced twice while it waited (no worker holds it any more) is asked again with the
   * active set, which every worker holds.
   */
  private async judgeInPool(
    pool: EvaluationPool,
    request: AdmissionRequest,
    facts: RequestFacts,
    deadline: Deadline,
    review: string,
    quotaFor?: (set: CompiledPolicySet) => GivenQuota | { decision: Decision },
  ): Promise<Decision> {
    const portable = portableFacts(request, facts);
    // An object's requests go to one worker while it keeps up: its decision cache then sees a re-apply.
    const affinity = `${request.kind.group}/${request.kind.kind}\0${request.namespace}\0${request.name}`;
    for (;;) {
      const set = this.active;
      if (!set) return failedDecision(NO_POLICY_SET, 'none');
      if (deadline.expired) return failedDecision(deadline.message(), set.revision);
      // Against the set the worker is asked to judge with: a replaced set is a new derivation.
      const given = quotaFor?.(set);
      if (given && 'decision' in given) return given.decision;
      deadline.stage = 'waiting for an evaluation worker';
      const answer = await pool.judge(set.revision, review, portable, affinity, given);
      if (deadline.expired) return failedDecision(deadline.message(), set.revision);
      if (answer === UNKNOWN_REVISION) continue;
      if ('failure' in answer) return failedDecision(answer.failure, set.revision);
      if (answer.cache === 'hit') this.workerCache.hits += 1;
      else if (answer.cache === 'miss') this.workerCache.misses += 1;
      if (given) reserveAdmitted(request, facts, given.quota, answer.decision);
      return answer.decision;
    }
  }

  /**
   * When the request needs more of a fleet budget than this cluster holds, asks the fleet store for it
   * first, within what is left of the deadline (a quarter of it is kept for judging). Whatever the store
   * answers, the request is then judged against the share held: the quota.fleet policy denies what it
   * still does not cover, saying why.
   */
  private async growFleetShare(request: AdmissionRequest, facts: RequestFacts, deadline: Deadline): Promise<KnownQuota | undefined> {
    const set = this.active;
    const shares = facts.fleetShares;
    if (!set || !shares) return undefined;
    let quota;
    try {
      quota = quotaFacts(set.quota, request, facts);
    } catch {
      return undefined; // what the request asks for cannot be counted: planDecision denies it, saying why
    }
    const needed = quota ? shortfall(quota) : undefined;
    // Within the share (the common case) the facts just derived are the ones to judge with: nothing that
    // could change them runs before planDecision (no await between, and renewals take this tenant's lock).
    if (!quota?.fleetTenant || !needed || request.dryRun) return { set, quota };
    deadline.stage = `asking the fleet store for a share of fleet budget ${quota.fleetTenant.budget}`;
    await shares.grow(quota.tenant, quota.fleetTenant, needed, Math.floor((deadline.remainingMs() * 3) / 4));
    return undefined;
  }

  /** A plan's decision, with the evaluation in this thread. */
  private runHere<D>(plan: Plan<D>, kind: PolicyKind): D {
    return 'decision' in plan ? plan.decision : plan.finish(evaluateHere(plan.set, plan.cedarRequest, kind, this.cache));
  }

  /**
   * A plan's decision, with the evaluation in the pool when there is one, for both webhooks: `late`
   * answers once the deadline has passed (before a worker is asked, and after it answers), and a plan
   * whose set was replaced twice while it waited (no worker holds it any more) is made again with the
   * active set, which every worker holds.
   */
  private async run<D>(plan: () => Plan<D>, kind: PolicyKind, deadline: Deadline, late: (revision: string) => D): Promise<D> {
    for (;;) {
      const planned = plan();
      if ('decision' in planned) return planned.decision;
      if (deadline.expired) return late(planned.set.revision);
      deadline.stage = 'waiting for an evaluation worker';
      const evaluation = await this.evaluateAnywhere(planned.set, planned.cedarRequest, kind);
      if (deadline.expired) return late(planned.set.revision);
      if (evaluation !== UNKNOWN_REVISION) return planned.finish(evaluation);
    }
  }

  /** In the pool when there is one: this thread plans, so a request no policy is left for never reaches a worker. */
  private async evaluateAnywhere(set: CompiledPolicySet, cedarRequest: CedarRequest, kind: PolicyKind): Promise<Evaluation | typeof UNKNOWN_REVISION> {
    const pool = this.options.pool;
    if (!pool) return evaluateHere(set, cedarRequest, kind, this.cache);
    const planned = plannedEvaluation(set, cedarRequest, kind, this.cache, true);
    if ('evaluation' in planned) return planned.evaluation;
    const { plan, json, key } = planned;
    const check = plan.check ? { check: JSON.stringify(plan.check) } : {};
    const evaluation = await pool.evaluate(set.revision, { shape: plan.shape, mask: plan.mask, request: json, ...check }, kind);
    if (key !== undefined && evaluation !== UNKNOWN_REVISION) this.cache?.remember(key, evaluation);
    return evaluation;
  }

  /**
   * The validating webhook: gathers the request's facts, then judges it, within the deadline (the
   * configured one, or less when the API server's `?timeout=` is shorter). Throws AdmissionReviewError.
   */
  async handleValidate(body: unknown, apiServerTimeout?: string, text?: string): Promise<AdmissionResult> {
    const started = process.hrtime.bigint();
    const request = parseAdmissionReview(body);
    const deadline = this.deadline(apiServerTimeout);
    // A worker parses the text the API server sent; a caller without it (in process) has it made.
    const review = () => text || JSON.stringify(body);
    const judged = async () => this.judgeAsync(request, await this.gatherFacts(request, deadline), deadline, review);
    const decision = await deadline.race(judged(), () => failedDecision(deadline.message(), this.active?.revision ?? 'none'));
    return this.reviewed(request, decision, started);
  }

  /** The mutating webhook: gathers the request's facts, then mutates, within the deadline. Throws AdmissionReviewError. */
  async handleMutate(body: unknown, apiServerTimeout?: string): Promise<MutationResult> {
    const started = process.hrtime.bigint();
    const request = parseAdmissionReview(body);
    const deadline = this.deadline(apiServerTimeout);
    const late = (revision = this.active?.revision ?? 'none') => failedMutation(deadline.message(), revision, request);
    const mutated = async (): Promise<MutationDecision> => {
      const facts = await this.gatherFacts(request, deadline);
      return this.run(() => planMutationWithFacts(this.active, request, facts), 'mutations', deadline, late);
    };
    return this.mutated(request, await deadline.race(mutated(), () => late()), started);
  }

  /** `apiServerTimeout` is the `?timeout=` the API server called with (`5s`), when it did. */
  private deadline(apiServerTimeout: string | undefined): Deadline {
    return new Deadline(deadlineFor(this.options.deadlineMs ?? DEFAULT_DEADLINE_MS, apiServerTimeout));
  }

  /**
   * The request's facts. A gatherer that throws is reported as facts that could not be gathered
   * (`unavailable`), which both webhooks already deny, rather than failing the HTTP call.
   */
  private async gatherFacts(request: AdmissionRequest, deadline: Deadline): Promise<RequestFacts> {
    deadline.stage = 'gathering facts: namespace labels, workspace, registries';
    try {
      return (await this.options.facts?.(request, this.active)) ?? {};
    } catch (error) {
      return { unavailable: `the request's facts could not be gathered: ${messageOf(error)}` };
    }
  }


  /**
   * The Cedar request the validating webhook would judge for `body`: every attribute and fact a policy
   * can read (`canopy facts`, tests). With `allDeclared`, every declared fact that applies to the
   * object's kind, not only those the applicable policies read. `declaredFailures` says why each
   * declared fact missing from the entities could not be computed (fact name → reason; a reason for the
   * object before an UPDATE starts "on the object before this update"). Throws AdmissionReviewError, and
   * Error when there is no active set or the request cannot be translated.
   */
  cedarRequestFor(
    body: unknown,
    facts: RequestFacts = {},
    options: { allDeclared?: boolean } = {},
  ): { cedarRequest: CedarRequest; declaredFailures: Readonly<Record<string, string>> } {
    const set = this.active;
    if (!set) throw new Error(NO_POLICY_SET);
    const request = parseAdmissionReview(body);
    const derived = derivedFacts(set, request, facts, options.allDeclared ? 'all' : 'validating');
    const quota = quotaFacts(set.quota, request, derived);
    const cedarRequest = toCedarRequest(request, quota ? { ...derived, quota } : derived);
    return { cedarRequest, declaredFailures: { ...derived.declared?.failures } };
  }

  /** The validating webhook's job, for a parsed body and given facts, in this thread. Throws AdmissionReviewError. */
  review(body: unknown, facts: RequestFacts = {}): AdmissionResult {
    const started = process.hrtime.bigint();
    const request = parseAdmissionReview(body);
    return this.reviewed(request, this.judge(request, facts), started);
  }

  private reviewed(request: AdmissionRequest, decision: Decision, started: bigint): AdmissionResult {
    const review = toAdmissionReview(request.uid, decision);
    const latencyUs = Number((process.hrtime.bigint() - started) / 1000n);
    this.options.decisionLog?.info(decisionRecord(request, decision, latencyUs), 'decision');
    return { request, decision, review, latencyUs };
  }

  /** The mutating webhook's job, for a parsed body, in this thread. Throws AdmissionReviewError on a bad envelope. */
  mutate(body: unknown, facts: RequestFacts = {}): MutationResult {
    const started = process.hrtime.bigint();
    const request = parseAdmissionReview(body);
    return this.mutated(request, this.runHere(planMutationWithFacts(this.active, request, facts), 'mutations'), started);
  }

  private mutated(request: AdmissionRequest, decision: MutationDecision, started: bigint): MutationResult {
    const review = toMutationReview(request.uid, decision);
    const latencyUs = Number((process.hrtime.bigint() - started) / 1000n);
    const patch = review.response.patch;
    const patchBytes = patch ? Buffer.byteLength(patch, 'base64') : 0;
    this.options.decisionLog?.info(mutationRecord(request, decision, patchBytes, latencyUs), 'mutation');
    return { request, decision, review, latencyUs };
  }

  /**
   * What the API server would make of the request: the mutating webhook, then the validating webhook on
   * the mutated object (not run when the mutation denies). In this thread. Throws AdmissionReviewError.
   */
  admit(body: unknown, facts: RequestFacts = {}): AdmissionOutcome {
    const mutation = this.mutate(body, facts);
    if (!mutation.decision.allowed) return { mutation };
    const mutated: AdmissionRequest = { ...mutation.request, object: mutation.decision.mutated };
    return { mutation, validation: this.reviewed(mutated, this.judge(mutated, facts), process.hrtime.bigint()) };
  }
}
