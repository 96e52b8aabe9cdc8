// The CEL that declared facts are written in: the Kubernetes dialect as ValidatingAdmissionPolicy users
// know it, evaluated by @marcbachmann/cel-js (pinned: the cost budget below relies on how it expands
// macros, and test/declared-facts.test.ts fails if that changes). Expressions are parsed and
// type-checked once, when a policy set loads; evaluation is bounded three ways:
// - structure, at load: the size and depth of the expression, and comprehensions nested at most
//   MAX_COMPREHENSION_NESTING deep;
// - regular expressions run on RE2 (re2js), linear in the input, never JavaScript's backtracking
//   RegExp, and must be literals, compiled at load;
// - a cost budget per evaluation, at run time: every element a comprehension (all, exists, map,
//   filter, ...) visits costs one, and past COST_BUDGET the fact cannot be computed.
import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { RE2JS } from 're2js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

/** Like Kubernetes' per-expression CEL cost limit: work beyond this many comprehension steps is refused. */
export const COST_BUDGET = 1_000_000;
export const MAX_COMPREHENSION_NESTING = 2;
const MACROS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
const REGEX_FUNCTIONS = new Set(['matches', 'find', 'findAll']);

/** The variables a fact's expression can read (ValidatingAdmissionPolicy's names where they overlap). */
export const CEL_VARIABLES = ['object', 'oldObject', 'request', 'namespaceObject', 'params', 'podSpec', 'containers', 'inventory'] as const;
export type CelVariables = Record<(typeof CEL_VARIABLES)[number], unknown>;

/** A CEL problem, with the offset in the expression where it is (when the library says). */
export class CelError extends CanopyError {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super('cel', message);
  }
}

const regexes = new Map<string, RE2JS>();
function re2(pattern: string): RE2JS {
  let compiled = regexes.get(pattern);
  if (!compiled) {
    compiled = RE2JS.compile(pattern);
    regexes.set(pattern, compiled);
  }
  return compiled;
}

function makeEnvironment(): Environment {
  let environment = new Environment({
    enableOptionalTypes: true, // object.?spec.?replicas.orValue(1)
    homogeneousAggregateLiterals: false, // [1, 'a'] is list(dyn), as in Kubernetes
    unlistedVariablesAreDyn: false, // an unknown variable is a load error
    limits: { maxAstNodes: 2000, maxDepth: 50 },
  });
  for (const name of CEL_VARIABLES) environment = environment.registerVariable(name, name === 'containers' ? 'list<dyn>' : 'dyn');
  return environment
    .registerFunction('string.re2Matches(string): bool', (text: string, pattern: string) => re2(pattern).matcher(text).find())
    .registerFunction('string.find(string): string', (text: string, pattern: string) => {
      const matcher = re2(pattern).matcher(text);
      return matcher.find() ? (matcher.group() ?? '') : '';
    })
    .registerFunction('string.findAll(string): list<string>', (text: string, pattern: string) => {
      const matcher = re2(pattern).matcher(text);
      const found: string[] = [];
      while (matcher.find()) found.push(matcher.group() ?? '');
      return found;
    })
    .registerFunction('string.replace(string, string): string', (text: string, from: string, to: string) => text.replaceAll(from, to))
    // Kubernetes' list library: one level of nesting removed, as in `containers.map(c, c.ports).flatten()`,
    // sums, extremes, positions and order.
    .registerFunction('list.flatten(): list', (list: unknown[]) => list.flatMap((item) => (Array.isArray(item) ? (item as unknown[]) : [item])))
    .registerFunction('list<int>.sum(): int', (list: bigint[]) => list.reduce((total, item) => total + item, 0n))
    .registerFunction('list<double>.sum(): double', (list: number[]) => list.reduce((total, item) => total + item, 0))
    .registerFunction('list<int>.min(): int', (list: bigint[]) => extreme(list, (a, b) => a < b))
    .registerFunction('list<int>.max(): int', (list: bigint[]) => extreme(list, (a, b) => a > b))
    .registerFunction('list<string>.min(): string', (list: string[]) => extreme(list, (a, b) => a < b))
    .registerFunction('list<string>.max(): string', (list: string[]) => extreme(list, (a, b) => a > b))
    .registerFunction('list.indexOf(dyn): int', (list: unknown[], item: unknown) => BigInt(list.indexOf(item)))
    .registerFunction('list.lastIndexOf(dyn): int', (list: unknown[], item: unknown) => BigInt(list.lastIndexOf(item)))
    .registerFunction('list<int>.isSorted(): bool', (list: bigint[]) => list.every((item, index) => index === 0 || (list[index - 1] as bigint) <= item))
    .registerFunction('list<string>.isSorted(): bool', (list: string[]) => list.every((item, index) => index === 0 || (list[index - 1] as string) <= item))
    .registerFunction('string.charAt(int): string', (text: string, index: bigint) => text.charAt(Number(index)));
}

