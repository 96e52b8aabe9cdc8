// What a mutation wants, as writes of a value at a path, and how a write becomes JSON Patch operations
// against the object as it stands: `add` or `replace` by what exists, missing parent maps created, and
// nothing at all when the value is already there (so a second pass yields no patch). Also the one
// applier of those operations (RFC 6902 add, replace and remove), so that the object Canopy checks is
// the object the operations it sends produce.
import { isDeepStrictEqual } from 'node:util';
import type { Operation } from 'rfc6902';
import { CanopyError } from '../../operations/errors/index.js';

export type Write =
  /**
   * `structural` marks scaffolding that other writes fill in (an empty list of terms): the value it
   * sets is not one the mutation insists on, so later additions inside it are not conflicts.
   */
  | { kind: 'set'; tokens: string[]; value: unknown; structural?: true }
  | { kind: 'remove'; tokens: string[] }
  /** Append to the array at `tokens` unless an equal element is already in it. */
  | { kind: 'append'; tokens: string[]; value: unknown };

export class WriteError extends CanopyError {
  constructor(message: string) {
    super('mutation-write', message);
  }
}

const NEEDS_ESCAPE = /[~/]/;
const escapeToken = (token: string) => (NEEDS_ESCAPE.test(token) ? token.replace(/~/g, '~0').replace(/\//g, '~1') : token);
// "~1" first, then "~0": "~01" is "~1", not "/".
const unescapeToken = (token: string) => (token.includes('~') ? token.replace(/~1/g, '/').replace(/~0/g, '~') : token);

/** The JSON Pointer (RFC 6901) of `tokens`: "" for the whole document. */
export function pointerOf(tokens: readonly string[], length = tokens.length): string {
  if (length === 0) return '';
  const escaped = new Array<string>(length + 1);
  escaped[0] = '';
  for (let i = 0; i < length; i++) escaped[i + 1] = escapeToken(tokens[i] as string);
  return escaped.join('/');
}

/** The tokens of a JSON Pointer; throws WriteError when it is not one. */
export function tokensOf(path: string): string[] {
  if (path === '') return [];
  if (path[0] !== '/') throw new WriteError(`invalid JSON Pointer: ${path}`);
  const tokens = path.slice(1).split('/');
  if (path.includes('~')) for (let i = 0; i < tokens.length; i++) tokens[i] = unescapeToken(tokens[i] as string);
  return tokens;
}

const DIGITS = /^\d+$/;

/** The value under `token` of `node`, or undefined. */
function child(node: unknown, token: string): unknown {
  if (Array.isArray(node)) return DIGITS.test(token) ? node[Number(token)] : undefined;
  if (typeof node === 'object' && node !== null && Object.prototype.hasOwnProperty.call(node, token)) return (node as Record<string, unknown>)[token];
  return undefined;
}

/** The value at `tokens`, or undefined when any step is missing. */
export function valueAt(object: unknown, tokens: readonly string[]): unknown {
  let node = object;
  for (const token of tokens) {
    node = child(node, token);
    if (node === undefined) return undefined;
  }
  return node;
}

/** isDeepStrictEqual, without its cost for the strings and numbers most writes carry. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  return isDeepStrictEqual(a, b);
}

/** Sets an own data property, even one named "__proto__" (which assignment would take as the prototype). */
function setOwn(map: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(map, key, { value, writable: true, enumerable: true, configurable: true });
  else map[key] = value;
}

/** A deep copy of a JSON value (maps, lists, strings, numbers, booleans, null). */
export function copyJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = copyJson(value[i]);
    return copy as T;
  }
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) setOwn(copy, key, copyJson((value as Record<string, unknown>)[key]));
  return copy as T;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'a list' : `a ${typeof value}`;
}

/**
 * Receives each operation of a write with the tokens of its path (the first `length` of `tokens`), so
 * that it can be applied without reading the path back.
 */
export type OperationSink = (operation: Operation, tokens: readonly string[], length: number) => void;

/** Where the pointer `path` of the first `count` of its tokens ends (escaped tokens hold no "/"). */
function prefixEnd(path: string, count: number): number {
  let end = 0;
  for (let i = 0; i < count && end >= 0; i++) end = path.indexOf('/', end + 1);
  return end < 0 ? path.length : end;
}

/**
 * Emits, in order, the operations that make `write` true of `object`; none when it already is. All of
 * them are worked out from `object` as it is before the first is emitted, and a write that throws
 * WriteError emits nothing. Each value is a copy: nothing the mutator shares with the object can
 * change an operation once it is recorded.
 */
