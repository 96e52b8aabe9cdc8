// What Cedar says of a text does not depend on anything else: a file's policies parse the same way,
// and a set validates the same way against the same schema, every time. Checking a policy set asks
// Cedar to parse every file three times (check, split, each policy to JSON) and to validate the whole
// set; a directory reload after one file changed, `canopy impact` comparing two revisions that share
// most files, and a bundle checked again (trial, activation, restart from disk) ask again for texts
// Cedar has already answered. These calls are remembered here by their input, in a bounded LRU, and
// the answers are frozen: a caller that tried to change one would throw rather than change it for the
// next.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { cedar, type DetailedError, type PolicyJson } from '../cedar/index.js';

/** One file's text, as Cedar reads it. */
export type ParsedPolicyText =
  | { type: 'failure'; errors: readonly DetailedError[] }
  | {
      type: 'success';
      /** Whether the file holds templates (which Canopy does not support). */
      templates: boolean;
      /** Each policy's verbatim text, in file order, with its JSON form or why Cedar could not give it. */
      policies: ReadonlyArray<{ text: string; json: PolicyJson } | { text: string; errors: readonly DetailedError[] }>;
    };

type ValidateInput = Parameters<typeof cedar.validate>[0];
type ValidateAnswer = ReturnType<typeof cedar.validate>;
type SchemaAnswer = { check: ReturnType<typeof cedar.checkParseSchema>; json: ReturnType<typeof cedar.schemaToJson> | undefined };

// Policy files are small and many (the shipped set has about a hundred); sets and schemas are large and few.
const texts = new LRUCache<string, ParsedPolicyText>({ max: 2048 });
const schemas = new LRUCache<string, SchemaAnswer>({ max: 16 });
const validations = new LRUCache<string, ValidateAnswer>({ max: 16 });

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** A policy file's text, split into its policies, each with its JSON form. */
export function parsePolicyText(text: string): ParsedPolicyText {
  const known = texts.get(text);
  if (known) return known;
  const parsed = parseUncached(text);
  texts.set(text, deepFreeze(parsed));
  return parsed;
}

function parseUncached(text: string): ParsedPolicyText {
  const checked = cedar.checkParsePolicySet({ staticPolicies: text });
  if (checked.type === 'failure') return { type: 'failure', errors: checked.errors };
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') return { type: 'failure', errors: parts.errors };
  return {
    type: 'success',
    templates: parts.policy_templates.length > 0,
    policies: parts.policies.map((policy) => {
      const json = cedar.policyToJson(policy);
      return json.type === 'success' ? { text: policy, json: json.json } : { text: policy, errors: json.errors };
    }),
  };
}

/** The schema file's text: whether it parses, and its JSON form when it does. */
export function parseSchemaText(text: string): SchemaAnswer {
  const known = schemas.get(text);
  if (known) return known;
  const check = cedar.checkParseSchema(text);
  const answer = { check, json: check.type === 'success' ? cedar.schemaToJson(text) : undefined };
  schemas.set(text, deepFreeze(answer));
  return answer;
}

/** cedar.validate, remembered by a hash of its whole input (schema, policies, settings). */
export function validatePolicies(input: ValidateInput): ValidateAnswer {
  const key = createHash('sha256').update(JSON.stringify(input)).digest('hex');
  const known = validations.get(key);
  if (known) return known;
  const answer = cedar.validate(input);
  validations.set(key, deepFreeze(answer));
  return answer;
}
