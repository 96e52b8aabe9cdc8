// The messages between the evaluation pool (main thread) and its workers. Plain data only: everything
// crosses the thread boundary by structured clone.
import type { Decision } from '../policy/decision/index.js';
import type { Evaluation, PolicyKind, RequestScope } from '../policy/engine/index.js';
import type { PortablePolicySet } from '../policy/set/index.js';
import type { PortableFacts } from '../policy/translate/index.js';

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
   * text, and the request's facts. Everything CPU-bound about a decision then runs in the worker.
   */
  | { type: 'judge'; id: number; revision: string; review: string; facts: PortableFacts };

export type FromWorker =
  | { type: 'loaded'; id: number; error?: string }
  | { type: 'evaluated'; id: number; evaluation: Evaluation }
  /** `cache`: whether the worker's decision cache answered the evaluation; absent when none was needed or the cache is off. */
  | { type: 'judged'; id: number; decision: Decision; cache?: 'hit' | 'miss'; cacheEntries: number }
  /** The worker no longer holds that revision (replaced by later loads). */
  | { type: 'unknown-revision'; id: number }
  /** Made by the pool, not sent: the worker stopped before answering. */
  | { type: 'lost'; id: number; reason: string }
  /** Made by the pool, not sent: the message could not be cloned to the worker. */
  | { type: 'unsent'; id: number; reason: string };

/** How many policy sets a worker keeps: the active one and the ones before it, for requests in flight. */
export const WORKER_SLOTS = 3;
