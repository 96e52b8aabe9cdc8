// The messages between the evaluation pool (main thread) and its workers. Plain data only: everything
// crosses the thread boundary by structured clone.
import type { CedarRequest, Evaluation, PolicyKind } from './evaluate.js';
import type { EnginePolicySet } from './scoped-policy-set.js';
import type { RequestScope } from './policy-scope.js';

export type ToWorker =
  /** Prepare a set in the worker's next slot and run the warm-up requests through it. */
  | { type: 'load'; id: number; set: EnginePolicySet; warmUp: CedarRequest[] }
  /**
   * A plan of the main thread's (ScopedPolicySet.plan): the group and subset of policies, and the request
   * as JSON text (cloning one string costs the main thread less than cloning the object graph).
   */
  | { type: 'evaluate'; id: number; revision: string; shape: RequestScope; mask: string; request: string; check?: string; kind: PolicyKind };

export type FromWorker =
  | { type: 'loaded'; id: number; error?: string }
  | { type: 'evaluated'; id: number; evaluation: Evaluation }
  /** The worker no longer holds that revision (replaced by later loads). */
  | { type: 'unknown-revision'; id: number };

/** How many policy sets a worker keeps: the active one and the ones before it, for requests in flight. */
export const WORKER_SLOTS = 3;
