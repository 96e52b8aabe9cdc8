// How a test run reads: a summary for people, JUnit XML for CI systems.
import path from 'node:path';
import { formatDiagnostic } from '../engine/index.js';
import type { CaseResult } from './run.js';
import type { SuiteResult } from './suite.js';

const list = (ids: readonly string[]) => (ids.length === 0 ? 'none' : ids.join(', '));

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
          ? 'NOT EXERCISED'
          : entry.matched === 0
            ? 'never matched'
            : entry.notMatched === 0
              ? 'never in scope without matching'
              : '';
      lines.push(`  ${entry.id} (${entry.kind}): ${entry.matched} / ${entry.notMatched}${note ? `  ${note}` : ''}`);
    }
    const untested = suite.coverage.filter((c) => c.matched === 0 && c.notMatched === 0).map((c) => c.id);
    lines.push(untested.length === 0 ? '  every policy is exercised' : `  not exercised by any case: ${untested.join(', ')}`);
  }
  const failed = suite.results.filter((r) => !r.passed).length;
  const passed = suite.results.length - failed;
  lines.push('', `${suite.results.length} cases in ${suite.files.length} files: ${passed} passed, ${failed} failed${suite.problems.length > 0 ? `, ${suite.problems.length} unreadable` : ''}`);
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
  const failures = suite.results.filter((r) => !r.passed).length;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="canopy test" tests="${suite.results.length}" failures="${failures}" errors="${suite.problems.length}">\n${[...suites, ...problems].join('\n')}\n</testsuites>\n`;
}
