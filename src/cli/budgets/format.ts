// How amounts read to people, in every format for people (terminal, HTML): money in the budget's
// currency with 2 decimals, CPU and memory as Kubernetes writes them, percentages with one decimal.
import { formatBytes, formatCpu } from '../../kubernetes/quantity/index.js';
import type { AmountKey } from '../../kubernetes/objects/fleet-budget.js';
import type { BudgetsReport } from './report.js';

/** What each amount is called. */
export const AMOUNT_LABELS: Record<AmountKey, string> = { cpuMillis: 'cpu', memoryBytes: 'memory', gpus: 'GPUs', monthlyCostMicros: 'monthly cost' };

/** a / b rounded half away from zero, b > 0. */
function roundDiv(a: bigint, b: bigint): bigint {
  const half = b / 2n;
  return a >= 0n ? (a + half) / b : -((-a + half) / b);
}

/** Micro-units of a currency → "1234.57 USD" (to the nearest cent, half away from zero). */
export function money(micros: bigint, currency: string): string {
  const cents = roundDiv(micros, 10_000n);
  const magnitude = cents < 0n ? -cents : cents;
  return `${cents < 0n ? '-' : ''}${magnitude / 100n}.${String(magnitude % 100n).padStart(2, '0')} ${currency}`;
}

/** One amount as people read it: "1500m" CPU, "3Gi" memory, "4" GPUs, "12.50 USD". Negative amounts keep their sign. */
export function amountText(key: AmountKey, value: bigint, currency: string): string {
  if (key === 'monthlyCostMicros') return money(value, currency);
  const sign = value < 0n ? '-' : '';
  const magnitude = value < 0n ? -value : value;
  if (key === 'cpuMillis') return `${sign}${formatCpu(magnitude)}`;
  if (key === 'memoryBytes') return `${sign}${formatBytes(magnitude)}`;
  return `${sign}${magnitude}`;
}

/** used / limit as "56.3%" (one decimal, half up), or "-" without a limit; "∞" for a limit of 0 with use. */
export function percentText(used: bigint, limit: bigint | undefined): string {
  if (limit === undefined) return '-';
  if (limit <= 0n) return used > 0n ? '∞' : '-';
  const tenths = roundDiv(used * 1000n, limit);
  return `${tenths / 10n}.${tenths % 10n}%`;
}

/** "1 GPU", "3 GPUs". */
export const gpusText = (count: bigint): string => `${count} ${count === 1n ? 'GPU' : 'GPUs'}`;

/** A region or provider a cluster did not publish. */
export const placeText = (name: string): string => name || '(unknown)';

/** What every format says of a cluster whose grant has expired. */
export const notRenewing = (expiresAt: string): string => `not renewing since ${expiresAt}`;

/**
 * Text for a terminal: the control characters an object may hold (an escape sequence in a tenant's name,
 * a newline in a cluster's) shown as U+FFFD, one for one, so they neither drive the terminal nor break a line.
 */
export const printable = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');

/** The lines naming what could not be reported: FleetBudgets unreadable, tenants not found (one line each). */
export function problemLines(report: BudgetsReport): string[] {
  return [
    ...report.unreadable.map((u) => `FleetBudget ${u.name} (namespace ${u.namespace}) could not be read: ${u.reason}`),
    ...report.tenantsNotFound.map((tenant) => `no FleetBudget in namespace ${report.namespace} is for tenant ${tenant}`),
  ].map(printable);
}
