// Declared facts: what policy authors make Cedar see, declared with CEL in policies/facts/*.yaml. CEL to
// see, Cedar to decide: each fact becomes a typed, optional attribute `resource.facts.NAME`.
import type { PolicyJson } from '../../policy/cedar/index.js';
import type { DeclaredFacts } from './types.js';

export type { ClusterInventory, DeclaredFacts, DeclaredFactValues, IngressRecord } from './types.js';
import type { FactDeclaration, FactProblem } from './declarations.js';
import { appliesTo, readFactDeclarations, type FactFile } from './declarations.js';
import { factsReadBeyondResource, factsReadBy } from './reads.js';
import { withDeclaredFacts } from './schema.js';

export { COST_BUDGET, CEL_VARIABLES, MAX_COMPREHENSION_NESTING, compileExpression, toCel, CelError } from './cel.js';
export { computeFacts, declarationsFor, type FactInputs } from './compute.js';
export { appliesTo, FACT_TYPES, readFactDeclarations, type FactDeclaration, type FactFile, type FactProblem, type FactType } from './declarations.js';
export { factsReadBeyondResource, factsReadBy } from './reads.js';
export { FACT_ENTITY_TYPES, FACTS_ATTRIBUTE, withDeclaredFacts } from './schema.js';
export { cedarValueOf } from './values.js';

/** Reads the declarations and works out the effective schema; problems are returned, never thrown. */
export function declareFacts(
  files: readonly FactFile[],
  schemaJson: unknown,
  policies: ReadonlyMap<string, PolicyJson>,
): { facts: DeclaredFacts; schema?: Record<string, unknown>; problems: FactProblem[]; schemaProblem?: string } {
  const { declarations, problems } = readFactDeclarations(files);
  const reads: Record<string, readonly string[]> = {};
  const oldReads: Record<string, readonly string[] | 'all'> = {};
  for (const [id, json] of policies) {
    const names = factsReadBy(json);
    if (names.length > 0) reads[id] = names;
    const old = factsReadBeyondResource(json);
    if (old === 'all' || old.length > 0) oldReads[id] = old;
  }
  const facts = { declarations, reads, oldReads };
  const injected = withDeclaredFacts(schemaJson, declarations);
  if ('problem' in injected) return { facts, problems, schemaProblem: injected.problem };
  return { facts, schema: injected.schema, problems };
}

/** The facts to compute for the object before an UPDATE: those `policyIds` read on it ('all': every needed one). */
export function oldFactsNeeded(facts: DeclaredFacts, policyIds: Iterable<string>): ReadonlySet<string> | 'all' {
  const names = new Set<string>();
  for (const id of policyIds) {
    const read = facts.oldReads[id];
    if (read === 'all') return 'all';
    for (const name of read ?? []) names.add(name);
  }
  return names;
}

/** The declarations a request needs: read by one of `policyIds` (those that can apply) and computed for its kind. */
export function neededFacts(facts: DeclaredFacts, policyIds: Iterable<string>, group: string, kind: string): FactDeclaration[] {
  const read = new Set<string>();
  for (const id of policyIds) for (const name of facts.reads[id] ?? []) read.add(name);
  if (read.size === 0) return [];
  return facts.declarations.filter((declaration) => read.has(declaration.name) && appliesTo(declaration, group, kind));
}

/**
 * The evaluation errors of the policies that read a fact that could not be computed: each counts as
 * matched, as a Cedar evaluation error does (enforce denies, naming the fact; @onError("skip") opts out).
 */
export function factFailureErrors(facts: DeclaredFacts, policyIds: Iterable<string>, failures: Readonly<Record<string, string>>): { policyId: string; message: string }[] {
  const errors: { policyId: string; message: string }[] = [];
  if (Object.keys(failures).length === 0) return errors;
  for (const id of policyIds) {
    const failed = (facts.reads[id] ?? []).filter((name) => failures[name] !== undefined);
    if (failed.length === 0) continue;
    errors.push({ policyId: id, message: failed.map((name) => `fact "${name}" could not be computed: ${failures[name]}`).join('; ') });
  }
  return errors;
}
