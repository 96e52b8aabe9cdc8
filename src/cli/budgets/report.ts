// The FinOps aggregate of the FleetBudgets read: per tenant, its limits, what the fleet uses and holds,
// what is free, spend and GPUs by cluster, region and provider, and the daily trend. Amounts stay exact
// integers (bigint) here; each format turns them into what its readers want.
import {
  AMOUNT_KEYS,
  fleetUsed,
  held,
  holds,
  NO_AMOUNTS,
  type AmountKey,
  type FleetAmounts,
  type FleetBudget,
  type FleetLimits,
} from '../../kubernetes/objects/fleet-budget.js';
import type { FleetBudgets, UnreadableBudget } from './read.js';

/** One cluster's line of a tenant's ledger. */
export interface ClusterLine {
  cluster: string;
  region: string;
  provider: string;
  /** The grant as the cluster published it. */
  granted: FleetAmounts;
  used: FleetAmounts;
  /** What the cluster takes of the budget now: its grant (or its use, if larger) while the grant holds, else its use. */
  held: FleetAmounts;
  expiresAt: string;
  updatedAt: string;
  /** The grant expired (expiresAt is past): the cluster is not renewing, and counts as its use only. */
  expired: boolean;
}

/** Spend (monthly cost of what is used) and GPUs used, of one cluster, region or provider. */
export interface SpendLine {
  name: string;
  monthlyCostMicros: bigint;
  gpus: bigint;
}

/** One day of the fleet's history: the clusters' samples of that date, summed. */
export interface TrendPoint {
  date: string;
  monthlyCostMicros: bigint;
  gpus: bigint;
}

export interface TenantReport {
  tenant: string;
  /** The FleetBudget object's name. */
  budget: string;
  currency: string;
  /** The limits set (a limit not set is absent). */
  limits: FleetLimits;
  /** The fleet's use: the sum of every cluster's published use. */
  used: FleetAmounts;
  /** What the clusters hold of the budget now (the sum of their `held`). */
  granted: FleetAmounts;
  /** Per limit set: the limit less what is granted; negative when the clusters hold more than the limit. */
  free: FleetLimits;
  /** Per limit set: used as a percentage of the limit, to 0.01; null for a limit of 0. */
  percentUsed: Partial<Record<AmountKey, number | null>>;
  clusters: ClusterLine[];
  /** Highest spend first. */
  byCluster: SpendLine[];
  byRegion: SpendLine[];
  byProvider: SpendLine[];
  /** Oldest first; empty when no cluster has published a history yet. */
  trend: TrendPoint[];
}

export interface BudgetsReport {
  generatedAt: string;
  server: string;
  namespace: string;
  /** By tenant, then by FleetBudget name. */
  tenants: TenantReport[];
  unreadable: UnreadableBudget[];
  tenantsNotFound: string[];
}

const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const bySpend = (a: SpendLine, b: SpendLine) => (a.monthlyCostMicros > b.monthlyCostMicros ? -1 : a.monthlyCostMicros < b.monthlyCostMicros ? 1 : byName(a, b));

function add(total: FleetAmounts, amounts: FleetAmounts): void {
  for (const key of AMOUNT_KEYS) total[key] += amounts[key];
}

/** used / limit in percent, rounded half up to 0.01; null when the limit is 0. */
export function percentOf(used: bigint, limit: bigint): number | null {
  if (limit <= 0n) return null;
  return Number((used * 10_000n * 2n + limit) / (limit * 2n)) / 100;
}

function spendBy(clusters: readonly ClusterLine[], keyOf: (line: ClusterLine) => string): SpendLine[] {
  const lines = new Map<string, SpendLine>();
  for (const line of clusters) {
    const name = keyOf(line);
    const entry = lines.get(name) ?? { name, monthlyCostMicros: 0n, gpus: 0n };
    entry.monthlyCostMicros += line.used.monthlyCostMicros;
    entry.gpus += line.used.gpus;
    lines.set(name, entry);
  }
  return [...lines.values()].sort(bySpend);
}

function trendOf(budget: FleetBudget): TrendPoint[] {
  const days = new Map<string, TrendPoint>();
  for (const grant of Object.values(budget.clusters)) {
    for (const sample of grant.history) {
      const day = days.get(sample.date) ?? { date: sample.date, monthlyCostMicros: 0n, gpus: 0n };
      day.monthlyCostMicros += sample.used.monthlyCostMicros;
      day.gpus += sample.used.gpus;
      days.set(sample.date, day);
    }
  }
  return [...days.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
}

export function tenantReport(budget: FleetBudget, now: number): TenantReport {
  const clusters: ClusterLine[] = Object.entries(budget.clusters)
    .map(([cluster, grant]) => ({
      cluster,
      region: grant.region,
      provider: grant.provider,
      granted: grant.granted,
      used: grant.used,
      held: held(grant, now),
      expiresAt: grant.expiresAt,
      updatedAt: grant.updatedAt,
      expired: !holds(grant, now),
    }))
    .sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
  const used = fleetUsed(budget);
  const granted = { ...NO_AMOUNTS };
  for (const line of clusters) add(granted, line.held);
  const free: FleetLimits = {};
  const percentUsed: Partial<Record<AmountKey, number | null>> = {};
  for (const key of AMOUNT_KEYS) {
    const limit = budget.limits[key];
    if (limit === undefined) continue;
    free[key] = limit - granted[key];
    percentUsed[key] = percentOf(used[key], limit);
  }
  return {
    tenant: budget.tenant,
    budget: budget.name,
    currency: budget.currency,
    limits: budget.limits,
    used,
    granted,
    free,
    percentUsed,
    clusters,
    byCluster: spendBy(clusters, (line) => line.cluster),
    byRegion: spendBy(clusters, (line) => line.region),
    byProvider: spendBy(clusters, (line) => line.provider),
    trend: trendOf(budget),
  };
}

/** The report of what was read, at `now` (ms): whose grants hold is decided then. */
export function budgetsReport(read: FleetBudgets, now: number): BudgetsReport {
  const tenants = read.budgets
    .map((budget) => tenantReport(budget, now))
    .sort((a, b) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : a.budget < b.budget ? -1 : a.budget > b.budget ? 1 : 0));
  return {
    generatedAt: new Date(now).toISOString(),
    server: read.server,
    namespace: read.namespace,
    tenants,
    unreadable: read.unreadable,
    tenantsNotFound: read.tenantsNotFound,
  };
}

/** Whether the report lacks something it was asked for: a FleetBudget unreadable, a tenant not found. */
export const incomplete = (report: BudgetsReport): boolean => report.unreadable.length > 0 || report.tenantsNotFound.length > 0;
