// Policy data and `canopy serve`'s config are declared once, as TypeBox schemas (JSON Schema, with the
// TypeScript types derived from them): this file turns what TypeBox finds wrong with a value into
// sentences a platform engineer can act on. Each problem names the JSON path of the bad value and what
// was expected there; `errorMessage` on a schema (a keyword editors that read JSON Schema also show)
// says what is expected in words, and is derived from the schema where it is absent.
import type { TSchema } from 'typebox';
import { Settings } from 'typebox/system';
import { Value } from 'typebox/value';
import { isRecord } from '../kubernetes/objects/json.js';

export interface SchemaProblem {
  /** `value`: a value of the wrong shape; `unknown`: keys the schema does not name; `required`: keys that are missing. */
  kind: 'value' | 'unknown' | 'required';
  /** The JSON path of the value at fault, `budgets.tenants.a.cpu`, `registries[0]`; '' for the root. */
  path: string;
  /** What was expected, as the end of a sentence: `must be a whole number from 0 to 65535`. */
  expected: string;
  /** The value at fault (for `value` problems). */
  value: unknown;
  /** A secret (the schema says `writeOnly`): never repeated in a message. */
  secret: boolean;
  /** The value had to be one of a closed list of words: a message names the one it got. */
  closedList: boolean;
  /** For `unknown` and `required`: the keys; for `unknown`, also the keys the map takes. */
  keys: string[];
  allowed: string[];
  /** For `required`: each key's description in the schema, if it has one (`owner`: who answers for it). */
  hints: (string | undefined)[];
}

type Node = Record<string, unknown>;

/** One step down a schema: the node reached, and whether it stands for one element of the value (a property, an item). */
interface Step {
  node: Node;
  element: boolean;
  /** A list's items or a map's values, rather than a named property. */
  anonymous: boolean;
}

/**
 * A JSON Pointer into the schema (`#/properties/tenants/patternProperties/^.*$/properties/cpu`), as
 * the chain of nodes it passes. Map patterns may hold a `/`, so a pattern is matched against the keys
 * there rather than split blindly.
 */
function schemaChain(schema: TSchema, pointer: string): Step[] {
  const segments = pointer.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const chain: Step[] = [{ node: schema as Node, element: false, anonymous: false }];
  let node = schema as Node;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] ?? '';
    const container = node[segment];
    if (segment === 'properties' || segment === 'patternProperties') {
      if (!isRecord(container)) break;
      let key = segments[i + 1] ?? '';
      let end = i + 1;
      while (!(key in container) && end + 1 < segments.length) key = `${key}/${segments[++end] ?? ''}`;
      const next = container[key];
      if (!isRecord(next)) break;
      node = next;
      i = end;
      chain.push({ node, element: true, anonymous: segment === 'patternProperties' });
    } else if (segment === 'anyOf' || segment === 'oneOf' || segment === 'allOf') {
      const next = Array.isArray(container) ? (container[Number(segments[i + 1])] as unknown) : undefined;
      if (!isRecord(next)) break;
      node = next;
      i += 1;
      chain.push({ node, element: false, anonymous: false });
    } else {
      if (!isRecord(container)) break;
      node = container;
      chain.push({ node, element: segment === 'items' || segment === 'additionalProperties', anonymous: true });
    }
  }
  return chain;
}

