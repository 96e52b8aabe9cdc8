// A mutation policy: a Cedar `permit` in policies/mutations/ whose condition says *when* and whose
// annotations say *what*: a JSON Patch template (@patch) or a built-in mutator (@mutator, @params).
import { parse as parseYaml } from 'yaml';
import { Pointer } from 'rfc6902';
import { ON_ERROR, checkPolicyId, type OnError } from '../engine/annotations.js';
import type { PolicyDiagnostic } from '../engine/diagnostics.js';
import type { SourcePosition } from '../engine/source-text.js';
import { MUTATORS } from './mutators/index.js';
import { checkTemplates, hasTemplate, isWholeTemplate, TemplateError } from '../templates/index.js';
import { messageOf } from '../../operations/errors/index.js';

export interface PatchOperationTemplate {
  op: 'add' | 'replace' | 'remove';
  path: string;
  tokens: string[];
  value?: unknown;
}

export type MutationChange =
  | { type: 'patch'; operations: PatchOperationTemplate[] }
  | { type: 'mutator'; mutator: string; params: unknown };

export interface MutationSpec {
  id: string;
  order: number;
  onError: OnError;
  position: SourcePosition;
  change: MutationChange;
}

const PATCH_OPS = ['add', 'replace', 'remove'] as const;

/** YAML flow syntax (and so JSON) inside a Cedar string: `[{op: add, path: /a, value: 'b'}]`. */
function parseAnnotationValue(text: string, name: string): unknown {
  // A params value that is a single template is kept as text, to be replaced by the value it names.
  if (isWholeTemplate(text)) return text;
  try {
    return parseYaml(text) as unknown;
  } catch (error) {
    throw new Error(`@${name} is not valid YAML or JSON: ${messageOf(error).split('\n')[0]}`);
  }
}

function readPatch(text: string): PatchOperationTemplate[] {
  const parsed = parseAnnotationValue(text, 'patch');
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new Error('@patch must be a non-empty list of JSON Patch operations, such as [{op: add, path: /metadata/labels/team, value: payments}]');
  }
  return parsed.map((entry, index) => {
    const where = `@patch operation ${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Error(`${where} must be a map with op and path`);
    const { op, path, value, ...rest } = entry as Record<string, unknown>;
    if (!(PATCH_OPS as readonly unknown[]).includes(op)) {
      throw new Error(`${where}: op must be add, replace or remove (got ${JSON.stringify(op)}); a condition belongs in the Cedar policy`);
    }
    if (Object.keys(rest).length > 0) throw new Error(`${where}: unknown field ${Object.keys(rest).join(', ')}`);
    if (typeof path !== 'string' || !path.startsWith('/') || /~[^01]|~$/.test(path)) {
      throw new Error(`${where}: path must be a JSON Pointer such as /metadata/labels/canopy.io~1region (escape "/" as ~1 and "~" as ~0)`);
    }
    if (path.includes('{{')) throw new Error(`${where}: templates go in values, not in paths`);
    const tokens = Pointer.fromJSON(path).tokens.slice(1);
    if (tokens.slice(0, -1).includes('-') || (tokens.at(-1) === '-' && op !== 'add')) {
      throw new Error(`${where}: "-" (the end of a list) can only be the last step of an add`);
    }
    if (op !== 'remove' && value === undefined) throw new Error(`${where}: ${String(op)} needs a value`);
    if (op === 'remove' && value !== undefined) throw new Error(`${where}: remove takes no value`);
    checkTemplates(value);
    return { op: op as PatchOperationTemplate['op'], path, tokens, ...(op === 'remove' ? {} : { value }) };
  });
}

function readChange(annotations: Readonly<Record<string, string>>): MutationChange {
  const patch = annotations['patch'];
  const mutator = annotations['mutator'];
  const params = annotations['params'];
  if ((patch === undefined) === (mutator === undefined)) {
    throw new Error('a mutation needs exactly one of @patch("[...JSON Patch...]") or @mutator("name")');
  }
  if (patch !== undefined) {
    if (params !== undefined) throw new Error('@params goes with @mutator, not with @patch');
    return { type: 'patch', operations: readPatch(patch) };
  }
  const found = MUTATORS.get(mutator ?? '');
  if (!found) throw new Error(`unknown @mutator("${mutator}"): the built-in mutators are ${[...MUTATORS.keys()].join(', ')}`);
  const value = params === undefined ? {} : parseAnnotationValue(params, 'params');
  checkTemplates(value);
  if (!(typeof value === 'string' && hasTemplate(value))) found.parse(value, { templated: true });
  return { type: 'mutator', mutator: found.name, params: value };
}

/** Reads a mutation policy's annotations; returns the problems instead when they are not usable. */
export function readMutationSpec(
  annotations: Readonly<Record<string, string>>,
  effect: 'permit' | 'forbid',
  position: SourcePosition,
): MutationSpec | PolicyDiagnostic[] {
  const problems: string[] = [];
  const id = annotations['id'];
  const idProblem = checkPolicyId(id);
  if (idProblem) problems.push(idProblem);
  if (effect !== 'permit') {
    problems.push('mutation policies are permits: their condition says when the change applies');
  }
  const order = Number(annotations['order'] ?? '0');
  if (!Number.isInteger(order)) problems.push(`@order must be a whole number, got "${annotations['order']}"`);
  const onError = annotations['onError'] ?? 'fail-closed';
  if (!(ON_ERROR as readonly string[]).includes(onError)) problems.push(`@onError must be one of ${ON_ERROR.join(', ')}`);
  let change: MutationChange | undefined;
  try {
    change = readChange(annotations);
  } catch (error) {
    problems.push(error instanceof TemplateError ? `template: ${error.message}` : messageOf(error));
  }
  if (problems.length > 0 || !id || !change) {
    const label = id ? `mutation "${id}": ` : '';
    return problems.map((message) => ({ position, message: label + message }));
  }
  return { id, order, onError: onError as OnError, position, change };
}
