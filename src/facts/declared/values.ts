// A fact's CEL result as the Cedar value of its declared type. CEL's dyn results are only known at run
// time: a value of another type is a fact that cannot be computed, never a value Cedar would refuse.
import type { CedarValueJson } from '../../policy/cedar/index.js';
import type { FactType } from './declarations.js';

/** Cedar's Long is 64-bit, but its JSON form is a JSON number: exact only up to 2^53. */
function long(value: unknown, what: string): number {
  const number = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : undefined;
  if (number === undefined) throw new Error(`${what} is ${describe(value)}, not an integer`);
  if (number > BigInt(Number.MAX_SAFE_INTEGER) || number < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new Error(`${what} ${number} is beyond ±2^53, the integers Canopy passes to Cedar exactly`);
  }
  return Number(number);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Map) return 'a map';
  return typeof value === 'object' ? 'a map' : `a ${typeof value === 'bigint' ? 'integer' : typeof value}`;
}

/** Converts a CEL result to the fact's Cedar value; throws with the reason when it is of another type. */
export function cedarValueOf(type: FactType, value: unknown): CedarValueJson {
  switch (type) {
    case 'Bool':
      if (typeof value !== 'boolean') throw new Error(`the expression gave ${describe(value)}, not a Bool`);
      return value;
    case 'String':
      if (typeof value !== 'string') throw new Error(`the expression gave ${describe(value)}, not a String`);
      return value;
    case 'Long':
      return long(value, 'the expression gave');
    case 'Set<String>': {
      if (!Array.isArray(value)) throw new Error(`the expression gave ${describe(value)}, not a list of strings`);
      const items = new Set<string>();
      for (const item of value) {
        if (typeof item !== 'string') throw new Error(`the list holds ${describe(item)}, not only strings`);
        items.add(item);
      }
      // Sorted, so equal sets give equal requests (and decision-cache keys).
      return [...items].sort();
    }
    case 'Set<Long>': {
      if (!Array.isArray(value)) throw new Error(`the expression gave ${describe(value)}, not a list of integers`);
      const items = new Set<number>();
      for (const item of value) items.add(long(item, 'the list holds'));
      return [...items].sort((a, b) => a - b);
    }
  }
}

/** The Cedar schema (JSON form) type of a fact type. */
export function schemaTypeOf(type: FactType): Record<string, unknown> {
  switch (type) {
    case 'Bool':
      return { type: 'Boolean' };
    case 'Long':
      return { type: 'Long' };
    case 'String':
      return { type: 'String' };
    case 'Set<String>':
      return { type: 'Set', element: { type: 'String' } };
    case 'Set<Long>':
      return { type: 'Set', element: { type: 'Long' } };
  }
}
