import { describe, expect, it } from 'vitest';
import type { Decision, PolicyHit } from './decide.js';
import { denialMessage, renderAdvice } from './messages.js';

const hit = (id: string, advice: string, error?: string): PolicyHit => ({ id, advice, severity: 'high', mode: 'enforce', ...(error ? { error } : {}) });
const denied = (...denials: PolicyHit[]): Decision => ({ allowed: false, denials, warnings: [], audits: [], revision: 'r1' });

describe('denialMessage', () => {
  it('joins several denials as sentences, one policy after the other', () => {
    const message = denialMessage(
      denied(
        hit('sovereignty.binding-region', 'Pods of data class pii may only be bound to nodes in eu-west-1; node n1 is in us-east-1, or carries no region label for binding.'),
        hit('sovereignty.jurisdiction', 'Cluster jurisdiction US is not allowed for data class pii'),
      ),
    );
    expect(message).toBe(
      'Canopy denied this request: [sovereignty.binding-region] Pods of data class pii may only be bound to nodes in eu-west-1; node n1 is in us-east-1, or carries no region label for binding. ' +
        '[sovereignty.jurisdiction] Cluster jurisdiction US is not allowed for data class pii.',
    );
    expect(message).not.toContain('.;');
  });

  it('says when a policy could not be evaluated, as its own sentence', () => {
    expect(denialMessage(denied(hit('a.b', 'Do this.', 'attribute `x` not found'), hit('c.d', 'Do that.')))).toBe(
      'Canopy denied this request: [a.b] could not be evaluated (attribute `x` not found), so Canopy fails closed. Do this. [c.d] Do that.',
    );
  });
});

describe('renderAdvice', () => {
  it('fills in templated advice, building the template context once, and not at all when no advice has a template', () => {
    let built = 0;
    const context = () => {
      built += 1;
      return { namespace: { name: 'team-a' } };
    };
    const plain = denied(hit('a.b', 'Do this.'));
    expect(renderAdvice(plain, context)).toEqual(plain);
    expect(renderAdvice({ ...plain, denials: [], allowed: true }, context).allowed).toBe(true);
    expect(built).toBe(0);
    const templated = renderAdvice(denied(hit('a.b', 'Not in {{ namespace.name }}.'), hit('c.d', 'Ask {{ namespace.name }}.'), hit('e.f', 'Plain.')), context);
    expect(templated.denials.map((h) => h.advice)).toEqual(['Not in team-a.', 'Ask team-a.', 'Plain.']);
    expect(built).toBe(1);
  });
});
