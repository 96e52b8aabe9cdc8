// The schema Canopy validates against: the authors' schema.cedarschema, plus a `facts` record on every
// object type (k8s::Workload, k8s::Namespace, k8s::Resource) with one optional attribute per declared
// fact. Strict validation then covers every policy that reads a fact, and refuses one that reads a
// fact nobody declared. The record is there even when no fact is declared, so policies read
// `resource.facts has NAME` the same way in every policy set.
import type { FactDeclaration } from './declarations.js';
import { schemaTypeOf } from './values.js';

export const SCHEMA_NAMESPACE = 'k8s';
export const FACT_ENTITY_TYPES = ['Workload', 'Namespace', 'Resource'] as const;
export const FACTS_ATTRIBUTE = 'facts';

type Json = Record<string, unknown>;
const isJson = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The schema (Cedar's JSON form) with the facts record added; or what stops it being added. */
export function withDeclaredFacts(schema: unknown, declarations: readonly FactDeclaration[]): { schema: Json } | { problem: string } {
  if (!isJson(schema)) return { problem: 'the schema is not a JSON object' };
  const namespace = schema[SCHEMA_NAMESPACE];
  const entityTypes = isJson(namespace) ? namespace['entityTypes'] : undefined;
  if (!isJson(namespace) || !isJson(entityTypes)) return { problem: `the schema has no namespace ${SCHEMA_NAMESPACE} with entity types` };
  const attributes: Json = {};
  for (const declaration of declarations) attributes[declaration.name] = { ...schemaTypeOf(declaration.type), required: false };
  const facts = { type: 'Record', attributes, required: true };
  const types: Json = { ...entityTypes };
  for (const name of FACT_ENTITY_TYPES) {
    const entity = types[name];
    const shape = isJson(entity) ? entity['shape'] : undefined;
    const existing = isJson(shape) ? shape['attributes'] : undefined;
    if (!isJson(entity) || !isJson(shape) || !isJson(existing)) return { problem: `the schema has no entity type ${SCHEMA_NAMESPACE}::${name} with attributes` };
    if (FACTS_ATTRIBUTE in existing) {
      return { problem: `${SCHEMA_NAMESPACE}::${name} declares "${FACTS_ATTRIBUTE}" itself: Canopy adds it from policies/facts/*.yaml, remove it from the schema` };
    }
    types[name] = { ...entity, shape: { ...shape, attributes: { ...existing, [FACTS_ATTRIBUTE]: facts } } };
  }
  return { schema: { ...schema, [SCHEMA_NAMESPACE]: { ...namespace, entityTypes: types } } };
}
