// The budgets report for machines: a stable JSON shape, versioned. Its types below are its documentation.
//
// Amounts are objects of `cpuMillis` (millicores), `memoryBytes` (bytes), `gpus` (a count) and
// `monthlyCost` (units of the tenant's `currency` per month, up to 6 decimals). Each is a JSON number
// when a number holds it exactly (integers up to 2^53 - 1; for monthlyCost, up to 15 digits, below a
// billion), else a string of the exact decimal. A new field may be added within a version; a field's meaning or type
// changes only with a new `version`.
import { AMOUNT_KEYS, type AmountKey, type FleetAmounts, type FleetLimits } from '../../kubernetes/objects/fleet-budget.js';
import { notRenewing } from './format.js';
import type { BudgetsReport, SpendLine, TenantReport } from './report.js';

/** The version of this shape. */
export const BUDGETS_JSON_VERSION = 1;

/** A number when exact as one, else the exact decimal as a string. */
export type JsonAmount = number | string;

export interface JsonAmounts {
  cpuMillis: JsonAmount;
  memoryBytes: JsonAmount;
  gpus: JsonAmount;
  /** In units of the currency, per month (a number below a billion, else a string). */
  monthlyCost: JsonAmount;
}

export interface BudgetsJson {
  version: typeof BUDGETS_JSON_VERSION;
  /** When the report was made (ISO 8601): whether a grant has expired is decided at that instant. */
  generatedAt: string;
  /** Where the FleetBudgets were read: the fleet store's address and the namespace. */
  store: { server: string; namespace: string };
  /** One per readable FleetBudget, by tenant then FleetBudget name. */
  tenants: TenantJson[];
  /** FleetBudgets that could not be read (they grant nothing): the object's name and why. */
  unreadable: { name: string; namespace: string; reason: string }[];
  /** Tenants asked for with --tenant that no FleetBudget is for. */
  tenantsNotFound: string[];
}

export interface TenantJson {
  tenant: string;
  /** The FleetBudget's metadata.name. */
  budget: string;
  currency: string;
  /** Only the limits the budget sets. */
  limits: Partial<JsonAmounts>;
  /** The fleet's use: the sum of every cluster's published use. */
  used: JsonAmounts;
  /** What the clusters hold of the budget now: each grant that holds (or its use, if larger); an expired one's use only. */
  granted: JsonAmounts;
  /** Per limit set: limit - granted; negative when the clusters hold more than the limit. */
  free: Partial<JsonAmounts>;
  /** Per limit set: used as a percentage of the limit, to 0.01; null when the limit is 0. */
  percentUsed: Partial<Record<keyof JsonAmounts, number | null>>;
  clusters: ClusterJson[];
  /** Spend (monthly cost of what is used, in the currency) and GPUs used; highest spend first. */
  spend: {
    total: { monthlyCost: JsonAmount; gpus: JsonAmount };
    byCluster: { cluster: string; monthlyCost: JsonAmount; gpus: JsonAmount }[];
    /** "" is a region no cluster published. */
    byRegion: { region: string; monthlyCost: JsonAmount; gpus: JsonAmount }[];
    byProvider: { provider: string; monthlyCost: JsonAmount; gpus: JsonAmount }[];
  };
  /** The fleet per day from the clusters' histories, oldest first; [] when there is no history yet. */
  trend: { date: string; monthlyCost: JsonAmount; gpus: JsonAmount }[];
}

