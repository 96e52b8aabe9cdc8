import { describe, expect, it } from 'vitest';
import { cedar } from '../../policy/cedar/index.js';
import { factsReadBeyondResource, factsReadBy } from './reads.js';

const policy = (when: string) => {
  const json = cedar.policyToJson(`forbid (principal, action, resource is k8s::Resource) when { ${when} };`);
  if (json.type !== 'success') throw new Error(json.errors.map((e) => e.message).join('; '));
  return json.json;
};

describe('which declared facts a policy reads', () => {
  it('finds every fact read, on the resource and on its old version', () => {
    const read = policy('resource.facts has a && resource.facts.a && resource has old && resource.old.facts has b && resource.old.facts.b == resource.facts.c');
    expect(factsReadBy(read)).toEqual(['a', 'b', 'c']);
  });

  it('names the facts read on the old object, so only those are computed for it', () => {
    expect(factsReadBeyondResource(policy('resource.facts has a && resource.facts.a'))).toEqual([]);
    expect(factsReadBeyondResource(policy('resource.facts has a && resource has old && resource.old.facts has b && resource.old.facts.b != resource.facts.a'))).toEqual(['b']);
    // A record used whole: every fact may be needed.
    expect(factsReadBeyondResource(policy('resource has old && resource.old.facts == resource.facts'))).toBe('all');
  });
});
