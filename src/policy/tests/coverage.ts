// Which policies a test suite exercises. Cedar reports the policies that matched, but not those that
// were considered and did not match; so each policy's scope (its head, without conditions) is
// preparsed as a set of its own, and one evaluation per case says which policies applied to it.
import { cedar, type PolicyJson } from '../cedar/index.js';
import type { CedarRequest } from '../engine/index.js';
import type { CompiledPolicySet } from '../set/index.js';

export interface PolicyCoverage {
  id: string;
  kind: 'policy' | 'mutation';
  /** Cases where the policy matched: it denied, warned, audited, or its mutation applied. */
  matched: number;
  /** Cases where its scope applied but its condition did not hold. */
  notMatched: number;
}

/**
 * The policies no case matched (denied, warned, audited or applied), by id: `canopy test --coverage`
 * fails on them, since nothing shows that such a policy catches what it is written for.
 */
export function unmatchedPolicies(coverage: readonly PolicyCoverage[]): string[] {
  return coverage.filter((entry) => entry.matched === 0).map((entry) => entry.id);
}

let scopeSets = 0;

function scopeOnly(text: string): PolicyJson | undefined {
  const json = cedar.policyToJson(text);
  return json.type === 'success' ? { ...json.json, effect: 'permit', conditions: [], annotations: {} } : undefined;
}

export class CoverageTracker {
  private readonly scopeSetId: string;
  private readonly counts = new Map<string, PolicyCoverage>();

  constructor(private readonly set: CompiledPolicySet) {
    scopeSets += 1;
    this.scopeSetId = `${set.engine.slot}/scopes#${scopeSets}`;
    const scopes: Record<string, PolicyJson> = {};
    for (const [kind, texts] of [['policy', set.texts], ['mutation', set.mutationTexts]] as const) {
      for (const [id, text] of Object.entries(texts)) {
        const scope = scopeOnly(text);
        if (scope) scopes[id] = scope;
        this.counts.set(id, { id, kind, matched: 0, notMatched: 0 });
      }
    }
    const prepared = cedar.preparsePolicySet(this.scopeSetId, { staticPolicies: scopes });
    if (prepared.type === 'failure') throw new Error(`cannot prepare policy scopes: ${prepared.errors.map((e) => e.message).join('; ')}`);
  }

  /** Records one case: `matched` are the ids that matched (denied, warned, audited, applied). */
  record(request: CedarRequest, matched: readonly string[]): void {
    const answer = cedar.statefulIsAuthorized({
      principal: request.principal,
      action: request.action,
      resource: request.resource,
      context: request.context,
      entities: request.entities,
      preparsedPolicySetId: this.scopeSetId,
      preparsedSchemaName: this.set.cedarSchemaName,
    });
    const inScope = answer.type === 'success' ? new Set(answer.response.diagnostics.reason) : new Set<string>();
    const hit = new Set(matched);
    for (const entry of this.counts.values()) {
      if (hit.has(entry.id)) entry.matched += 1;
      else if (inScope.has(entry.id)) entry.notMatched += 1;
    }
  }

  report(): PolicyCoverage[] {
    return [...this.counts.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}