function pointerSegments(pointer: string): string[] {
  return pointer.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `/registries/0/host` of a value → `registries[0].host`: list indexes in brackets, map keys after dots. */
function jsonPath(value: unknown, segments: readonly string[]): string {
  let path = '';
  let node = value;
  for (const segment of segments) {
    if (Array.isArray(node)) {
      path += `[${segment}]`;
      node = node[Number(segment)] as unknown;
    } else {
      path += path === '' ? segment : `.${segment}`;
      node = isRecord(node) ? node[segment] : undefined;
    }
  }
  return path;
}

function valueAt(value: unknown, segments: readonly string[]): unknown {
  let node = value;
  for (const segment of segments) node = Array.isArray(node) ? (node[Number(segment)] as unknown) : isRecord(node) ? node[segment] : undefined;
  return node;
}

const typeOf = (node: Node): string | undefined => (typeof node['type'] === 'string' ? node['type'] : undefined);
const isMap = (node: Node): boolean => typeOf(node) === 'object' && isRecord(node['patternProperties']);

/** The words of a closed list (`enum`, or a union of string literals), or undefined for any other schema. */
function closedWords(node: Node): string[] | undefined {
  if (Array.isArray(node['enum'])) return node['enum'].map(String);
  if (node['const'] !== undefined) return [String(node['const'])];
  const anyOf = node['anyOf'];
  if (Array.isArray(anyOf) && anyOf.every((branch) => isRecord(branch) && branch['const'] !== undefined)) return anyOf.map((branch) => String((branch as Node)['const']));
  return undefined;
}

function wholeNumber(node: Node): string {
  const min = typeof node['minimum'] === 'number' ? node['minimum'] : undefined;
  const max = typeof node['maximum'] === 'number' ? node['maximum'] : undefined;
  if (min !== undefined && max !== undefined) return `a whole number from ${min} to ${max}`;
  if (min === 1) return 'a positive whole number';
  if (min !== undefined) return `a whole number, ${min} or more`;
  return 'a whole number';
}

/** `oneOf: [{required: [name]}, {required: [labels]}]`: the keys of which a map must have exactly one. */
function exactlyOneOf(node: Node): string[] | undefined {
  const branches = node['oneOf'];
  if (!Array.isArray(branches)) return undefined;
  const keys = branches.map((branch) => (isRecord(branch) && Array.isArray(branch['required']) && branch['required'].length === 1 ? String(branch['required'][0]) : undefined));
  return keys.every((key) => key !== undefined) ? (keys as string[]) : undefined;
}

/** What a schema node asks for, in words (after `must be`, or the node's own `errorMessage`). */
export function expectedOf(node: Node, keyword = 'type'): string {
  const oneOf = keyword === 'oneOf' ? exactlyOneOf(node) : undefined;
  if (oneOf) return `must have exactly one of ${listOf(oneOf)}`;
  if (keyword === 'minItems' && typeof node['minItems'] === 'number') return node['minItems'] === 1 ? 'must not be empty' : `must have at least ${node['minItems']} items`;
  if (typeof node['errorMessage'] === 'string') return node['errorMessage'];
  const words = closedWords(node);
  if (words) return `must be one of ${words.join(', ')}`;
  return `must be ${noun(node)}`;
}

/** The node as a noun: `a list of non-empty strings`, `a map of strings`. */
function noun(node: Node): string {
  const words = closedWords(node);
  if (words) return `one of ${words.join(', ')}`;
  switch (typeOf(node)) {
    case 'integer':
      return wholeNumber(node);
    case 'number':
      return typeof node['minimum'] === 'number' ? `a number, ${node['minimum']} or more` : 'a number';
    case 'boolean':
      return 'true or false';
    case 'string':
      return node['minLength'] === 1 ? 'a non-empty string' : 'a string';
    case 'array': {
      const items = isRecord(node['items']) ? node['items'] : {};
      return scalar(items) ? `a list of ${plural(noun(items))}` : 'a list';
    }
    case 'object': {
      if (!isMap(node)) return 'a map';
      const values = Object.values(node['patternProperties'] as Node)[0];
      return isRecord(values) && scalar(values) ? `a map of ${plural(noun(values))}` : 'a map';
    }
    default:
      return 'of another shape';
  }
}

const plural = (phrase: string): string => phrase.replace(/^an? /, '').replace(/(string|number)\b/, '$1s');
const scalar = (node: Node): boolean => ['string', 'integer', 'number', 'boolean'].includes(typeOf(node) ?? '') || closedWords(node) !== undefined;

/** Whether a schema or anything below it is a secret (`writeOnly`): then its value is never repeated. */
function holdsSecret(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(holdsSecret);
  if (!isRecord(node)) return false;
  return node['writeOnly'] === true || Object.values(node).some(holdsSecret);
}

/**
 * TypeBox stops at 8 errors by default, a guard for untrusted input; config and policy data are
 * reviewed files, and their author wants every problem at once.
 */
function everyError(schema: TSchema, value: unknown): ReturnType<typeof Value.Errors> {
  const limit = Settings.Get().maxErrors;
  Settings.Set({ maxErrors: 1000 });
  try {
    return Value.Errors(schema, value);
  } finally {
    Settings.Set({ maxErrors: limit });
  }
}

/**
 * Everything wrong with `value` for `schema`, in the order of the value's keys as the schema lists them
 * (a map's unknown keys first). An empty list means the value conforms.
 */
export function schemaProblems(schema: TSchema, value: unknown): SchemaProblem[] {
  const errors = everyError(schema, value);
  // A union reports each branch's failure, then its own: the union's is the one to explain.
  const unions = errors.filter((error) => error.keyword === 'anyOf' || error.keyword === 'oneOf').map((error) => `${error.schemaPath}/${error.keyword}/`);
  const explained = errors.filter((error) => !unions.some((prefix) => error.schemaPath.startsWith(prefix)));
  // A value of the wrong type fails other keywords too (a map's oneOf of required keys): its type says it all.
  const wrongType = new Set(explained.filter((error) => error.keyword === 'type').map((error) => error.instancePath));
  const problems: SchemaProblem[] = [];
  const seen = new Set<string>();
  for (const error of explained) {
    if (error.keyword !== 'type' && wrongType.has(error.instancePath)) continue;
    // additionalProperties: false reports each unknown key twice (as a false schema, and in a list).
    if (error.keyword === 'boolean' && error.schemaPath.endsWith('/additionalProperties')) continue;
    const segments = pointerSegments(error.instancePath);
    const chain = schemaChain(schema, error.schemaPath);
    const node = chain[chain.length - 1]?.node ?? {};
    const base = { value: undefined, secret: false, closedList: false, keys: [], allowed: [], hints: [] };
    if (error.keyword === 'additionalProperties') {
      const keys = (error.params as { additionalProperties: string[] }).additionalProperties;
      const allowed = isRecord(node['properties']) ? Object.keys(node['properties']) : [];
      problems.push({ ...base, kind: 'unknown', path: jsonPath(value, segments), expected: '', keys, allowed });
      continue;
    }
    if (error.keyword === 'required') {
      const keys = (error.params as { requiredProperties: string[] }).requiredProperties;
      const properties = isRecord(node['properties']) ? node['properties'] : {};
      const hints = keys.map((key) => {
        const property = properties[key];
        return isRecord(property) && typeof property['description'] === 'string' ? property['description'] : undefined;
      });
      problems.push({ ...base, kind: 'required', path: jsonPath(value, segments), expected: 'is required', keys, hints });
      continue;
    }
    // An item of a list, or a value of a map, that is a plain scalar is explained as part of its
    // container ("cluster.labels must be a map of strings"), unless it says what it expects itself.
    let described = node;
    let depth = segments.length;
    const last = chain[chain.length - 1];
    const parent = chain[chain.length - 2];
    if (error.keyword !== '~refine' && last?.anonymous && last.element && parent && scalar(node) && typeof node['errorMessage'] !== 'string' && closedWords(node) === undefined) {
      described = parent.node;
      depth -= 1;
    }
    const at = segments.slice(0, depth);
    const path = jsonPath(value, at);
    const expected = error.keyword === '~refine' ? (error.params as { message: string }).message : expectedOf(described, described === node ? error.keyword : 'type');
    // Two bad items of one list are one problem of the list.
    if (seen.has(`${path}\n${expected}`)) continue;
    seen.add(`${path}\n${expected}`);
    problems.push({
      ...base,
      kind: 'value',
      path,
      expected,
      value: valueAt(value, at),
      secret: chain.some((step) => step.node['writeOnly'] === true) || holdsSecret(described),
      closedList: described === node && closedWords(node) !== undefined,
    });
  }
  return problems;
}

/** `and`-joined words: `classes and residencies`, `a, b and c`. */
export function listOf(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1] ?? ''}`;
}

/**
 * Policy data's convention: `PATH must be ...`, the value named when it had to be one of a closed list
 * of words (a typo is then visible at once); unknown keys at the root list the keys the file takes.
 * `prefix` is the data file's key where one provider reads several files (`budgets`), `title` what the
 * file is called at its root (`sovereignty data`).
 */
export function dataMessage(problem: SchemaProblem, title: string, prefix = ''): string {
  const path = [prefix, problem.path].filter((part) => part !== '').join('.');
  switch (problem.kind) {
    case 'unknown': {
      const fields = `unknown field ${problem.keys.join(', ')}`;
      return path === '' ? `${fields} (${title} has ${listOf(problem.allowed)})` : `${path} has ${fields}`;
    }
    case 'required':
      return problem.keys.map((key, index) => `${path === '' ? key : `${path}.${key}`} is required${problem.hints[index] ? `: ${problem.hints[index]}` : ''}`).join('; ');
    case 'value': {
      const subject = path === '' ? title : path;
      return `${subject} ${problem.expected}${problem.closedList && !problem.secret ? `, not ${JSON.stringify(problem.value)}` : ''}`;
    }
  }
}

/** What a message may say of a value: as written when short, else its kind. */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  if (text.length <= 120) return text;
  if (Array.isArray(value)) return `a list of ${value.length}`;
  return isRecord(value) ? 'a map' : `${text.slice(0, 117)}...`;
}

/**
 * The config's convention: `KEY must be ... (got VALUE)`, and `KEY: unknown key (SECTION takes ...)`;
 * secrets are never repeated.
 */
export function configMessage(problem: SchemaProblem): string {
  switch (problem.kind) {
    case 'unknown': {
      const keys = problem.keys.map((key) => (problem.path === '' ? key : `${problem.path}.${key}`));
      return `${keys.join(', ')}: unknown key (${problem.path === '' ? 'the config' : problem.path} takes ${problem.allowed.join(', ')})`;
    }
    case 'required':
      return problem.keys.map((key) => `${problem.path === '' ? key : `${problem.path}.${key}`} is required`).join('; ');
    case 'value':
      return `${problem.path === '' ? 'the config' : problem.path} ${problem.expected}${problem.secret ? '' : ` (got ${shown(problem.value)})`}`;
  }
}

/** A schema without what only the checker reads (refinements, functions): JSON, as editors take it. */
function published(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(published);
  if (!isRecord(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) if (typeof value !== 'function') out[key] = published(value);
  // A key with a default may be left out of the file: it is required only of the value Canopy reads.
  const properties = isRecord(out['properties']) ? out['properties'] : undefined;
  if (properties && Array.isArray(out['required'])) {
    const required = out['required'].filter((key) => !(isRecord(properties[String(key)]) && 'default' in (properties[String(key)] as Node)));
    if (required.length > 0) out['required'] = required;
    else delete out['required'];
  }
  return out;
}

/**
 * The JSON Schema document published for a data file (policies/schemas/<key>.schema.json): draft-07,
 * which editors' YAML and JSON support reads (`# yaml-language-server: $schema=...`).
 */
export function schemaDocument(schema: TSchema): string {
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...(published(schema) as Node) }, null, 2)}\n`;
}
