// `canopy test [DIR] [--junit FILE] [--coverage]`: the policy tests; with --coverage, every policy must
// also be matched by at least one case.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { junitReport, runPolicyTests, textReport, unmatchedPolicies } from '../../policy/tests/index.js';
import { EXIT, isPolicyProblem } from '../output.js';

interface TestOptions {
  junit?: string;
  coverage: boolean;
}

export function registerTest(program: Command): void {
  program
    .command('test')
    .description('run the policy tests (*.test.yaml) under a policy directory (exit 0 all pass, 1 any fails, or with --coverage a policy no case matches)')
    .argument('[dir]', 'the policy directory', './policies')
    .option('--junit <file>', 'also write the results as JUnit XML, for CI')
    .option('--coverage', 'list each policy with the cases that matched it, and fail when no case matches a policy', false)
    .action(async (dir: string, options: TestOptions) => {
      let suite;
      try {
        suite = await runPolicyTests(dir, { coverage: options.coverage });
      } catch (error) {
        if (!isPolicyProblem(error)) throw error;
        process.stderr.write(`canopy test: ${dir}: ${error.message}\n`);
        process.exitCode = EXIT.invalid;
        return;
      }
      process.stdout.write(textReport(suite, dir));
      if (options.junit) await writeFile(options.junit, junitReport(suite, dir));
      // With --coverage, a policy that no case matches fails the run: nothing shows it catches anything.
      const unmatched = suite.coverage ? unmatchedPolicies(suite.coverage) : [];
      const failed = suite.results.some((r) => !r.passed) || suite.problems.length > 0 || suite.results.length === 0 || unmatched.length > 0;
      if (suite.results.length === 0) process.stderr.write(`canopy test: no test cases under ${dir} (files named *.test.yaml)\n`);
      if (unmatched.length > 0) process.stderr.write(`canopy test: --coverage: no case matches ${unmatched.join(', ')}\n`);
      process.exitCode = failed ? 1 : 0;
    });
}