export function emitOperations(object: unknown, write: Write, emit: OperationSink): void {
  const { tokens } = write;
  const last = tokens.length - 1;
  // One walk down the path: to the value at its end, or to where the way there stops.
  let parent: unknown;
  let node: unknown = object;
  let depth = 0;
  for (; depth <= last; depth++) {
    parent = node;
    node = child(parent, tokens[depth] as string);
    if (node === undefined || (depth < last && (node === null || typeof node !== 'object'))) break;
  }
  const current = depth > last ? node : undefined;
  if (write.kind === 'remove') {
    if (current !== undefined) emit({ op: 'remove', path: pointerOf(tokens) }, tokens, tokens.length);
    return;
  }
  const path = pointerOf(tokens);
  if (current !== undefined) {
    if (write.kind === 'set') {
      if (!sameValue(current, write.value)) emit({ op: 'replace', path, value: copyJson(write.value) }, tokens, tokens.length);
    } else if (!Array.isArray(current)) {
      throw new WriteError(`cannot append to ${path}: it is ${describeType(current)}, not a list`);
    } else if (!current.some((item) => sameValue(item, write.value))) {
      emit({ op: 'add', path: `${path}/-`, value: copyJson(write.value) }, [...tokens, '-'], tokens.length + 1);
    }
    return;
  }
  if (depth < last) {
    // The way stops above the end: at a missing map, created here, or at something that is not a map.
    if (node !== undefined && node !== null) {
      throw new WriteError(`cannot write ${path}: ${pointerOf(tokens, depth + 1)} is ${describeType(node)}, not a map`);
    }
    if (Array.isArray(parent)) throw new WriteError(`cannot write ${path}: ${pointerOf(tokens, depth + 1)} is past the end of a list`);
    // Every deeper level is missing too: one `add` of the nested maps would be shorter, but a map per
    // level keeps each operation readable in the decision log and in `canopy eval --mutate`.
    let end = prefixEnd(path, depth + 1);
    emit({ op: node === null ? 'replace' : 'add', path: path.slice(0, end), value: {} }, tokens, depth + 1);
    for (let missing = depth + 1; missing < last; missing++) {
      const next = path.indexOf('/', end + 1);
      end = next < 0 ? path.length : next;
      emit({ op: 'add', path: path.slice(0, end), value: {} }, tokens, missing + 1);
    }
  }
  emit({ op: 'add', path, value: write.kind === 'set' ? copyJson(write.value) : [copyJson(write.value)] }, tokens, tokens.length);
}

/** The operations that make `write` true of `object`; empty when it already is. */
export function operationsFor(object: unknown, write: Write): Operation[] {
  const operations: Operation[] = [];
  emitOperations(object, write, (operation) => operations.push(operation));
  return operations;
}

/** How an array index must be written (RFC 6901: no sign, no leading zero). */
const INDEX = /^(?:0|[1-9]\d*)$/;

/**
 * Applies one `add`, `replace` or `remove` to `object` in place, as RFC 6902 says and as the rfc6902
 * package does for every pointer Canopy writes; throws WriteError ("Value required at path: …") when
 * the target is missing. The value is copied, so that later operations never change the one recorded.
 * `tokens` (its first `length`) are the path's, when the caller has them.
 */
export function applyOperation(object: unknown, operation: Operation, tokens: readonly string[] = tokensOf(operation.path), length = tokens.length): void {
  const missing = () => new WriteError(`Value required at path: ${operation.path}`);
  if (length === 0) throw missing();
  let parent = object;
  for (let i = 0; i < length - 1; i++) {
    const token = tokens[i] as string;
    if (Array.isArray(parent)) parent = INDEX.test(token) ? parent[Number(token)] : undefined;
    else if (typeof parent === 'object' && parent !== null && Object.prototype.hasOwnProperty.call(parent, token)) {
      parent = (parent as Record<string, unknown>)[token];
    } else throw missing();
    if (parent === undefined) throw missing();
  }
  if (typeof parent !== 'object' || parent === null) throw missing();
  const key = tokens[length - 1] as string;
  if (operation.op !== 'add' && operation.op !== 'replace' && operation.op !== 'remove') throw new WriteError(`Invalid operation: ${operation.op}`);
  const { op } = operation;
  const value: unknown = operation.op === 'remove' ? undefined : copyJson(operation.value);
  if (Array.isArray(parent)) {
    if (op === 'add' && key === '-') {
      parent.push(value);
      return;
    }
    if (!INDEX.test(key)) throw missing();
    const index = Number(key);
    if (index > parent.length || (op !== 'add' && index === parent.length)) throw missing();
    if (op === 'add') parent.splice(index, 0, value);
    else if (op === 'replace') parent[index] = value;
    else parent.splice(index, 1);
    return;
  }
  const map = parent as Record<string, unknown>;
  if (op !== 'add' && (!Object.prototype.hasOwnProperty.call(map, key) || map[key] === undefined)) throw missing();
  if (op === 'remove') delete map[key];
  else setOwn(map, key, value);
}
