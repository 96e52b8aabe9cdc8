// How a test run reads: a summary for people, JUnit XML for CI systems.
import path from 'node:path';
import { formatDiagnostic } from '../engine/index.js';
import { unmatchedPolicies } from './coverage.js';
import type { CaseResult } from './run.js';
import type { SuiteResult } from './suite.js';

const list = (ids: readonly string[]) => (ids.length === 0 ? 'none' : ids.join(', '));
const policies = (n: number) => (n === 1 ? '1 policy' : `${n} policies`);

function decidedBy(result: CaseResult): string {
  const outcome = result.outcome;
  if (!outcome) return '';
  return `got: ${outcome.allowed ? 'allowed' : 'denied'}; denied by [${list(outcome.denied)}]; warnings [${list(outcome.warnings)}]; mutations [${list(outcome.mutations)}]`;
}

export function textReport(suite: SuiteResult, root: string): string {
  const lines: string[] = [];
  let currentFile = '';
  for (const result of suite.results) {
    const file = path.relative(root, result.testCase.file) || result.testCase.file;
    if (file !== currentFile) {
      lines.push(file);
      currentFile = file;
    }
    lines.push(`  ${result.passed ? '✓' : '✗'} ${result.testCase.name}`);
    if (result.passed) continue;
    const where = `${file}:${result.testCase.line}`;
    if (result.error) lines.push(`      ${where}: ${result.error}`);
    for (const failure of result.failures) lines.push(`      ${where}: ${failure}`);
    if (result.outcome) {
      lines.push(`      ${decidedBy(result)}`);
      if (result.outcome.message) lines.push(`      message: ${result.outcome.message}`);
    }
  }
  for (const problem of suite.problems) lines.push(`✗ ${formatDiagnostic(problem)}`);
  if (suite.coverage) {
    lines.push('', 'coverage (cases where the policy matched / was in scope and did not match):');
    for (const entry of suite.coverage) {
      const note =
        entry.matched === 0 && entry.notMatched === 0
          ? 'NO MATCHING CASE (and no case in its scope)'
          : entry.matched === 0
            ? 'NO MATCHING CASE'
            : entry.notMatched === 0
              ? 'never in scope without matching'
              : '';
      lines.push(`  ${entry.id} (${entry.kind}): ${entry.matched} / ${entry.notMatched}${note ? `  ${note}` : ''}`);
    }
    const unmatched = unmatchedPolicies(suite.coverage);
    lines.push(
      unmatched.length === 0
        ? '  every policy is matched by at least one case'
        : `  ✗ no case matches ${policies(unmatched.length)}: ${unmatched.join(', ')} (add a case where each denies, warns, audits or mutates)`,
    );
  }
  const failed = suite.results.filter((r) => !r.passed).length;
  const passed = suite.results.length - failed;
  const unmatched = suite.coverage ? unmatchedPolicies(suite.coverage).length : 0;
  lines.push(
    '',
    `${suite.results.length} cases in ${suite.files.length} files: ${passed} passed, ${failed} failed` +
      `${suite.problems.length > 0 ? `, ${suite.problems.length} unreadable` : ''}` +
      `${unmatched > 0 ? `; ${policies(unmatched)} without a matching case` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}

const xml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/[^\x09\x0a\x0d\x20-\uffff]/g, '');

export function junitReport(suite: SuiteResult, root: string): string {
  const byFile = new Map<string, CaseResult[]>();
  for (const result of suite.results) {
    const file = path.relative(root, result.testCase.file) || result.testCase.file;
    byFile.set(file, [...(byFile.get(file) ?? []), result]);
  }
  const suites = [...byFile.entries()].map(([file, results]) => {
    const failures = results.filter((r) => !r.passed).length;
    const cases = results.map((r) => {
      const open = `    <testcase classname="${xml(file)}" name="${xml(r.testCase.name)}">`;
      if (r.passed) return `${open}</testcase>`;
      const details = [r.error, ...r.failures, decidedBy(r), r.outcome?.message].filter(Boolean).join('\n');
      const first = r.error ?? r.failures[0] ?? 'failed';
      return `${open}\n      <failure message="${xml(first)}">${xml(details)}</failure>\n    </testcase>`;
    });
    return `  <testsuite name="${xml(file)}" tests="${results.length}" failures="${failures}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  const problems = suite.problems.map(
    (p) => `  <testsuite name="${xml(p.position.file)}" tests="1" errors="1">\n    <testcase classname="${xml(p.position.file)}" name="read"><error message="${xml(formatDiagnostic(p))}"/></testcase>\n  </testsuite>`,
  );
  // With --coverage, one test per policy: it fails when no case matches the policy.
  const coverage = suite.coverage ?? [];
  const unmatched = new Set(unmatchedPolicies(coverage));
  if (coverage.length > 0) {
    const cases = coverage.map((entry) => {
      const open = `    <testcase classname="coverage" name="${xml(entry.id)}">`;
      if (!unmatched.has(entry.id)) return `${open}</testcase>`;
      const message = `no case matches ${entry.kind} ${entry.id} (${entry.notMatched} in its scope, none matching)`;
      return `${open}\n      <failure message="${xml(message)}">${xml(message)}</failure>\n    </testcase>`;
    });
    suites.push(`  <testsuite name="coverage" tests="${coverage.length}" failures="${unmatched.size}">\n${cases.join('\n')}\n  </testsuite>`);
  }
  const tests = suite.results.length + coverage.length;
  const failures = suite.results.filter((r) => !r.passed).length + unmatched.size;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="canopy test" tests="${tests}" failures="${failures}" errors="${suite.problems.length}">\n${[...suites, ...problems].join('\n')}\n</testsuites>\n`;
}
