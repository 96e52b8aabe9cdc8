// Deciding a policy's conditions without Cedar, where that is certain: a three-valued reading of the
// simplest Cedar expressions (attribute paths, `has`, tags, literals, `!`, `&&`, `||`, comparisons, set
// tests) on the values the request hands Cedar, following a reference to an entity the request carries
// (the resource's old version) into its attributes. Anything else, or anything that could make Cedar
// report an error (an absent attribute, a value of another type, an entity the request does not carry),
// is `undefined`: unknown, and Cedar decides. A policy whose conditions are known true is satisfied
// exactly as Cedar would find it (its scope already matched), so it need not be handed to Cedar; see
// scoped-policy-set.ts.
import type { GuardedRequest } from './policy-scope.js';

type Json = Record<string, unknown>;
/** A Cedar value as the request writes it: a primitive, a set (array) or a record; entities are opaque. */
type Value = string | number | boolean | readonly Value[] | { readonly [key: string]: Value };

const isJson = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
/** A record Cedar can read attributes of: not an entity reference, not an extension value. */
const isRecord = (value: unknown): value is Json => isJson(value) && !('__entity' in value) && !('__extn' in value);
const isPrimitive = (value: unknown): value is string | number | boolean => typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/** Primitive equality, or for sets of primitives set equality; undefined where Cedar's rules are not this simple. */
function equal(a: unknown, b: unknown): boolean | undefined {
  if (isPrimitive(a) && isPrimitive(b)) return typeof a === typeof b ? a === b : undefined;
  if (Array.isArray(a) && Array.isArray(b) && a.every(isPrimitive) && b.every(isPrimitive)) {
    return a.every((x) => b.includes(x)) && b.every((x) => a.includes(x));
  }
  return undefined;
}

/** The entity of the request that a reference (`{__entity: {type, id}}`) names, when the request carries it. */
function entityOf(value: unknown, request: GuardedRequest): { uid: unknown; attrs?: unknown; tags?: unknown } | undefined {
  if (!isJson(value) || !request.entities) return undefined;
  const ref = value['__entity'];
  if (!isJson(ref) || typeof ref['type'] !== 'string' || typeof ref['id'] !== 'string') return undefined;
  for (const entity of request.entities) {
    const uid = entity.uid;
    if (isJson(uid) && uid['type'] === ref['type'] && uid['id'] === ref['id']) return entity;
  }
  return undefined;
}

/**
 * What `.` and `has` read attributes of: a record, or the attributes of the entity a reference names
 * when the request carries it (Cedar reads the same; one it does not carry would be Cedar's error).
 */
function recordOf(value: unknown, request: GuardedRequest): Json | undefined {
  if (isRecord(value)) return value;
  const attrs = entityOf(value, request)?.attrs;
  return isRecord(attrs) ? attrs : undefined;
}

/**
 * The tags of the entity an expression denotes (`resource`, or a reference such as `resource.old`) when
 * the request carries it: an entity written without tags has none. Undefined when not certain.
 */
function tagsOf(expr: unknown, request: GuardedRequest): Json | undefined {
  const entity = isJson(expr) && expr['Var'] === 'resource' ? request.resourceEntity : entityOf(valueOf(expr, request), request);
  if (!entity) return undefined;
  if (entity.tags === undefined) return {};
  return isRecord(entity.tags) ? entity.tags : undefined;
}

const primitives = (value: unknown): readonly (string | number | boolean)[] | undefined =>
  Array.isArray(value) && value.every(isPrimitive) ? value : undefined;

/** The operands of a binary operator's node (`{left, right}`), or undefined when it is not that shape. */
function operandsOf(node: unknown): [unknown, unknown] | undefined {
  return isJson(node) ? [node['left'], node['right']] : undefined;
}

/**
 * The value of an expression, or undefined when it is not certain (unsupported, or Cedar could error).
 * Cedar's JSON form gives each node exactly one key, its operator: the switch on it reads that key once
 * (this runs for every condition of every policy that can apply, on every request).
 */
