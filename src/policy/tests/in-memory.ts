// A policy set's tests run from memory: a signed bundle's `*.test.yaml` files and the review files they
// name, against the candidate set, before the webhook activates it (bundle/sync.ts).
import path from 'node:path';
import type { PolicyDiagnostic } from '../engine/index.js';
import { inPackSwitchedOff, isExample } from '../set/index.js';
import type { AdmissionPipeline } from '../../pipeline/index.js';
import { parseTestFile } from './cases.js';
import { runCase, type CaseResult } from './run.js';

export const TEST_FILE = /\.test\.ya?ml$/;

/** A root no real file lives under: cases' paths are `/policy-set/<relative>`. */
const ROOT = '/policy-set';

/**
 * Runs every (non-example) `*.test.yaml` in `files` (relative POSIX paths → text) through `pipeline`,
 * which has the set to test active. A review file must be in `files` too.
 */
export async function runPolicyTestsFromFiles(files: ReadonlyMap<string, string>, pipeline: AdmissionPipeline, set: { packs: ReadonlyArray<{ name: string; enabled: boolean }> }): Promise<{ files: string[]; results: CaseResult[]; problems: PolicyDiagnostic[] }> {
  const testFiles = [...files.keys()].filter((p) => TEST_FILE.test(p) && !isExample(p) && !inPackSwitchedOff(p, set)).sort();
  const read = async (absolute: string): Promise<string> => {
    const relative = path.posix.relative(ROOT, absolute);
    const text = relative.startsWith('..') ? undefined : files.get(relative);
    if (text === undefined) throw new Error(`${relative} is not in the policy set's files`);
    return text;
  };
  const results: CaseResult[] = [];
  const problems: PolicyDiagnostic[] = [];
  for (const file of testFiles) {
    const parsed = parseTestFile(files.get(file) ?? '', path.posix.join(ROOT, file), ROOT);
    problems.push(...parsed.problems);
    for (const testCase of parsed.cases) results.push(await runCase(pipeline, testCase, undefined, read));
  }
  return { files: testFiles, results, problems };
}
