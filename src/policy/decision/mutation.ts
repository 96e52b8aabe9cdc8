// The mutating webhook's decision: what it changes, or why it denies.
import type { Operation } from 'rfc6902';

export interface MutationDecision {
  allowed: boolean;
  operations: Operation[];
  /** Mutations that changed the object, in the order they ran. */
  applied: string[];
  /** The object after the patch (the request's object when nothing applied). */
  mutated: unknown;
  /** Why the request is denied. */
  failure?: string;
  /** Mutation errors ignored because the mutation says @onError("skip"). */
  skipped: { id: string; error: string }[];
  revision: string;
}
