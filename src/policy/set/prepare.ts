// A checked set made ready to evaluate in this thread. Apart from compile.ts (which checks sets and
// reads every provider's data) so that an evaluation worker, which only prepares sets checked
// elsewhere, does not load the data readers and their schema library.
import { createHash } from 'node:crypto';
import { ScopedPolicySet } from '../engine/index.js';
import type { CheckedPolicySet } from './compile.js';

export interface CompiledPolicySet extends CheckedPolicySet {
  /** The set as this thread's Cedar instance holds it. */
  engine: ScopedPolicySet;
  cedarSchemaName: string;
}

let preparedSets = 0;

/** The schema's name in Cedar's preparsed store: one per schema text, shared by every set that uses it. */
export function cedarSchemaNameOf(schemaText: string): string {
  return `schema-${createHash('sha256').update(schemaText).digest('hex').slice(0, 16)}`;
}

/**
 * Makes a checked set ready to evaluate in this thread's Cedar instance. Each thread (worker) that
 * evaluates must do this itself: preparsed sets live in the wasm instance's thread-local storage, and
 * Cedar has no way to free one, so a long-lived caller passes `slot` to reuse ids (preparsing again
 * under an id replaces what it held) instead of leaking sets on every reload.
 */
export function preparePolicySet(checked: CheckedPolicySet, slot?: string): CompiledPolicySet {
  preparedSets += 1;
  const cedarSchemaName = cedarSchemaNameOf(checked.schemaText);
  const engine = new ScopedPolicySet(
    {
      revision: checked.revision,
      schemaText: checked.schemaText,
      cedarSchemaName,
      texts: checked.texts,
      mutationTexts: checked.mutationTexts,
      scopes: checked.scopes,
      mutationScopes: checked.mutationScopes,
    },
    slot ?? `${checked.revision}#${preparedSets}`,
  );
  return { ...checked, engine, cedarSchemaName };
}
