// Small checks shared by the mutators' params parsers.
import { MutatorParamsError } from './types.js';

export type Params = Record<string, unknown>;

export function isTemplate(value: unknown): boolean {
  return typeof value === 'string' && value.includes('{{');
}

export function paramsRecord(params: unknown, mutator: string, allowed: readonly string[]): Params {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new MutatorParamsError(`${mutator} takes a map of params (${allowed.join(', ')})`);
  }
  const unknown = Object.keys(params).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw new MutatorParamsError(`${mutator} does not know param ${unknown.map((k) => `"${k}"`).join(', ')} (it takes ${allowed.join(', ')})`);
  }
  return params as Params;
}

/** A map of strings; `check` judges each literal (non-template) entry and returns a problem or undefined. */
export function stringMap(
  value: unknown,
  what: string,
  templated: boolean,
  check: (key: string, value: string) => string | undefined = () => undefined,
): Record<string, string> {
  if (value === undefined) return {};
  // A whole map from one template ('{{ supplyChain.pins }}') is checked once it is filled in.
  if (templated && isTemplate(value)) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MutatorParamsError(`${what} must be a map`);
  }
  for (const [key, entry] of Object.entries(value)) {
    if (templated && isTemplate(entry)) continue;
    if (typeof entry !== 'string') {
      throw new MutatorParamsError(`${what}["${key}"] must be a string, got ${JSON.stringify(entry)} (quote it)`);
    }
    const problem = check(key, entry);
    if (problem) throw new MutatorParamsError(`${what}["${key}"]: ${problem}`);
  }
  return value as Record<string, string>;
}
