// Reads a policy directory from disk: the schema, every `*.cedar` file below it (validating policies and
// mutations/), the policy data under data/ and the declared facts under facts/, each in a stable order.
// A pack (packs/NAME/) is laid out the same way: its own policies, mutations/, data/ and facts/.
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { findFiles } from '../../sources/files/find-files.js';
import path from 'node:path';
import { SourceText } from '../engine/index.js';
import { packOfPath, PACKS_DIR } from './packs.js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

export const SCHEMA_FILE = 'schema.cedarschema';
/** Policies under this folder are mutations: permits whose annotations say what to change. */
export const MUTATIONS_DIR = 'mutations';
/** YAML and JSON files under this folder are policy data, for mutation templates. */
export const DATA_DIR = 'data';
/** YAML files under this folder declare facts (name, type, kinds, CEL) that policies read. */
export const FACTS_DIR = 'facts';
/**
 * Worked examples, each a folder laid out like the policy directory (facts/, policies, tests): never
 * part of the active set. Copying an example's files into the same places makes it active.
 */
export const EXAMPLES_DIR = 'examples';

/** Whether a path relative to the policy directory is inside examples/. */
export const isExample = (relative: string): boolean => relative.split('/')[0] === EXAMPLES_DIR;

export interface PolicySetSource {
  /** The label the files' paths start with (the directory as the user wrote it, `bundle:REV`). */
  root: string;
  schema: SourceText;
  /** Validating policies: every *.cedar file outside mutations/. */
  files: SourceText[];
  mutationFiles: SourceText[];
  dataFiles: SourceText[];
  /** Declared facts: facts/*.yaml. */
  factFiles: SourceText[];
  /** The pack of each file that is in one (packs/NAME/...), by its SourceText's `file`. */
  packOf: ReadonlyMap<string, string>;
  /** Every pack: the folders under packs/ that hold a policy set's file. */
  packs: readonly string[];
}

export class PolicyDirectoryError extends CanopyError {
  constructor(message: string) {
    super('policy-directory', message);
  }
}

const DATA_FILE = /\.(ya?ml|json)$/;
const FACTS_FILE = /\.ya?ml$/;

/**
 * A policy set from files in memory, by path relative to the policy directory ("schema.cedarschema",
 * "baseline/privileged.cedar", "data/budgets.yaml"): what a bundle holds. `label` prefixes the paths
 * in diagnostics. Files of other kinds (tests, READMEs) are ignored.
 */
export function policySourceFromFiles(files: ReadonlyMap<string, string>, label: string): PolicySetSource {
  const schema = files.get(SCHEMA_FILE);
  if (schema === undefined) throw new PolicyDirectoryError(`no policy schema in ${label}: a policy set holds ${SCHEMA_FILE} and *.cedar files`);
  const text = (relative: string) => new SourceText(path.posix.join(label, relative), files.get(relative) ?? '');
  const paths = [...files.keys()].filter((p) => !isExample(p)).sort();
  const cedarFiles = paths.filter((p) => p.endsWith('.cedar'));
  const isMutation = (relative: string) => inFolder(relative, MUTATIONS_DIR);
  const dataFiles = paths.filter((p) => inFolder(p, DATA_DIR) && DATA_FILE.test(p));
  const factFiles = paths.filter((p) => inFolder(p, FACTS_DIR) && FACTS_FILE.test(p));
  const packOf = new Map<string, string>();
  const packs = new Set<string>();
  for (const relative of [...cedarFiles, ...dataFiles, ...factFiles]) {
    const pack = packOfPath(relative);
    if (pack === undefined) continue;
    packs.add(pack);
    packOf.set(path.posix.join(label, relative), pack);
  }
  return {
    root: label,
    schema: text(SCHEMA_FILE),
    files: cedarFiles.filter((p) => !isMutation(p)).map(text),
    mutationFiles: cedarFiles.filter(isMutation).map(text),
    dataFiles: dataFiles.map(text),
    factFiles: factFiles.map(text),
    packOf,
    packs: [...packs].sort(),
  };
}

/** Whether a relative path is below `folder` of the policy directory, or of one of its packs (packs/NAME/folder/). */
function inFolder(relative: string, folder: string): boolean {
  const parts = relative.split('/');
  return parts[0] === folder || (parts[0] === PACKS_DIR && parts.length > 3 && parts[2] === folder);
}

/** The files of a policy directory a policy set is made of, by relative path (POSIX separators). */
export async function policyFilesOf(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const schemaPath = path.join(dir, SCHEMA_FILE);
  try {
    files.set(SCHEMA_FILE, await readFile(schemaPath, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PolicyDirectoryError(
      code === 'ENOENT'
        ? `no policy schema at ${schemaPath}: a policy directory holds ${SCHEMA_FILE} and *.cedar files`
        : `cannot read ${schemaPath}: ${messageOf(error)}`,
    );
  }
  for (const [relative, file] of await policyFilePaths(dir)) {
    if (relative !== SCHEMA_FILE) files.set(relative, await readFile(file, 'utf8'));
  }
  return files;
}

/**
 * Where the files of policyFilesOf are, by the same relative paths, the schema's first (whether or not
 * it exists): what a watcher looks at to tell whether they could have changed without reading them.
 */
export async function policyFilePaths(dir: string): Promise<Map<string, string>> {
  const paths = new Map<string, string>([[SCHEMA_FILE, path.join(dir, SCHEMA_FILE)]]);
  const cedar = await findFiles(dir, (name) => name.endsWith('.cedar'));
  const optional = <T>(error: NodeJS.ErrnoException): T[] => {
    if (error.code === 'ENOENT') return [];
    throw error;
  };
  const packs = await readdir(path.join(dir, PACKS_DIR), { withFileTypes: true }).catch(optional<Dirent>);
  const roots = [dir, ...packs.filter((entry) => entry.isDirectory()).map((entry) => path.join(dir, PACKS_DIR, entry.name))];
  const found: string[] = [...cedar];
  for (const root of roots) {
    found.push(...(await findFiles(path.join(root, DATA_DIR), (name) => DATA_FILE.test(name)).catch(optional<string>)));
    found.push(...(await findFiles(path.join(root, FACTS_DIR), (name) => FACTS_FILE.test(name)).catch(optional<string>)));
  }
  for (const file of found) {
    const relative = path.relative(dir, file).split(path.sep).join('/');
    if (!isExample(relative)) paths.set(relative, file);
  }
  return paths;
}

/** Paths in diagnostics are shown as `dir/relative`, with `dir` as the user wrote it. */
export async function readPolicyDirectory(dir: string): Promise<PolicySetSource> {
  return policySourceFromFiles(await policyFilesOf(dir), dir);
}
