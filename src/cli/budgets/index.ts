// budgets/: `canopy budgets`, the FinOps report of fleet-wide budgets: reading the FleetBudgets of the
// fleet store (read.ts), the aggregate per tenant (report.ts), and the report as text, JSON and HTML.
export { BudgetsError, fleetBudgetsPath, readFleetBudgets, type BudgetsSource, type FleetBudgets, type UnreadableBudget } from './read.js';
export { budgetsReport, incomplete, type BudgetsReport, type ClusterLine, type SpendLine, type TenantReport, type TrendPoint } from './report.js';
export { problemLines } from './format.js';
export { textReport } from './text.js';
export { BUDGETS_JSON_VERSION, budgetsJson, jsonReport, type BudgetsJson, type ClusterJson, type JsonAmount, type JsonAmounts, type TenantJson } from './json.js';
export { htmlReport } from './html.js';
