// Temporary policy directories: the real schema plus the policies a test writes.
import { cpSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { STARTER_POLICIES } from './fixtures.js';

export const SCHEMA_TEXT = readFileSync(path.join(STARTER_POLICIES, 'schema.cedarschema'), 'utf8');

/** Writes `files` (relative path → text) next to the real schema and returns the directory. */
export function policyDir(files: Record<string, string>, schema = SCHEMA_TEXT): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'canopy-policies-'));
  writeFileSync(path.join(dir, 'schema.cedarschema'), schema);
  for (const [relative, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
    writeFileSync(path.join(dir, relative), text);
  }
  return dir;
}

/** The packs of a policy directory: the folders under packs/. */
export function packsOf(dir: string): string[] {
  return readdirSync(path.join(dir, 'packs'), { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
}

/**
 * `dir` with the named packs (by default every one under packs/) switched off, the documented way: in
 * data/packs.yaml. For tests whose subject is something else than what the shipped packs find.
 */
export function packsOff(dir: string, names: readonly string[] = packsOf(dir)): string {
  writeFileSync(path.join(dir, 'data', 'packs.yaml'), `packs:\n${names.map((name) => `  ${name}: {enabled: false}\n`).join('')}`);
  return dir;
}

/**
 * A copy of the shipped policies whose Pod Security controls each end their first `when` clause with a
 * test that only Cedar evaluates (`in`; always true here): for tests of what reaches Cedar (workers, the
 * decision cache, preparsed subsets), which the engine would otherwise decide without it (engine/conditions.ts).
 */
export function undecidedPolicies(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'canopy-undecided-'));
  cpSync(STARTER_POLICIES, dir, { recursive: true });
  for (const file of readdirSync(path.join(dir, 'pod-security'), { recursive: true }).map(String).filter((name) => name.endsWith('.cedar'))) {
    const full = path.join(dir, 'pod-security', file);
    const text = readFileSync(full, 'utf8');
    if (!text.includes('\n}\nunless')) throw new Error(`${full}: no when clause followed by unless to extend`);
    writeFileSync(full, text.replace('\n}\nunless', ' &&\n  !(principal in k8s::Group::"canopy-undecided")\n}\nunless'));
  }
  return dir;
}
