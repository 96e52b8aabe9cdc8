// Templates in annotations, for advice and mutations alike: `{{ namespace.labels["canopy.io/region"] }}`
// in an @advice, a @patch or @params stands for a value of the request, the object, its facts, its
// namespace or the policy data. A string that is one template and nothing else becomes the value itself
// (a map, a list, a number); a template inside other text becomes text. A leaf: it imports nothing.
import { CanopyError } from '../../operations/errors/index.js';

export const TEMPLATE_ROOTS = ['request', 'object', 'resource', 'namespace', 'cluster', 'workspace', 'sovereignty', 'quota', 'supplyChain', 'data'] as const;

/** What templates read from: a value per root (absent: the request has none), own or computed on read. */
export type TemplateRoots = { readonly [root in (typeof TEMPLATE_ROOTS)[number]]?: unknown };

// A template's path never holds a brace, so one template ends at the first "}}".
const TEMPLATE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const WHOLE_TEMPLATE = /^\s*\{\{\s*([^{}]*?)\s*\}\}\s*$/;

/** True when `text` is one template and nothing else, so it stands for a value of any type. */
export function isWholeTemplate(text: string): boolean {
  return WHOLE_TEMPLATE.test(text);
}
const SEGMENT = /^(?:\.?([A-Za-z_][A-Za-z0-9_-]*)|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[\s*'([^']*)'\s*\]|\[\s*(\d+)\s*\])/;

export class TemplateError extends CanopyError {
  constructor(message: string) {
    super('template', message);
  }
}

/** `a.b["c.d"][0]` → ["a", "b", "c.d", "0"]. */
export function parseTemplatePath(expression: string): string[] {
  const tokens: string[] = [];
  let rest = expression.trim();
  while (rest.length > 0) {
    const match = SEGMENT.exec(rest);
    if (!match || (tokens.length === 0 && !match[1])) {
      throw new TemplateError(`cannot read "{{ ${expression} }}": expected a path such as namespace.labels["team"]`);
    }
    tokens.push(match[1] ?? (match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? match[4] ?? '')));
    rest = rest.slice(match[0].length);
  }
  if (tokens.length === 0) throw new TemplateError('empty template "{{ }}"');
  const root = tokens[0] as string;
  if (!(TEMPLATE_ROOTS as readonly string[]).includes(root)) {
    throw new TemplateError(`"{{ ${expression} }}" starts with "${root}": a template starts with ${TEMPLATE_ROOTS.join(', ')}`);
  }
  return tokens;
}

function lookup(context: TemplateRoots, expression: string): unknown {
  let node: unknown = context;
  const tokens = parseTemplatePath(expression);
  for (const [index, token] of tokens.entries()) {
    const container = node as Record<string, unknown> | unknown[] | null;
    // The root is one of TEMPLATE_ROOTS (parseTemplatePath checked it), which a context may compute on
    // read; below it, only a value's own properties: never what its prototype has.
    const next =
      index === 0
        ? context[token as keyof TemplateRoots]
        : typeof container === 'object' && container !== null && Object.prototype.hasOwnProperty.call(container, token)
          ? (container as Record<string, unknown>)[token]
          : undefined;
    if (next === undefined || next === null) {
      const where = tokens.slice(0, index).join('.') || 'the template context';
      throw new TemplateError(`"{{ ${expression} }}" has no value: ${where} has no "${token}"`);
    }
    node = next;
  }
  return node;
}

/** True when any string inside `value` holds a template. */
export function hasTemplate(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('{{');
  if (Array.isArray(value)) return value.some(hasTemplate);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(hasTemplate);
  return false;
}

/** Checks every template's syntax without a context (at load time). Throws TemplateError. */
export function checkTemplates(value: unknown): void {
  if (typeof value === 'string') {
    for (const match of value.matchAll(TEMPLATE)) parseTemplatePath(match[1] ?? '');
    return;
  }
  if (Array.isArray(value)) value.forEach(checkTemplates);
  else if (typeof value === 'object' && value !== null) Object.values(value).forEach(checkTemplates);
}

/** A copy of `value` with every template replaced from `context`. Throws TemplateError. */
export function renderTemplates(value: unknown, context: TemplateRoots): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_TEMPLATE.exec(value);
    if (whole) return structuredClone(lookup(context, whole[1] ?? ''));
    return value.replace(TEMPLATE, (_text, expression: string) => {
      const found = lookup(context, expression);
      // A list of plain values reads naturally in a sentence: "eu-west-1, eu-central-1".
      if (Array.isArray(found) && found.every((item) => typeof item !== 'object' || item === null)) return found.length > 0 ? found.join(', ') : 'none';
      if (typeof found === 'object') {
        throw new TemplateError(`"{{ ${expression} }}" is a ${Array.isArray(found) ? 'list of maps' : 'map'} and cannot be part of a text`);
      }
      return String(found);
    });
  }
  if (Array.isArray(value)) return value.map((item) => renderTemplates(item, context));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renderTemplates(item, context)]));
  }
  return value;
}
