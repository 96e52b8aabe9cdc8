// The contract every built-in mutator keeps.
import type { JsonRecord } from '../../../kubernetes/objects/index.js';
import type { Write } from '../writes.js';
import { CanopyError } from '../../../operations/errors/index.js';

/** The object being mutated, with the kind that says where its pod spec is. */
export interface MutationTarget {
  object: JsonRecord;
  group: string;
  kind: string;
  operation: 'CREATE' | 'UPDATE';
}

/** A Pod's spec is immutable once created, but for a few fields (labels, images): no mutator may write it then. */
export function isPodUpdate(target: MutationTarget): boolean {
  return target.operation === 'UPDATE' && target.group === '' && target.kind === 'Pod';
}

/** A write two mutations must not disagree on, known before any request arrives. */
export interface StaticWrite {
  key: string;
  value: unknown;
}

export interface Mutator<Params> {
  name: string;
  /** One line for `policies/README.md`-style help and error messages. */
  summary: string;
  /**
   * Checks params and returns them typed, or throws with what is wrong. At load time `templated` leaves
   * (strings holding `{{ }}`) are accepted where a value may come from a template.
   */
  parse(params: unknown, options: { templated: boolean }): Params;
  /** The writes that make the object what the params say; none when it already is. */
  writes(target: MutationTarget, params: Params): Write[];
  /** Writes known from literal params alone, for load-time conflict detection. */
  staticWrites(params: Params): StaticWrite[];
}

export class MutatorParamsError extends CanopyError {
  constructor(message: string) {
    super('mutator-params', message);
  }
}
