// Policy tests: YAML cases next to the policies, run through the webhooks' own pipeline.
export { parseTestFile, readTestFile, reviewOf, type CaseExpectation, type TestCase } from './cases.js';
export { CoverageTracker, unmatchedPolicies, type PolicyCoverage } from './coverage.js';
export { junitReport, textReport } from './report.js';
export { runCase, type CaseOutcome, type CaseResult } from './run.js';
export { runPolicyTests, type SuiteResult } from './suite.js';
export { runPolicyTestsFromFiles, TEST_FILE } from './in-memory.js';
