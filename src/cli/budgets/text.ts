// The budgets report in a terminal: per tenant, a table of limits, use, grants and what is free; spend
// and GPUs by cluster, region and provider; the daily trend; clusters that stopped renewing flagged.
import { AMOUNT_KEYS } from '../../kubernetes/objects/fleet-budget.js';
import { AMOUNT_LABELS, amountText, money, notRenewing, percentText, placeText, printable, problemLines } from './format.js';
import type { BudgetsReport, SpendLine, TenantReport } from './report.js';

/** Rows padded into columns, two spaces in; `right` marks the columns of numbers. Cells may hold what objects say. */
function table(header: readonly string[], given: readonly (readonly string[])[], right: readonly boolean[]): string[] {
  const rows = given.map((cells) => cells.map(printable));
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => `  ${cells.map((cell, i) => (right[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)];
}

function budgetTable(t: TenantReport): string[] {
  const rows = AMOUNT_KEYS.map((key) => {
    const limit = t.limits[key];
    const free = t.free[key];
    return [
      AMOUNT_LABELS[key],
      limit === undefined ? '-' : amountText(key, limit, t.currency),
      amountText(key, t.used[key], t.currency),
      percentText(t.used[key], limit),
      amountText(key, t.granted[key], t.currency),
      free === undefined ? '-' : amountText(key, free, t.currency),
    ];
  });
  return table(['budget', 'limit', 'used', 'used %', 'granted', 'free'], rows, [false, true, true, true, true, true]);
}

function spendTable(title: string, lines: readonly SpendLine[], currency: string): string[] {
  return table([title, 'spend/month', 'GPUs'], lines.map((line) => [placeText(line.name), money(line.monthlyCostMicros, currency), `${line.gpus}`]), [false, true, true]);
}

function tenantText(t: TenantReport): string[] {
  const lines = ['', printable(`Tenant ${t.tenant}: FleetBudget ${t.budget}, in ${t.currency}`), ...budgetTable(t)];
  lines.push('', '  Clusters (granted: what the cluster holds of the budget now)');
  if (t.clusters.length === 0) lines.push('  no cluster has taken a grant yet');
  else {
    const rows = t.clusters.map((c) => [
      c.cluster,
      placeText(c.region),
      placeText(c.provider),
      money(c.used.monthlyCostMicros, t.currency),
      `${c.used.gpus}`,
      `${c.held.gpus}`,
      c.expired ? `EXPIRED: ${notRenewing(c.expiresAt)}` : `holds until ${c.expiresAt}`,
    ]);
    lines.push(...table(['cluster', 'region', 'provider', 'spend/month', 'GPUs', 'granted GPUs', 'grant'], rows, [false, false, false, true, true, true, false]));
    for (const c of t.clusters.filter((line) => line.expired)) {
      lines.push(printable(`  ! ${c.cluster}: ${notRenewing(c.expiresAt)}: its grant no longer holds; it counts as what it last used (updated ${c.updatedAt})`));
    }
    lines.push('', ...spendTable('region', t.byRegion, t.currency), '', ...spendTable('provider', t.byProvider, t.currency));
  }
  lines.push('');
  if (t.trend.length === 0) lines.push('  Trend: no history yet: no cluster has published daily usage for this budget');
  else {
    lines.push('  Trend (the fleet per day, oldest first)');
    lines.push(...table(['date', 'spend/month', 'GPUs'], t.trend.map((day) => [day.date, money(day.monthlyCostMicros, t.currency), `${day.gpus}`]), [false, true, true]));
  }
  return lines;
}

/** The terminal report; `problems: false` leaves out what could not be read (for when it goes to standard error). */
export function textReport(report: BudgetsReport, options: { problems?: boolean } = {}): string {
  const count = report.tenants.length;
  const lines = [`canopy budgets: ${count} ${count === 1 ? 'budget' : 'budgets'} in namespace ${report.namespace} of the fleet store ${report.server}, at ${report.generatedAt}`];
  if (count === 0) lines.push('', 'No FleetBudget to report.');
  for (const tenant of report.tenants) lines.push(...tenantText(tenant));
  if (options.problems !== false) {
    const problems = problemLines(report);
    if (problems.length > 0) lines.push('', ...problems.map((problem) => `error: ${problem}`));
  }
  return `${lines.join('\n')}\n`;
}
