// Evaluations remembered by a digest of everything they depend on: the policy set's revision, which of
// its sets (validating or mutations), and the Cedar request with its entities. The Cedar request holds
// facts only: no uid, resourceVersion, managedFields or timestamps ever reach it (translate/), so a
// GitOps tool re-applying an unchanged object costs a look-up here instead of an evaluation. Facts that
// change (namespace labels, quota usage, image look-ups) are in the request, so they change the digest.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Evaluation, PolicyKind } from '../policy/engine/index.js';

export const DEFAULT_DECISION_CACHE_SIZE = 10_000;

export class DecisionCache {
  private readonly entries: LRUCache<string, Evaluation & { ok: true }>;
  hits = 0;
  misses = 0;

  constructor(readonly size: number = DEFAULT_DECISION_CACHE_SIZE) {
    this.entries = new LRUCache({ max: size });
  }

  /** The key for a Cedar request given as its JSON text (the text the evaluation workers are sent). */
  keyOf(revision: string, kind: PolicyKind, requestJson: string): string {
    return createHash('sha256').update(revision).update('\0').update(kind).update('\0').update(requestJson).digest('base64');
  }

  get(key: string): Evaluation | undefined {
    const hit = this.entries.get(key);
    if (hit) this.hits += 1;
    else this.misses += 1;
    return hit;
  }

  /** Only answers are kept: a failure is worked out again next time. */
  remember(key: string, evaluation: Evaluation): void {
    if (evaluation.ok) this.entries.set(key, evaluation);
  }

  get entriesHeld(): number {
    return this.entries.size;
  }
}
