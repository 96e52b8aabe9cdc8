// What a policy set knows of its declared facts, and what one request gets from them.
import type { CedarValueJson } from '../../cedar/index.js';
import type { FactDeclaration } from './declarations.js';

/** The declared facts (policies/facts/*.yaml) of the object under admission, as Cedar values. */
export interface DeclaredFactValues {
  /** `resource.facts`: the facts this request needs that could be computed. */
  current: Record<string, CedarValueJson>;
  /** `resource.old.facts`, on UPDATE. */
  old?: Record<string, CedarValueJson>;
  /** Fact name → why it could not be computed; the policies that read it fail closed. */
  failures: Record<string, string>;
}

/** A policy set's declared facts: the declarations, and which policies read which of them. */
export interface DeclaredFacts {
  declarations: readonly FactDeclaration[];
  /** Policy (or mutation) id → the names of the facts it reads. */
  reads: Readonly<Record<string, readonly string[]>>;
  /**
   * The policies (and mutations) that read facts of another entity than the resource itself
   * (`resource.old.facts`): only for them are the facts of the object before an UPDATE computed.
   * Absent (sets built before it existed) means every policy.
   */
  readsOld?: readonly string[];
}
