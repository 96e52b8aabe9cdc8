// Which declared facts each policy reads, found in Cedar's JSON form of the policy (never in its text,
// where a comment or a string could look like a read): `resource.facts.NAME`, `resource.facts has
// NAME`, and the same through `resource.old`. Canopy computes only the facts the policies that can
// apply to a request read, and when one cannot be computed, it knows which policies to fail closed.
import type { PolicyJson } from '../../cedar/index.js';
import { FACTS_ATTRIBUTE } from './schema.js';

type Json = Record<string, unknown>;
const isJson = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `x.facts` in Cedar's JSON expression form: `{".": {left: x, attr: "facts"}}`. */
const isFactsRecord = (node: unknown): boolean => isJson(node) && isJson(node['.']) && node['.']['attr'] === FACTS_ATTRIBUTE;

function collect(node: unknown, into: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) collect(item, into);
    return;
  }
  if (!isJson(node)) return;
  for (const operator of ['.', 'has']) {
    const access = node[operator];
    if (isJson(access) && isFactsRecord(access['left']) && typeof access['attr'] === 'string') into.add(access['attr']);
  }
  for (const value of Object.values(node)) collect(value, into);
}

/** The names of the declared facts a policy reads (on the resource, its old version, or any entity). */
export function factsReadBy(policy: PolicyJson): string[] {
  const names = new Set<string>();
  collect(policy.conditions, names);
  return [...names].sort();
}

/** Whether a policy reads declared facts on anything but the resource itself (`resource.old.facts`, …). */
export function readsFactsBeyondResource(policy: PolicyJson): boolean {
  let beyond = false;
  const visit = (node: unknown): void => {
    if (beyond) return;
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (!isJson(node)) return;
    const access = node['.'];
    if (isJson(access) && access['attr'] === FACTS_ATTRIBUTE) {
      const holder = access['left'];
      if (!isJson(holder) || holder['Var'] !== 'resource') beyond = true;
    }
    for (const value of Object.values(node)) visit(value);
  };
  visit(policy.conditions);
  return beyond;
}
