// Reads a policy directory from disk: the schema, every `*.cedar` file below it (validating policies and
// mutations/), and the policy data under data/, each in a stable order.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { SourceText } from './source-text.js';

export const SCHEMA_FILE = 'schema.cedarschema';
/** Policies under this folder are mutations: permits whose annotations say what to change. */
export const MUTATIONS_DIR = 'mutations';
/** YAML and JSON files under this folder are policy data, for mutation templates. */
export const DATA_DIR = 'data';

export interface PolicySetSource {
  schema: SourceText;
  /** Validating policies: every *.cedar file outside mutations/. */
  files: SourceText[];
  mutationFiles: SourceText[];
  dataFiles: SourceText[];
}

export class PolicyDirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyDirectoryError';
  }
}

async function listFiles(root: string, accept: (name: string) => boolean, relative = ''): Promise<string[]> {
  const entries = await readdir(path.join(root, relative), { withFileTypes: true });
  const found: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const child = path.join(relative, entry.name);
    if (entry.isDirectory()) found.push(...(await listFiles(root, accept, child)));
    else if (entry.isFile() && accept(entry.name)) found.push(child);
  }
  return found;
}

/** Paths in diagnostics are shown as `dir/relative`, with `dir` as the user wrote it. */
export async function readPolicyDirectory(dir: string): Promise<PolicySetSource> {
  let schemaText: string;
  const schemaPath = path.join(dir, SCHEMA_FILE);
  try {
    schemaText = await readFile(schemaPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PolicyDirectoryError(
      code === 'ENOENT'
        ? `no policy schema at ${schemaPath}: a policy directory holds ${SCHEMA_FILE} and *.cedar files`
        : `cannot read ${schemaPath}: ${(error as Error).message}`,
    );
  }
  const read = (relatives: string[]) =>
    Promise.all(
      relatives.sort().map(async (relative) => {
        const file = path.join(dir, relative);
        return new SourceText(file, await readFile(file, 'utf8'));
      }),
    );
  const cedarFiles = await listFiles(dir, (name) => name.endsWith('.cedar'));
  const isMutation = (relative: string) => relative.split(path.sep)[0] === MUTATIONS_DIR;
  const dataFiles = await listFiles(path.join(dir, DATA_DIR), (name) => /\.(ya?ml|json)$/.test(name)).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    },
  );
  return {
    schema: new SourceText(schemaPath, schemaText),
    files: await read(cedarFiles.filter((relative) => !isMutation(relative))),
    mutationFiles: await read(cedarFiles.filter(isMutation)),
    dataFiles: await read(dataFiles.map((relative) => path.join(DATA_DIR, relative))),
  };
}
