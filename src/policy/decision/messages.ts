// The words a kubectl user reads: the denial message and the warnings.
import { renderTemplates, type TemplateRoots } from '../templates/index.js';
import type { Decision, PolicyHit } from './decide.js';
import { messageOf } from '../../operations/errors/index.js';

function describeHit(hit: PolicyHit): string {
  if (hit.error) {
    return `[${hit.id}] could not be evaluated (${hit.error}), so Canopy fails closed. ${hit.advice}`;
  }
  return `[${hit.id}] ${hit.advice}`;
}

/** Advice written without a closing full stop still ends as a sentence, so denials join as prose. */
const asSentence = (text: string): string => (/[.!?]$/.test(text.trimEnd()) ? text.trimEnd() : `${text.trimEnd()}.`);

/** One message for every denial: `[a] Advice of a. [b] Advice of b.`, each policy a sentence. */
export function denialMessage(decision: Decision): string {
  if (decision.failure) {
    return `Canopy denied this request because its policies could not be evaluated (fail closed): ${decision.failure}`;
  }
  return `Canopy denied this request: ${decision.denials.map((hit) => asSentence(describeHit(hit))).join(' ')}`;
}

export function warningMessages(decision: Decision): string[] {
  return decision.warnings.map(describeHit);
}

/**
 * Renders {{ }} templates in the advice of each policy that decided, so a denial can say which class,
 * which cluster and what would be allowed. Advice that cannot be rendered is shown as written, with
 * the reason: a message must never be lost to a template error. The context is built only for advice
 * that has a template (most decisions have none).
 */
export function renderAdvice(decision: Decision, contextOf: () => TemplateRoots): Decision {
  let context: TemplateRoots | undefined;
  const render = (hit: PolicyHit): PolicyHit => {
    if (!hit.advice.includes('{{')) return hit;
    try {
      context ??= contextOf();
      return { ...hit, advice: String(renderTemplates(hit.advice, context)) };
    } catch (error) {
      return { ...hit, advice: `${hit.advice} (advice could not be filled in: ${messageOf(error)})` };
    }
  };
  if (decision.denials.length + decision.warnings.length + decision.audits.length === 0) return decision;
  return { ...decision, denials: decision.denials.map(render), warnings: decision.warnings.map(render), audits: decision.audits.map(render) };
}
