// The impact report: Markdown for a pull-request comment, JSON for machines.
import path from 'node:path';
import type { Change, Comparison, Outcome } from './compare.js';

export interface ImpactReport extends Comparison {
  from: string;
  to: string;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const ids = (list: readonly string[]) => list.map((id) => `\`${id}\``).join(', ');

function describeOutcome(outcome: Outcome): string {
  const parts = [outcome.allowed ? 'allowed' : outcome.denied.length > 0 ? `denied by ${ids(outcome.denied)}` : 'denied'];
  if (!outcome.allowed && outcome.denied.length === 0 && outcome.message) parts.push(`(${outcome.message})`);
  if (outcome.patch.length > 0) parts.push(`patched by ${ids(outcome.mutations)} (${outcome.patch.length} operations)`);
  return parts.join(', ');
}

export function counts(report: ImpactReport): { newlyDenied: number; newlyAllowed: number; other: number } {
  const newlyDenied = report.changes.filter((c) => c.before.allowed && !c.after.allowed).length;
  const newlyAllowed = report.changes.filter((c) => !c.before.allowed && c.after.allowed).length;
  return { newlyDenied, newlyAllowed, other: report.changes.length - newlyDenied - newlyAllowed };
}

function row(change: Change): string {
  return `| ${cell(change.request)}<br>\`${cell(path.basename(change.source))}\` | ${cell(describeOutcome(change.before))} | ${cell(describeOutcome(change.after))} | ${change.changed.join(', ')} |`;
}

export function markdownReport(report: ImpactReport): string {
  const { newlyDenied, newlyAllowed, other } = counts(report);
  const lines = [
    '## Canopy policy impact',
    '',
    `\`${report.from}\` → \`${report.to}\`: ${report.replayed} requests replayed, ` +
      (report.changes.length === 0
        ? '**no outcome changes**.'
        : `**${report.changes.length} outcome${report.changes.length === 1 ? ' changes' : 's change'}**: ${newlyDenied} newly denied, ${newlyAllowed} newly allowed, ${other} with other changes (denying policies or patch).`),
  ];
  if (report.changes.length > 0) {
    lines.push('', '| request | before | after | changed |', '|---|---|---|---|', ...report.changes.map(row));
  }
  if (report.problems.length > 0) {
    lines.push('', `${report.problems.length} request(s) could not be replayed:`, '', ...report.problems.map((p) => `- ${p}`));
  }
  return `${lines.join('\n')}\n`;
}

export function jsonReport(report: ImpactReport): string {
  return `${JSON.stringify({ from: report.from, to: report.to, replayed: report.replayed, ...counts(report), changes: report.changes, problems: report.problems }, null, 2)}\n`;
}
