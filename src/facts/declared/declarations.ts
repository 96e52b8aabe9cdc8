// policies/facts/*.yaml: the facts a security team declares, each a name, a Cedar type, the kinds (and
// API groups) it is computed for, and the CEL expression that computes it. Read and checked at load:
// every problem is pinned to the file and line of the fact, and a set with any problem is refused.
import { LRUCache } from 'lru-cache';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { CelError, compileExpression, type CompiledExpression } from './cel.js';
import { messageOf } from '../../operations/errors/index.js';

export const FACT_TYPES = ['Bool', 'Long', 'String', 'Set<String>', 'Set<Long>'] as const;
export type FactType = (typeof FACT_TYPES)[number];

/** The static CEL types each fact type accepts; dyn and list (of dyn) are checked on every evaluation. */
const ACCEPTED_CEL_TYPES: Record<FactType, readonly string[]> = {
  Bool: ['bool', 'dyn'],
  Long: ['int', 'dyn'],
  String: ['string', 'dyn'],
  'Set<String>': ['list<string>', 'list', 'list<dyn>', 'dyn'],
  'Set<Long>': ['list<int>', 'list', 'list<dyn>', 'dyn'],
};

/** Cedar refuses these as attribute names after a dot. */
const CEDAR_RESERVED = new Set(['true', 'false', 'if', 'then', 'else', 'in', 'is', 'like', 'has', '__cedar']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KIND = /^([A-Z][A-Za-z0-9]*|\*)$/;
const GROUP = /^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$/;
const FIELDS = new Set(['name', 'type', 'kinds', 'groups', 'cel', 'description']);

export interface FactPosition {
  file: string;
  line: number;
  column: number;
}

export interface FactProblem {
  position: FactPosition;
  message: string;
}

/** A file as the policy loader holds it (engine's SourceText has this shape). */
export interface FactFile {
  file: string;
  text: string;
}

export interface FactDeclaration {
  name: string;
  type: FactType;
  /** Kind names; "*" for any. */
  kinds: readonly string[];
  /** API groups ("" is core, "*.example.io" its subdomains); absent: any group. */
  groups?: readonly string[];
  cel: string;
  description: string;
  position: FactPosition;
  expression: CompiledExpression;
}

/** Whether a declaration is computed for objects of this group and kind. */
export function appliesTo(declaration: Pick<FactDeclaration, 'kinds' | 'groups'>, group: string, kind: string): boolean {
  if (!declaration.kinds.includes('*') && !declaration.kinds.includes(kind)) return false;
  if (!declaration.groups) return true;
  return declaration.groups.some((pattern) => (pattern.startsWith('*.') ? group.endsWith(pattern.slice(1)) : pattern === group));
}

function stringList(node: unknown, what: string, pattern: RegExp, example: string): string[] {
  if (!isSeq(node) || node.items.length === 0) throw new Error(`${what} must be a non-empty list, such as ${example}`);
  return node.items.map((item) => {
    const value = isScalar(item) ? item.value : undefined;
    const text = value === null ? '' : value;
    if (typeof text !== 'string' || !pattern.test(text)) throw new Error(`${what}: ${JSON.stringify(isScalar(item) ? item.value : String(item))} is not valid; write them like ${example}`);
    return text;
  });
}

function readDeclaration(map: YAMLMap, at: (node: Node | undefined) => FactPosition): FactDeclaration {
  const field = (key: string): Node | undefined => map.get(key, true) as Node | undefined;
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '?';
    if (!FIELDS.has(key)) throw new Error(`unknown field "${key}": a fact has ${[...FIELDS].join(', ')}`);
  }
  const scalar = (key: string, required: boolean): string | undefined => {
    const node = field(key);
    if (node === undefined) {
      if (required) throw new Error(`"${key}" is missing`);
      return undefined;
    }
    if (!isScalar(node) || typeof node.value !== 'string' || node.value.trim() === '') throw new Error(`"${key}" must be a non-empty string`);
    return node.value;
  };
  const name = scalar('name', true) ?? '';
  if (!IDENTIFIER.test(name) || CEDAR_RESERVED.has(name)) {
    throw new Error(`name "${name}" must be an identifier (letters, digits, _; not starting with a digit; not a Cedar keyword), as policies read it as resource.facts.${name}`);
  }
  const type = scalar('type', true) ?? '';
  if (!(FACT_TYPES as readonly string[]).includes(type)) throw new Error(`fact "${name}": unknown type "${type}"; the types are ${FACT_TYPES.join(', ')}`);
  const kinds = stringList(field('kinds'), `fact "${name}": kinds`, KIND, '[Service] or ["*"]');
  const groupsNode = field('groups');
  const groups = groupsNode === undefined ? undefined : stringList(groupsNode, `fact "${name}": groups`, GROUP, '["", apps, "*.upbound.io"]');
  const cel = scalar('cel', true) ?? '';
  const description = scalar('description', false) ?? '';
  let expression: CompiledExpression;
  try {
    expression = compileExpression(cel);
  } catch (error) {
    const offset = error instanceof CelError && error.offset !== undefined ? ` (at character ${error.offset + 1} of the expression)` : '';
    throw Object.assign(new Error(`fact "${name}": CEL: ${messageOf(error)}${offset}`), { node: field('cel') });
  }
  const accepted = ACCEPTED_CEL_TYPES[type as FactType];
  if (!accepted.includes(expression.staticType)) {
    throw Object.assign(new Error(`fact "${name}" is declared ${type}, but its CEL expression gives ${expression.staticType}`), { node: field('cel') });
  }
  return { name, type: type as FactType, kinds, ...(groups ? { groups } : {}), cel, description, position: at(map), expression };
}