/** The least (or greatest) item; an empty list is an error, as in Kubernetes. */
function extreme<T>(list: readonly T[], better: (a: T, b: T) => boolean): T {
  if (list.length === 0) throw new CelError('min() and max() need a list with at least one item');
  return list.reduce((best, item) => (better(item, best) ? item : best));
}

const environment = makeEnvironment();

/** A node as the library builds it; after type checking, a comprehension carries its `handle`. */
interface Node {
  op: string;
  args: unknown;
  start: number;
  handle?: Handler;
}
type Handler = ((iterable: unknown, ...rest: unknown[]) => unknown) & { budgeted?: true };

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && typeof (value as { op?: unknown }).op === 'string';

/** Every node below `node`, with how many comprehensions enclose it. */
function walk(node: unknown, nesting: number, visit: (node: Node, nesting: number) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, nesting, visit);
    return;
  }
  if (!isNode(node)) return;
  visit(node, nesting);
  const args = node.args;
  if (node.op === 'rcall' && Array.isArray(args) && MACROS.has(args[0] as string)) {
    walk(args[1], nesting, visit); // the receiver: the list iterated over
    walk(args[2], nesting + 1, visit); // the predicate or transform, run per element
    return;
  }
  walk(args, nesting, visit);
}

/** Load-time rules: bounded nesting, literal RE2 regexes, `matches` on RE2. Throws CelError. */
function checkStructure(ast: ASTNode): void {
  walk(ast, 0, (node, nesting) => {
    if (nesting > MAX_COMPREHENSION_NESTING) {
      throw new CelError(`comprehensions (all, exists, map, filter) nest more than ${MAX_COMPREHENSION_NESTING} deep: the cost would grow with the size of the object to that power`, node.start);
    }
    const args = node.args;
    if (node.op !== 'rcall' || !Array.isArray(args) || !REGEX_FUNCTIONS.has(args[0] as string)) return;
    const pattern = (args[2] as unknown[] | undefined)?.[0];
    if (!isNode(pattern) || pattern.op !== 'value' || typeof pattern.args !== 'string') {
      throw new CelError(`the regular expression of ${String(args[0])}() must be a string literal, so it is compiled and checked once`, node.start);
    }
    try {
      re2(pattern.args);
    } catch (error) {
      throw new CelError(`${String(args[0])}(): not a valid RE2 regular expression: ${messageOf(error)}`, pattern.start);
    }
    // JavaScript's RegExp backtracks (a crafted label could hold the event loop for seconds): RE2 instead.
    if (args[0] === 'matches') args[0] = 're2Matches';
  });
}

let budget = COST_BUDGET;

