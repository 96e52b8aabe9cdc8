// Running test cases through the same pipeline the webhooks use, and comparing with what is expected.
import { isDeepStrictEqual } from 'node:util';
import { AdmissionReviewError } from '../../kubernetes/admission/index.js';
import { summarizeAdmission, type AdmissionPipeline, type AdmissionSummary } from '../../pipeline/index.js';
import { toCedarRequest } from '../translate/index.js';
import type { CoverageTracker } from './coverage.js';
import { reviewOf, type TestCase } from './cases.js';
import { messageOf } from '../../operations/errors/index.js';

export type CaseOutcome = AdmissionSummary;

export interface CaseResult {
  testCase: TestCase;
  passed: boolean;
  /** One line per expectation that did not hold. */
  failures: string[];
  outcome?: CaseOutcome;
  /** The case could not be run (unreadable review file, invalid request). */
  error?: string;
}

const sorted = (ids: readonly string[]) => [...ids].sort();
const list = (ids: readonly string[]) => (ids.length === 0 ? 'none' : ids.join(', '));

function compare(testCase: TestCase, outcome: CaseOutcome): string[] {
  const failures: string[] = [];
  const { expect } = testCase;
  if (expect.allowed !== undefined && expect.allowed !== outcome.allowed) {
    failures.push(`expected ${expect.allowed ? 'allowed' : 'denied'}, got ${outcome.allowed ? 'allowed' : 'denied'}`);
  }
  for (const key of ['denied', 'warnings'] as const) {
    const expected = expect[key];
    if (expected && !isDeepStrictEqual(sorted(expected), sorted(outcome[key]))) {
      failures.push(`expected ${key} [${list(sorted(expected))}], got [${list(sorted(outcome[key]))}]`);
    }
  }
  if (expect.mutations && !isDeepStrictEqual(expect.mutations, outcome.mutations)) {
    failures.push(`expected mutations [${list(expect.mutations)}], got [${list(outcome.mutations)}]`);
  }
  if (expect.patch && !isDeepStrictEqual(expect.patch, outcome.patch)) {
    failures.push(`expected patch ${JSON.stringify(expect.patch)}, got ${JSON.stringify(outcome.patch)}`);
  }
  return failures;
}

/** `read` reads a review file (by its absolute path); by default from disk. */
export async function runCase(pipeline: AdmissionPipeline, testCase: TestCase, coverage?: CoverageTracker, read?: (file: string) => Promise<string>): Promise<CaseResult> {
  let review: Record<string, unknown>;
  try {
    review = await reviewOf(testCase, read);
  } catch (error) {
    return { testCase, passed: false, failures: [], error: `cannot read the review: ${messageOf(error)}` };
  }
  const facts = { ...testCase.facts, ...(testCase.namespaceLabels ? { namespaceLabels: testCase.namespaceLabels } : {}) };
  let result;
  try {
    result = pipeline.admit(review, facts);
  } catch (error) {
    if (error instanceof AdmissionReviewError) return { testCase, passed: false, failures: [], error: `not a valid AdmissionReview v1: ${error.message}` };
    throw error;
  }
  const outcome = summarizeAdmission(result);
  if (coverage) {
    coverage.record(toCedarRequest(result.mutation.request, facts), [...outcome.denied, ...outcome.warnings, ...outcome.audits, ...outcome.mutations]);
  }
  const failures = compare(testCase, outcome);
  return { testCase, passed: failures.length === 0, failures, outcome };
}
