// The messages between the evaluation pool (main thread) and its workers. Plain data only: everything
// crosses the thread boundary by structured clone. A worker's answers carry their evaluation or decision
// as JSON text, which the main thread parses: with the objects themselves structured-cloned, the event
// loop ran a mark-compact every 3-4 s at 2,500 requests/s (5-13 ms each, and the slowest requests of
// the half-load benchmark were those around them); with text, one every 7.5 s (30 s measured).
import type { PolicyKind, RequestScope } from '../policy/engine/index.js';
import type { PortablePolicySet } from '../policy/set/index.js';
import type { PortableFacts } from '../policy/translate/index.js';
import type { QuotaFacts } from '../facts/quota/facts.js';

/**
 * Quota facts the main thread derived for a request of a tenant with a budget, which a worker judges
 * with them: the usage ledger and the fleet shares are the main thread's, and so is the reservation
 * of what the decision admits. Plain data (amounts are bigints).
 */
export interface GivenQuota {
  quota: QuotaFacts | undefined;
}

export type ToWorker =
  /** Prepare a set in the worker's next slot and run the warm-up requests through it; remember up to decisionCacheSize evaluations. */
  | { type: 'load'; id: number; set: PortablePolicySet; decisionCacheSize: number }
  /**
   * A plan of the main thread's (ScopedPolicySet.plan): the group and subset of policies, and the request
   * as JSON text (cloning one string costs the main thread less than cloning the object graph).
   */
  | { type: 'evaluate'; id: number; revision: string; shape: RequestScope; mask: string; request: string; check?: string; kind: PolicyKind }
  /**
   * A whole validating decision (pipeline.ts, judgeHere): the AdmissionReview as the API server sent its
   * text, and the request's facts; for a tenant with a budget, its quota facts (`given`). Everything
   * CPU-bound about a decision then runs in the worker.
   */
  | { type: 'judge'; id: number; revision: string; review: string; facts: PortableFacts; given?: GivenQuota };

export type FromWorker =
  | { type: 'loaded'; id: number; error?: string }
  /** `evaluation`: an Evaluation as JSON text. */
  | { type: 'evaluated'; id: number; evaluation: string }
  /**
   * `decision`: a Decision as JSON text. `cache`: whether the worker's decision cache answered the
   * evaluation; absent when none was needed or the cache is off.
   */
  | { type: 'judged'; id: number; decision: string; cache?: 'hit' | 'miss'; cacheEntries: number }
  /** The worker no longer holds that revision (replaced by later loads). */
  | { type: 'unknown-revision'; id: number }
  /** Made by the pool, not sent: the worker stopped before answering. */
  | { type: 'lost'; id: number; reason: string }
  /** Made by the pool, not sent: the message could not be cloned to the worker. */
  | { type: 'unsent'; id: number; reason: string };

/** How many policy sets a worker keeps: the active one and the ones before it, for requests in flight. */
export const WORKER_SLOTS = 3;