export interface ClusterJson {
  cluster: string;
  region: string;
  provider: string;
  /** The grant as the cluster published it. */
  granted: JsonAmounts;
  used: JsonAmounts;
  /** What it takes of the budget now: its grant (or use, if larger) while the grant holds, else its use. */
  held: JsonAmounts;
  expiresAt: string;
  updatedAt: string;
  /** The grant has expired: the cluster is not renewing it, and counts as its use only. */
  expired: boolean;
  /** When expired: "not renewing since <expiresAt>". */
  notice?: string;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** A decimal of at most 15 significant digits reads back unchanged from its nearest double. */
const SAFE_MICROS = 10n ** 15n;

/** An integer as a number when exact, else as a string. */
export function integerJson(value: bigint): JsonAmount {
  return value <= SAFE && value >= -SAFE ? Number(value) : value.toString();
}

/** Micro-units as a decimal amount of the currency: a number when exact, else a string. */
export function moneyJson(micros: bigint): JsonAmount {
  const magnitude = micros < 0n ? -micros : micros;
  const fraction = String(magnitude % 1_000_000n).padStart(6, '0').replace(/0+$/, '');
  const text = `${micros < 0n ? '-' : ''}${magnitude / 1_000_000n}${fraction ? `.${fraction}` : ''}`;
  return magnitude < SAFE_MICROS ? Number(text) : text;
}

const NAMES: Record<AmountKey, keyof JsonAmounts> = { cpuMillis: 'cpuMillis', memoryBytes: 'memoryBytes', gpus: 'gpus', monthlyCostMicros: 'monthlyCost' };
const valueJson = (key: AmountKey, value: bigint): JsonAmount => (key === 'monthlyCostMicros' ? moneyJson(value) : integerJson(value));

function amountsJson(amounts: FleetAmounts): JsonAmounts {
  return { cpuMillis: integerJson(amounts.cpuMillis), memoryBytes: integerJson(amounts.memoryBytes), gpus: integerJson(amounts.gpus), monthlyCost: moneyJson(amounts.monthlyCostMicros) };
}

function partialJson(amounts: FleetLimits): Partial<JsonAmounts> {
  const out: Partial<JsonAmounts> = {};
  for (const key of AMOUNT_KEYS) {
    const value = amounts[key];
    if (value !== undefined) out[NAMES[key]] = valueJson(key, value);
  }
  return out;
}

const spendJson = (line: SpendLine) => ({ monthlyCost: moneyJson(line.monthlyCostMicros), gpus: integerJson(line.gpus) });

function tenantJson(t: TenantReport): TenantJson {
  const percentUsed: TenantJson['percentUsed'] = {};
  for (const key of AMOUNT_KEYS) {
    const percent = t.percentUsed[key];
    if (percent !== undefined) percentUsed[NAMES[key]] = percent;
  }
  return {
    tenant: t.tenant,
    budget: t.budget,
    currency: t.currency,
    limits: partialJson(t.limits),
    used: amountsJson(t.used),
    granted: amountsJson(t.granted),
    free: partialJson(t.free),
    percentUsed,
    clusters: t.clusters.map((c) => ({
      cluster: c.cluster,
      region: c.region,
      provider: c.provider,
      granted: amountsJson(c.granted),
      used: amountsJson(c.used),
      held: amountsJson(c.held),
      expiresAt: c.expiresAt,
      updatedAt: c.updatedAt,
      expired: c.expired,
      ...(c.expired ? { notice: notRenewing(c.expiresAt) } : {}),
    })),
    spend: {
      total: { monthlyCost: moneyJson(t.used.monthlyCostMicros), gpus: integerJson(t.used.gpus) },
      byCluster: t.byCluster.map((line) => ({ cluster: line.name, ...spendJson(line) })),
      byRegion: t.byRegion.map((line) => ({ region: line.name, ...spendJson(line) })),
      byProvider: t.byProvider.map((line) => ({ provider: line.name, ...spendJson(line) })),
    },
    trend: t.trend.map((day) => ({ date: day.date, monthlyCost: moneyJson(day.monthlyCostMicros), gpus: integerJson(day.gpus) })),
  };
}

export function budgetsJson(report: BudgetsReport): BudgetsJson {
  return {
    version: BUDGETS_JSON_VERSION,
    generatedAt: report.generatedAt,
    store: { server: report.server, namespace: report.namespace },
    tenants: report.tenants.map(tenantJson),
    unreadable: report.unreadable.map((u) => ({ name: u.name, namespace: u.namespace, reason: u.reason })),
    tenantsNotFound: report.tenantsNotFound,
  };
}

export function jsonReport(report: BudgetsReport): string {
  return `${JSON.stringify(budgetsJson(report), null, 2)}\n`;
}
