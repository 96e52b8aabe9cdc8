// `canopy test [DIR] [--junit FILE] [--coverage]`: the policy tests; with --coverage, every policy must
// also be matched by at least one case.
import { writeFile } from 'node:fs/promises';
import { junitReport, runPolicyTests, textReport, unmatchedPolicies } from '../../policy/tests/index.js';
import { EXIT, isPolicyProblem } from '../output.js';
import { pathIn, type CliIo } from '../io.js';
import type { TestOptions } from '../options.js';

export async function testPolicies(dir: string, options: TestOptions, io: CliIo): Promise<number> {
  // The reports name test files relative to the directory as the file system finds it.
  const root = pathIn(io, dir);
  let suite;
  try {
    suite = await runPolicyTests(root, { coverage: options.coverage });
  } catch (error) {
    if (!isPolicyProblem(error)) throw error;
    io.stderr.write(`canopy test: ${dir}: ${error.message}\n`);
    return EXIT.invalid;
  }
  io.stdout.write(textReport(suite, root));
  if (options.junit) await writeFile(pathIn(io, options.junit), junitReport(suite, root));
  // With --coverage, a policy that no case matches fails the run: nothing shows it catches anything.
  const unmatched = suite.coverage ? unmatchedPolicies(suite.coverage) : [];
  const failed = suite.results.some((r) => !r.passed) || suite.problems.length > 0 || suite.results.length === 0 || unmatched.length > 0;
  if (suite.results.length === 0) io.stderr.write(`canopy test: no test cases under ${dir} (files named *.test.yaml)\n`);
  if (unmatched.length > 0) io.stderr.write(`canopy test: --coverage: no case matches ${unmatched.join(', ')}\n`);
  return failed ? 1 : 0;
}
