// A checked policy set as it crosses to a worker thread: plain data, by structured clone. Everything
// in a CheckedPolicySet is data but the declared facts' compiled CEL (closures), which the receiving
// thread compiles again from the expression text, as the loading thread did.
import { compileExpression, type FactDeclaration } from '../../facts/declared/index.js';
import type { CheckedPolicySet } from './compile.js';

type PortableDeclaration = Omit<FactDeclaration, 'expression'>;

export interface PortablePolicySet extends Omit<CheckedPolicySet, 'facts'> {
  facts: Omit<CheckedPolicySet['facts'], 'declarations'> & { declarations: readonly PortableDeclaration[] };
}

export function portablePolicySet(set: CheckedPolicySet): PortablePolicySet {
  const declarations = set.facts.declarations.map(({ expression: _compiled, ...declaration }) => declaration);
  return {
    revision: set.revision,
    schemaText: set.schemaText,
    facts: { reads: set.facts.reads, oldReads: set.facts.oldReads, declarations },
    policies: set.policies,
    warnings: set.warnings,
    texts: set.texts,
    mutations: set.mutations,
    mutationTexts: set.mutationTexts,
    scopes: set.scopes,
    mutationScopes: set.mutationScopes,
    data: set.data,
    ...(set.sovereignty ? { sovereignty: set.sovereignty } : {}),
    quota: set.quota,
    ...(set.supplyChain ? { supplyChain: set.supplyChain } : {}),
    ...(set.podSecurity ? { podSecurity: set.podSecurity } : {}),
    packs: set.packs,
  };
}

/** The set again, its CEL compiled in this thread. Throws CelError if an expression no longer compiles (it compiled where the set was checked). */
export function revivedPolicySet(portable: PortablePolicySet): CheckedPolicySet {
  const declarations = portable.facts.declarations.map((declaration) => ({ ...declaration, expression: compileExpression(declaration.cel) }));
  return { ...portable, facts: { ...portable.facts, declarations } };
}
