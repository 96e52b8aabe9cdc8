// The words a kubectl user reads: the denial message and the warnings.
import type { Decision, PolicyHit } from './decide.js';

function describeHit(hit: PolicyHit): string {
  if (hit.error) {
    return `[${hit.id}] could not be evaluated (${hit.error}), so Canopy fails closed. ${hit.advice}`;
  }
  return `[${hit.id}] ${hit.advice}`;
}

export function denialMessage(decision: Decision): string {
  if (decision.failure) {
    return `Canopy denied this request because its policies could not be evaluated (fail closed): ${decision.failure}`;
  }
  return `Canopy denied this request: ${decision.denials.map(describeHit).join('; ')}`;
}

export function warningMessages(decision: Decision): string[] {
  return decision.warnings.map(describeHit);
}
