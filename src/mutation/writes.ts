// What a mutation wants, as writes of a value at a path, and how a write becomes JSON Patch operations
// against the object as it stands: `add` or `replace` by what exists, missing parent maps created, and
// nothing at all when the value is already there (so a second pass yields no patch).
import { isDeepStrictEqual } from 'node:util';
import { Pointer, type Operation } from 'rfc6902';

export type Write =
  /**
   * `structural` marks scaffolding that other writes fill in (an empty list of terms): the value it
   * sets is not one the mutation insists on, so later additions inside it are not conflicts.
   */
  | { kind: 'set'; tokens: string[]; value: unknown; structural?: true }
  | { kind: 'remove'; tokens: string[] }
  /** Append to the array at `tokens` unless an equal element is already in it. */
  | { kind: 'append'; tokens: string[]; value: unknown };

export class WriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteError';
  }
}

export function pointerOf(tokens: readonly string[]): string {
  return new Pointer(['', ...tokens]).toString();
}

/** The value at `tokens`, or undefined when any step is missing. */
export function valueAt(object: unknown, tokens: readonly string[]): unknown {
  let node = object;
  for (const token of tokens) {
    if (Array.isArray(node)) node = /^\d+$/.test(token) ? node[Number(token)] : undefined;
    else if (typeof node === 'object' && node !== null && Object.prototype.hasOwnProperty.call(node, token)) {
      node = (node as Record<string, unknown>)[token];
    } else return undefined;
  }
  return node;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'a list' : `a ${typeof value}`;
}

/** Operations that create the missing maps above `tokens`; refuses to write through a non-map. */
function parentOperations(object: unknown, tokens: readonly string[]): Operation[] {
  const operations: Operation[] = [];
  for (let depth = 0; depth < tokens.length - 1; depth++) {
    const prefix = tokens.slice(0, depth + 1);
    const node = valueAt(object, prefix);
    const isContainer = typeof node === 'object' && node !== null;
    if (node === undefined || node === null) {
      const parent = valueAt(object, prefix.slice(0, -1));
      if (Array.isArray(parent)) {
        throw new WriteError(`cannot write ${pointerOf(tokens)}: ${pointerOf(prefix)} is past the end of a list`);
      }
      // Every deeper level is missing too: one `add` of the nested maps would be shorter, but a map per
      // level keeps each operation readable in the decision log and in `canopy eval --mutate`.
      for (let missing = depth; missing < tokens.length - 1; missing++) {
        operations.push({ op: node === null && missing === depth ? 'replace' : 'add', path: pointerOf(tokens.slice(0, missing + 1)), value: {} });
      }
      return operations;
    }
    if (!isContainer) {
      throw new WriteError(`cannot write ${pointerOf(tokens)}: ${pointerOf(prefix)} is ${describeType(node)}, not a map`);
    }
  }
  return operations;
}

/** The operations that make `write` true of `object`; empty when it already is. */
export function operationsFor(object: unknown, write: Write): Operation[] {
  const current = valueAt(object, write.tokens);
  const path = pointerOf(write.tokens);
  switch (write.kind) {
    case 'remove':
      return current === undefined ? [] : [{ op: 'remove', path }];
    case 'append': {
      if (current !== undefined && !Array.isArray(current)) {
        throw new WriteError(`cannot append to ${path}: it is ${describeType(current)}, not a list`);
      }
      if (Array.isArray(current)) {
        return current.some((item) => isDeepStrictEqual(item, write.value)) ? [] : [{ op: 'add', path: `${path}/-`, value: write.value }];
      }
      return [...parentOperations(object, write.tokens), { op: 'add', path, value: [write.value] }];
    }
    case 'set':
      if (current !== undefined) return isDeepStrictEqual(current, write.value) ? [] : [{ op: 'replace', path, value: write.value }];
      return [...parentOperations(object, write.tokens), { op: 'add', path, value: write.value }];
  }
}
