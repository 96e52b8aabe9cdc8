// Prometheus metrics for GET /metrics (prom-client): what the webhooks decided and how fast, which
// policies deny or fail, which mutations apply, how the enrichers' caches do, how current the policy
// set is, and the process itself (event-loop lag, memory) from prom-client's default collectors.
// Each server has its own registry, so tests and the benchmark can run several in one process.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Decision } from '../../policy/decision/index.js';
import type { MutationDecision } from '../../policy/decision/index.js';
import type { LookupObserver, LookupResult } from '../../facts/lookups.js';

export type { EnricherName, LookupObserver, LookupResult } from '../../facts/lookups.js';

export type Webhook = 'validate' | 'mutate';

/** What the active policy set is and how far behind its source it may be, read at scrape time. */
export interface PolicySetState {
  revision?: string;
  source: 'bundle' | 'directory';
  /** Seconds since the bundle store last confirmed the active bundle is current (bundles only). */
  stalenessSeconds?: number;
}

/** Latency buckets for decisions that take tens of microseconds to a few seconds (registry look-ups). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The decision label: allow, warn (allowed with warnings), deny, error (denied because nothing could be judged), invalid (HTTP 4xx). */
export function validationLabel(decision: Decision): string {
  if (decision.failure) return 'error';
  if (!decision.allowed) return 'deny';
  return decision.warnings.length > 0 ? 'warn' : 'allow';
}

export function mutationLabel(decision: MutationDecision): string {
  if (decision.allowed) return decision.operations.length > 0 ? 'patch' : 'allow';
  return 'deny';
}

export class CanopyMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'webhook' | 'decision'>;
  private readonly duration: Histogram<'webhook' | 'decision'>;
  private readonly denials: Counter<'policy'>;
  private readonly evaluationErrors: Counter<'policy'>;
  private readonly mutations: Counter<'mutation'>;
  private readonly lookups: Counter<'enricher' | 'result'>;
  /** Hits and look-ups per enricher since start, for the hit-ratio gauge. */
  private readonly lookupTotals = new Map<string, { hits: number; all: number }>();

  constructor(policySet: () => PolicySetState, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'canopy_admission_requests_total', help: 'AdmissionReviews answered, by webhook and decision', labelNames: ['webhook', 'decision'], registers });
    this.duration = new Histogram({
      name: 'canopy_admission_request_duration_seconds',
      help: 'Time from receiving an AdmissionReview to answering it, by webhook and decision',
      labelNames: ['webhook', 'decision'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.denials = new Counter({ name: 'canopy_policy_denials_total', help: 'Requests denied, by denying policy id', labelNames: ['policy'], registers });
    this.evaluationErrors = new Counter({
      name: 'canopy_policy_evaluation_errors_total',
      help: 'Policies or mutations that could not be evaluated for a request (they count as matches unless @onError("skip"))',
      labelNames: ['policy'],
      registers,
    });
    this.mutations = new Counter({ name: 'canopy_mutations_applied_total', help: 'Mutations that changed an object, by mutation id', labelNames: ['mutation'], registers });
    this.lookups = new Counter({
      name: 'canopy_enricher_lookups_total',
      help: 'Enricher look-ups: hit (answered from a cache), miss (fetched), error (could not be answered)',
      labelNames: ['enricher', 'result'],
      registers,
    });
    const totals = this.lookupTotals;
    new Gauge({
      name: 'canopy_enricher_cache_hit_ratio',
      help: 'Share of enricher look-ups answered from a cache since start',
      labelNames: ['enricher'],
      registers,
      collect() {
        for (const [enricher, { hits, all }] of totals) this.set({ enricher }, all === 0 ? 0 : hits / all);
      },
    });
    new Gauge({
      name: 'canopy_bundle_info',
      help: 'The active policy set: 1 for its revision and source (bundle or directory)',
      labelNames: ['revision', 'source'],
      registers,
      collect() {
        this.reset();
        const state = policySet();
        if (state.revision) this.set({ revision: state.revision, source: state.source }, 1);
      },
    });
    new Gauge({
      name: 'canopy_bundle_staleness_seconds',
      help: 'Seconds since the bundle store last confirmed that the active bundle is current (0 for a policy directory, which is watched)',
      registers,
      collect() {
        const state = policySet();
        this.set(state.source === 'bundle' ? (state.stalenessSeconds ?? Number.POSITIVE_INFINITY) : 0);
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
  }

  /** One answered validating request. */
  validated(decision: Decision, seconds: number): void {
    const label = validationLabel(decision);
    this.requests.inc({ webhook: 'validate', decision: label });
    this.duration.observe({ webhook: 'validate', decision: label }, seconds);
    for (const hit of decision.denials) this.denials.inc({ policy: hit.id });
    for (const hit of [...decision.denials, ...decision.warnings, ...decision.audits]) {
      if (hit.error) this.evaluationErrors.inc({ policy: hit.id });
    }
  }

  /** One answered mutating request. */
  mutated(decision: MutationDecision, seconds: number): void {
    const label = mutationLabel(decision);
    this.requests.inc({ webhook: 'mutate', decision: label });
    this.duration.observe({ webhook: 'mutate', decision: label }, seconds);
    for (const id of decision.applied) this.mutations.inc({ mutation: id });
    for (const skipped of decision.skipped) this.evaluationErrors.inc({ policy: skipped.id });
  }

  /** A request refused before judging (HTTP 4xx: not an AdmissionReview, too large). */
  invalid(webhook: Webhook, seconds: number): void {
    this.requests.inc({ webhook, decision: 'invalid' });
    this.duration.observe({ webhook, decision: 'invalid' }, seconds);
  }

  /** Counts enricher look-ups; hand this to the fleet context and the image enricher. */
  readonly lookup: LookupObserver = (enricher, result: LookupResult) => {
    this.lookups.inc({ enricher, result });
    const totals = this.lookupTotals.get(enricher) ?? { hits: 0, all: 0 };
    totals.all += 1;
    if (result === 'hit') totals.hits += 1;
    this.lookupTotals.set(enricher, totals);
  };

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
