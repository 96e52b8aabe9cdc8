// The one directory walk behind policy directories, policy tests, audited manifests and recorded
// requests: hidden entries and node_modules are skipped everywhere alike.
import { readdir } from 'node:fs/promises';
import path from 'node:path';

/** Files under `dir` whose names `accept` takes, as sorted paths joined onto `dir`. Throws if `dir` is unreadable. */
export async function findFiles(dir: string, accept: (name: string) => boolean): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const child = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await findFiles(child, accept)));
    else if (entry.isFile() && accept(entry.name)) found.push(child);
  }
  return found.sort();
}
