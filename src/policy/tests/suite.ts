// A policy directory's test suite: every `*.test.yaml` below it, run against that directory's policies.
import path from 'node:path';
import { findFiles } from '../../sources/files/find-files.js';
import { type PolicyDiagnostic } from '../engine/index.js';
import { inPackSwitchedOff, isExample, loadPolicyDirectory } from '../set/index.js';
import { AdmissionPipeline } from '../../pipeline/index.js';
import { readTestFile } from './cases.js';
import { CoverageTracker, type PolicyCoverage } from './coverage.js';
import { runCase, type CaseResult } from './run.js';

export interface SuiteResult {
  files: string[];
  results: CaseResult[];
  /** Test files or cases that could not be read. */
  problems: PolicyDiagnostic[];
  coverage?: PolicyCoverage[];
}

const TEST_FILE = /\.test\.ya?ml$/;

/** Throws what loadPolicyDirectory and activation throw when the policies themselves are unusable. */
export async function runPolicyTests(dir: string, options: { coverage?: boolean } = {}): Promise<SuiteResult> {
  const pipeline = new AdmissionPipeline();
  const set = await pipeline.activate(await loadPolicyDirectory(dir));
  const coverage = options.coverage ? new CoverageTracker(set) : undefined;
  // An example's tests need the example's own policies, which are not active until copied in; a pack
  // that data/packs.yaml switches off has no active policies for its tests to find.
  const relative = (file: string) => path.relative(dir, file).split(path.sep).join('/');
  const files = (await findFiles(dir, (name) => TEST_FILE.test(name))).filter((file) => !isExample(relative(file)) && !inPackSwitchedOff(relative(file), set));
  const results: CaseResult[] = [];
  const problems: PolicyDiagnostic[] = [];
  for (const file of files) {
    const read = await readTestFile(file, dir);
    problems.push(...read.problems);
    for (const testCase of read.cases) results.push(await runCase(pipeline, testCase, coverage));
  }
  return { files, results, problems, ...(coverage ? { coverage: coverage.report() } : {}) };
}