export function valueOf(expr: unknown, request: GuardedRequest): unknown {
  if (!isJson(expr)) return undefined;
  let operator: string | undefined;
  for (const key in expr) {
    if (operator !== undefined) return undefined;
    operator = key;
  }
  if (operator === undefined) return undefined;
  const node = expr[operator];
  switch (operator) {
    case 'Value':
      return isPrimitive(node) ? node : undefined;
    case 'Var':
      return node === 'resource' ? request.resource : node === 'context' ? request.context : undefined;
    case 'Set': {
      if (!Array.isArray(node)) return undefined;
      const items = node.map((item) => valueOf(item, request));
      return items.every((item) => item !== undefined) ? items : undefined;
    }
    case '.': {
      if (!isJson(node) || typeof node['attr'] !== 'string') return undefined;
      const left = recordOf(valueOf(node['left'], request), request);
      return left && Object.hasOwn(left, node['attr']) ? left[node['attr']] : undefined;
    }
    case 'has': {
      if (!isJson(node) || typeof node['attr'] !== 'string') return undefined;
      const left = recordOf(valueOf(node['left'], request), request);
      return left ? Object.hasOwn(left, node['attr']) : undefined;
    }
    case '!': {
      if (!isJson(node)) return undefined;
      const arg = valueOf(node['arg'], request);
      return typeof arg === 'boolean' ? !arg : undefined;
    }
    case '&&':
    case '||': {
      const operands = operandsOf(node);
      if (!operands) return undefined;
      // Left to right, as Cedar: the right operand is only read when the left does not decide.
      const stop = operator === '||';
      const left = valueOf(operands[0], request);
      if (typeof left !== 'boolean') return undefined;
      if (left === stop) return stop;
      const right = valueOf(operands[1], request);
      return typeof right === 'boolean' ? right : undefined;
    }
    case '==':
    case '!=': {
      const operands = operandsOf(node);
      if (!operands) return undefined;
      const same = equal(valueOf(operands[0], request), valueOf(operands[1], request));
      return same === undefined ? undefined : operator === '==' ? same : !same;
    }
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const operands = operandsOf(node);
      if (!operands) return undefined;
      const a = valueOf(operands[0], request);
      const b = valueOf(operands[1], request);
      if (typeof a !== 'number' || typeof b !== 'number') return undefined;
      return operator === '<' ? a < b : operator === '<=' ? a <= b : operator === '>' ? a > b : a >= b;
    }
    case 'hasTag':
    case 'getTag': {
      // Labels are tags: the policies platform teams write most often read them.
      const operands = operandsOf(node);
      if (!operands) return undefined;
      const tags = tagsOf(operands[0], request);
      const key = valueOf(operands[1], request);
      if (!tags || typeof key !== 'string') return undefined;
      if (operator === 'hasTag') return Object.hasOwn(tags, key);
      // A tag that is not there is Cedar's error.
      return Object.hasOwn(tags, key) ? tags[key] : undefined;
    }
    case 'isEmpty': {
      if (!isJson(node)) return undefined;
      const set = valueOf(node['arg'], request);
      return Array.isArray(set) ? set.length === 0 : undefined;
    }
    case 'contains':
    case 'containsAll':
    case 'containsAny': {
      const operands = operandsOf(node);
      if (!operands) return undefined;
      const set = primitives(valueOf(operands[0], request));
      const other = valueOf(operands[1], request);
      if (!set) return undefined;
      if (operator === 'contains') return isPrimitive(other) ? set.includes(other) : undefined;
      const items = primitives(other);
      if (!items) return undefined;
      return operator === 'containsAll' ? items.every((item) => set.includes(item)) : items.some((item) => set.includes(item));
    }
    default:
      return undefined;
  }
}

/**
 * Whether a policy's conditions all hold (every `when` true, every `unless` false), read in order as
 * Cedar reads them: false at the first clause that is known not to hold, true when every clause is
 * known to hold, undefined as soon as one is unknown before that (it could be Cedar's error).
 */
export function conditionsHold(conditions: ReadonlyArray<{ kind: string; body: unknown }>, request: GuardedRequest): boolean | undefined {
  for (const condition of conditions) {
    const value = valueOf(condition.body, request);
    if (typeof value !== 'boolean') return undefined;
    if (value !== (condition.kind === 'when')) return false;
  }
  return true;
}

export type { Value };
