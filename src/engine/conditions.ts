// Deciding a policy's conditions without Cedar, where that is certain: a three-valued reading of the
// simplest Cedar expressions (attribute paths, `has`, literals, `!`, `&&`, `||`, comparisons, set tests)
// on the values the request hands Cedar. Anything else, or anything that could make Cedar report an
// error (an absent attribute, a value of another type, a path through an entity), is `undefined`:
// unknown, and Cedar decides. A policy whose conditions are known true is satisfied exactly as Cedar
// would find it (its scope already matched), so it need not be handed to Cedar; see scoped.ts.
import type { GuardedRequest } from './scope.js';

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

const primitives = (value: unknown): readonly (string | number | boolean)[] | undefined =>
  Array.isArray(value) && value.every(isPrimitive) ? value : undefined;

/** The value of an expression, or undefined when it is not certain (unsupported, or Cedar could error). */
export function valueOf(expr: unknown, request: GuardedRequest): unknown {
  if (!isJson(expr)) return undefined;
  if ('Value' in expr) {
    const literal = expr['Value'];
    return isPrimitive(literal) ? literal : undefined;
  }
  if (expr['Var'] === 'resource') return request.resource;
  if (expr['Var'] === 'context') return request.context;
  if (Array.isArray(expr['Set'])) {
    const items = expr['Set'].map((item) => valueOf(item, request));
    return items.every((item) => item !== undefined) ? items : undefined;
  }
  const binary = (operator: string): [unknown, unknown] | undefined => {
    const operands = expr[operator];
    return isJson(operands) ? [operands['left'], operands['right']] : undefined;
  };
  const access = expr['.'];
  if (isJson(access) && typeof access['attr'] === 'string') {
    const left = valueOf(access['left'], request);
    return isRecord(left) && Object.hasOwn(left, access['attr']) ? left[access['attr']] : undefined;
  }
  const has = expr['has'];
  if (isJson(has) && typeof has['attr'] === 'string') {
    const left = valueOf(has['left'], request);
    return isRecord(left) ? Object.hasOwn(left, has['attr']) : undefined;
  }
  const not = expr['!'];
  if (isJson(not)) {
    const arg = valueOf(not['arg'], request);
    return typeof arg === 'boolean' ? !arg : undefined;
  }
  for (const [operator, stop] of [['&&', false], ['||', true]] as const) {
    const operands = binary(operator);
    if (!operands) continue;
    // Left to right, as Cedar: the right operand is only read when the left does not decide.
    const left = valueOf(operands[0], request);
    if (typeof left !== 'boolean') return undefined;
    if (left === stop) return stop;
    const right = valueOf(operands[1], request);
    return typeof right === 'boolean' ? right : undefined;
  }
  for (const operator of ['==', '!=']) {
    const operands = binary(operator);
    if (!operands) continue;
    const same = equal(valueOf(operands[0], request), valueOf(operands[1], request));
    return same === undefined ? undefined : operator === '==' ? same : !same;
  }
  for (const operator of ['<', '<=', '>', '>=']) {
    const operands = binary(operator);
    if (!operands) continue;
    const [a, b] = [valueOf(operands[0], request), valueOf(operands[1], request)];
    if (typeof a !== 'number' || typeof b !== 'number') return undefined;
    return operator === '<' ? a < b : operator === '<=' ? a <= b : operator === '>' ? a > b : a >= b;
  }
  const isEmpty = expr['isEmpty'];
  if (isJson(isEmpty)) {
    const set = valueOf(isEmpty['arg'], request);
    return Array.isArray(set) ? set.length === 0 : undefined;
  }
  for (const operator of ['contains', 'containsAll', 'containsAny']) {
    const operands = binary(operator);
    if (!operands) continue;
    const set = primitives(valueOf(operands[0], request));
    const other = valueOf(operands[1], request);
    if (!set) return undefined;
    if (operator === 'contains') return isPrimitive(other) ? set.includes(other) : undefined;
    const items = primitives(other);
    if (!items) return undefined;
    return operator === 'containsAll' ? items.every((item) => set.includes(item)) : items.some((item) => set.includes(item));
  }
  return undefined;
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
