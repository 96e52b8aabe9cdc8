// Which declared facts each policy reads, found in Cedar's JSON form of the policy (never in its text,
// where a comment or a string could look like a read): `resource.facts.NAME`, `resource.facts has
// NAME`, and the same through `resource.old`. Canopy computes only the facts the policies that can
// apply to a request read, and when one cannot be computed, it knows which policies to fail closed.
import type { PolicyJson } from '../../policy/cedar/index.js';
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

/**
 * The declared facts a policy reads on anything but the resource itself (`resource.old.facts.NAME`,
 * `resource.old.facts has NAME`): only those are computed for the object before an UPDATE. 'all' when
 * such a facts record is used whole (compared, or passed on).
 */
export function factsReadBeyondResource(policy: PolicyJson): string[] | 'all' {
  const names = new Set<string>();
  let all = false;
  const visit = (node: unknown): void => {
    if (all) return;
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (!isJson(node)) return;
    for (const operator of ['.', 'has']) {
      const access = node[operator];
      if (!isJson(access)) continue;
      const record = access['left'];
      const attr = access['attr'];
      if (isFactsRecord(record) && !holdsResource(record) && typeof attr === 'string') {
        names.add(attr);
        // Its holder (`resource.old`) is visited below through `left`; the record itself is accounted for.
        visit((record as Json)['.']);
        return;
      }
    }
    const access = node['.'];
    if (isJson(access) && access['attr'] === FACTS_ATTRIBUTE && !holdsResource(node)) {
      // A facts record of another entity, not read attribute by attribute: every fact may be needed.
      all = true;
      return;
    }
    for (const value of Object.values(node)) visit(value);
  };
  visit(policy.conditions);
  return all ? 'all' : [...names].sort();
}

/** Whether `x.facts` is the resource's own (`resource.facts`). */
function holdsResource(factsRecord: unknown): boolean {
  const holder = isJson(factsRecord) && isJson(factsRecord['.']) ? factsRecord['.']['left'] : undefined;
  return isJson(holder) && holder['Var'] === 'resource';
}
