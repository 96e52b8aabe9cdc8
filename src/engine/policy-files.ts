// Reads a policy directory from disk: the schema and every `*.cedar` file below it, in a stable order.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { SourceText } from './source-text.js';

export const SCHEMA_FILE = 'schema.cedarschema';

export interface PolicySetSource {
  schema: SourceText;
  files: SourceText[];
}

export class PolicyDirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyDirectoryError';
  }
}

async function listCedarFiles(root: string, relative = ''): Promise<string[]> {
  const entries = await readdir(path.join(root, relative), { withFileTypes: true });
  const found: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const child = path.join(relative, entry.name);
    if (entry.isDirectory()) found.push(...(await listCedarFiles(root, child)));
    else if (entry.isFile() && entry.name.endsWith('.cedar')) found.push(child);
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
  const relativeFiles = (await listCedarFiles(dir)).sort();
  const files = await Promise.all(
    relativeFiles.map(async (relative) => {
      const file = path.join(dir, relative);
      return new SourceText(file, await readFile(file, 'utf8'));
    }),
  );
  return { schema: new SourceText(schemaPath, schemaText), files };
}
