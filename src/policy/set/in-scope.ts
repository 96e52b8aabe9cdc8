// Which policies of a set can apply to a request of a given shape (action, resource type, kind, API
// group), remembered per shape: for work done before Cedar is asked, such as computing only the
// declared facts those policies read.
import { LRUCache } from 'lru-cache';
import type { CheckedPolicySet } from './compile.js';
import { inScope, type PolicyKind, type RequestScope } from '../engine/index.js';

const MAX_SHAPES = 4096;
const remembered = new WeakMap<CheckedPolicySet, LRUCache<string, readonly string[]>>();

/** The ids of the policies (or mutations) of `set` whose scope admits `request`. */
export function policiesInScope(set: CheckedPolicySet, request: RequestScope, kind: PolicyKind): readonly string[] {
  let shapes = remembered.get(set);
  if (!shapes) {
    shapes = new LRUCache({ max: MAX_SHAPES });
    remembered.set(set, shapes);
  }
  const key = `${kind}\0${request.action}\0${request.resourceType}\0${request.apiGroup}\0${request.kind}`;
  const known = shapes.get(key);
  if (known) return known;
  const scopes = kind === 'validating' ? set.scopes : set.mutationScopes;
  const ids = Object.keys(kind === 'validating' ? set.texts : set.mutationTexts).filter((id) => {
    const scope = scopes[id];
    return !scope || inScope(scope, request);
  });
  shapes.set(key, ids);
  return ids;
}