/** One file's declarations and problems: what its text says, whatever the other files say. */
interface FileReading {
  declarations: readonly FactDeclaration[];
  problems: readonly FactProblem[];
}

// A file reads the same every time: its YAML, its checks and its CEL (parse, type check) depend on its
// name and text only. A reload after one file changed, a bundle checked again (trial, activation,
// restart) and `canopy impact` comparing revisions that share most files would otherwise compile every
// expression again. Compiled expressions hold no state between evaluations, so sets can share them.
const readings = new LRUCache<string, FileReading, FactFile>({ max: 1024, memoMethod: (_key, _stale, { context }) => readFactFileUncached(context) });

function readFactFile(file: FactFile): FileReading {
  return readings.memo(`${file.file}\0${file.text}`, { context: file });
}

function readFactFileUncached(file: FactFile): FileReading {
  const declarations: FactDeclaration[] = [];
  const problems: FactProblem[] = [];
  const lines = new LineCounter();
  const document = parseDocument(file.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (node: Node | undefined): FactPosition => {
    const position = lines.linePos(node?.range?.[0] ?? 0);
    return { file: file.file, line: position.line, column: position.col };
  };
  if (document.errors.length > 0) {
    for (const error of document.errors) {
      const [line = 1, column = 1] = error.linePos?.[0] ? [error.linePos[0].line, error.linePos[0].col] : [];
      problems.push({ position: { file: file.file, line, column }, message: `invalid YAML: ${error.message.split('\n')[0]}` });
    }
    return { declarations, problems };
  }
  const root = document.contents;
  const list = isMap(root) ? (root.get('facts', true) as Node | undefined) : undefined;
  if (!isMap(root) || !isSeq(list) || root.items.length !== 1) {
    problems.push({ position: at(root ?? undefined), message: 'a facts file holds one top-level list, facts: [{name, type, kinds, cel}, ...]' });
    return { declarations, problems };
  }
  for (const item of list.items) {
    if (!isMap(item)) {
      problems.push({ position: at(item as Node), message: 'each fact is a map with name, type, kinds and cel' });
      continue;
    }
    try {
      declarations.push(Object.freeze(readDeclaration(item, at)));
    } catch (error) {
      const node = (error as { node?: Node }).node;
      problems.push({ position: at(node ?? item), message: messageOf(error) });
    }
  }
  return { declarations: Object.freeze(declarations), problems: Object.freeze(problems) };
}

/** Reads every facts file; problems are collected, never thrown. Names must be unique across files. */
export function readFactDeclarations(files: readonly FactFile[]): { declarations: FactDeclaration[]; problems: FactProblem[] } {
  const declarations: FactDeclaration[] = [];
  const problems: FactProblem[] = [];
  const byName = new Map<string, FactDeclaration>();
  for (const file of files) {
    const reading = readFactFile(file);
    problems.push(...reading.problems);
    for (const declaration of reading.declarations) {
      const first = byName.get(declaration.name);
      if (first) {
        problems.push({ position: declaration.position, message: `duplicate fact "${declaration.name}": also declared at ${first.position.file}:${first.position.line} (fact names must be unique across files)` });
        continue;
      }
      byName.set(declaration.name, declaration);
      declarations.push(declaration);
    }
  }
  return { declarations, problems };
}