/** Charges the cost budget for each element every comprehension visits (installed after type checking). */
function instrument(node: unknown, seen: Set<unknown>): void {
  if (typeof node !== 'object' || node === null || seen.has(node)) return;
  seen.add(node);
  if (Array.isArray(node)) {
    for (const item of node) instrument(item, seen);
    return;
  }
  const candidate = node as Partial<Node>;
  if (candidate.op === 'comprehension' && typeof candidate.handle === 'function' && !candidate.handle.budgeted) {
    const original = candidate.handle;
    const charged: Handler = function (this: unknown, iterable: unknown, ...rest: unknown[]) {
      const size = Array.isArray(iterable) ? iterable.length : iterable instanceof Map ? iterable.size : typeof iterable === 'object' && iterable !== null ? Object.keys(iterable).length : 0;
      budget -= size + 1;
      if (budget < 0) throw new CelError(`the expression exceeded its cost budget of ${COST_BUDGET} steps`);
      return original.call(this, iterable, ...rest);
    };
    charged.budgeted = true;
    candidate.handle = charged;
  }
  for (const value of Object.values(candidate)) instrument(value, seen);
  // A macro's expansion (the comprehension itself) hangs off a non-enumerable `meta`.
  const meta = (candidate as { meta?: unknown }).meta;
  if (typeof meta === 'object' && meta !== null) for (const value of Object.values(meta)) instrument(value, seen);
}

export interface CompiledExpression {
  /** The type CEL infers: bool, int, string, list<string>, list (of dyn), map, dyn, ... */
  staticType: string;
  /** The variables it reads (of CEL_VARIABLES): those that cost something to build are built only for it. */
  variables: ReadonlySet<string>;
  /** Evaluates with the given variables (from toCel). Throws CelError, or the library's evaluation error. */
  evaluate(variables: CelVariables): unknown;
}

/** Parses, checks and prepares one expression. Throws CelError with the offset of the problem. */
export function compileExpression(expression: string): CompiledExpression {
  let program;
  try {
    program = environment.parse(expression);
  } catch (error) {
    throw new CelError(firstLine(error), (error as { range?: { start: number } }).range?.start);
  }
  checkStructure(program.ast);
  const variables = new Set<string>();
  walk(program.ast, 0, (node) => {
    if (node.op === 'id' && typeof node.args === 'string' && (CEL_VARIABLES as readonly string[]).includes(node.args)) variables.add(node.args);
  });
  const checked = program.check();
  if (!checked.valid || checked.type === undefined) {
    throw new CelError(firstLine(checked.error ?? new Error('the expression does not type-check')), checked.error?.range?.start);
  }
  instrument(program.ast, new Set());
  const run = program;
  return {
    staticType: checked.type,
    variables,
    evaluate(variables) {
      budget = COST_BUDGET;
      const result: unknown = run(variables);
      // `||` and `&&` absorb an error in one operand: a spent budget still fails the whole expression.
      if (budget < 0) throw new CelError(`the expression exceeded its cost budget of ${COST_BUDGET} steps`);
      return result;
    },
  };
}

/** The library's messages carry a caret drawing on later lines: the first line says it. */
function firstLine(error: unknown): string {
  const message = messageOf(error);
  return message.split('\n')[0] ?? message;
}

/**
 * A JSON value as CEL sees Kubernetes objects: whole numbers become CEL ints (bigint), as the API
 * server's int64 fields are. Everything else is shared, not copied: a record or list is copied only
 * when a number inside it is converted, so the bulk of an object (metadata, managedFields, strings)
 * costs a walk but no allocation.
 */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      const converted = toCel(item);
      if (converted !== item && !out) out = value.slice(0, index);
      if (out) out.push(converted);
    }
    return out ?? value;
  }
  const record = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    const item = record[key];
    const converted = toCel(item);
    if (converted !== item && !out) {
      out = {};
      for (const earlier in record) {
        if (earlier === key) break;
        if (Object.hasOwn(record, earlier)) out[earlier] = record[earlier];
      }
    }
    if (out) out[key] = converted;
  }
  return out ?? record;
}
