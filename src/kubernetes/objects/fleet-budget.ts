// The FleetBudget custom resource (canopy.io/v1alpha1): one tenant's budget across the fleet, and its
// ledger. The fleet store is a Kubernetes API server the platform already runs (a management cluster, a
// kcp workspace); its optimistic concurrency (resourceVersion) is the only coordination.
//
// - `spec` is written by the platform team: the tenant and its fleet-wide limits, in the units of
//   policies/data/budgets.yaml (cpu and memory as Kubernetes quantities, gpus a count, monthlyCost a
//   decimal amount of `currency`).
// - `status.clusters` is the grant ledger, one entry per cluster, each written only by that cluster's
//   Canopy through the status subresource with the object's resourceVersion (a conflict re-reads):
//   what it was granted, what it claimed (the most it may have admitted: written before it admits
//   beyond it), what it used when it last wrote, until when its grant holds, where it runs, and a daily
//   history of its use. An entry whose grant has expired counts as its claim: a cluster that stopped
//   renewing gives back what it held beyond its claim, never what it may have admitted.
//
// Amounts in status are canonical integers written as strings (millicores, bytes, GPUs, micro-units of
// the currency per month): exact, and beyond JSON's safe integers.
import { ceilDiv, formatBytes, formatCpu, micros, parseQuantity, wholeUnits } from '../quantity/index.js';
import { CanopyError } from '../../operations/errors/index.js';
import { isRecord } from './json.js';

export const FLEET_BUDGET_GROUP = 'canopy.io';
export const FLEET_BUDGET_VERSION = 'v1alpha1';
export const FLEET_BUDGET_KIND = 'FleetBudget';
export const FLEET_BUDGET_PLURAL = 'fleetbudgets';
/** Where the FleetBudgets live in the fleet store unless configured otherwise. */
export const DEFAULT_FLEET_NAMESPACE = 'canopy-fleet';
/** At most this many daily usage samples are kept per cluster (a month and a day). */
export const HISTORY_DAYS = 31;

/** An amount of each thing a budget can limit, in canonical integers. */
export interface FleetAmounts {
  cpuMillis: bigint;
  memoryBytes: bigint;
  gpus: bigint;
  monthlyCostMicros: bigint;
}
export type FleetLimits = Partial<FleetAmounts>;
export const AMOUNT_KEYS = ['cpuMillis', 'memoryBytes', 'gpus', 'monthlyCostMicros'] as const;
export type AmountKey = (typeof AMOUNT_KEYS)[number];
export const NO_AMOUNTS: FleetAmounts = { cpuMillis: 0n, memoryBytes: 0n, gpus: 0n, monthlyCostMicros: 0n };

export interface UsageSample {
  /** The UTC day, `2026-12-06`. */
  date: string;
  /** The most the cluster used that day, per amount. */
  used: FleetAmounts;
}

/** One cluster's line in the ledger. */
export interface ClusterGrant {
  granted: FleetAmounts;
  /** The most the cluster may have admitted; at most its grant while that holds. */
  claimed: FleetAmounts;
  /** What the cluster used when it last wrote its entry (what reports show). */
  used: FleetAmounts;
  /** The grant holds until then; after it, the entry counts as its claim only. */
  expiresAt: string;
  updatedAt: string;
  region: string;
  provider: string;
  history: UsageSample[];
}

export interface FleetBudget {
  /** metadata.name */
  name: string;
  namespace: string;
  resourceVersion: string;
  tenant: string;
  limits: FleetLimits;
  currency: string;
  clusters: Record<string, ClusterGrant>;
}

function integer(value: unknown): bigint | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\d{1,30}$/.test(value)) return BigInt(value);
  return undefined;
}

function amountsOf(value: unknown, where: string, problems: string[]): FleetAmounts {
  const record = isRecord(value) ? value : {};
  const out = { ...NO_AMOUNTS };
  for (const key of AMOUNT_KEYS) {
    if (record[key] === undefined) continue;
    const parsed = integer(record[key]);
    if (parsed === undefined) problems.push(`${where}.${key} must be a non-negative integer, not ${JSON.stringify(record[key])}`);
    else out[key] = parsed;
  }
  return out;
}

/** spec.limits in budgets.yaml's units → canonical integers; problems name the field. */
export function readFleetLimits(value: unknown, problems: string[]): FleetLimits {
  if (!isRecord(value)) {
    problems.push('spec.limits must be a map of cpu, memory, gpus and monthlyCost');
    return {};
  }
  const limits: FleetLimits = {};
  for (const [key, raw] of Object.entries(value)) {
    const quantity = typeof raw === 'string' || typeof raw === 'number' ? parseQuantity(String(raw)) : undefined;
    if (key === 'cpu' || key === 'memory' || key === 'gpus') {
      if (quantity === undefined || quantity < 0n) {
        problems.push(`spec.limits.${key} must be a Kubernetes quantity such as 8, 500m or 32Gi, not ${JSON.stringify(raw)}`);
        continue;
      }
      if (key === 'cpu') limits.cpuMillis = quantity;
      else if (key === 'memory') limits.memoryBytes = wholeUnits(quantity);
      else limits.gpus = wholeUnits(quantity);
    } else if (key === 'monthlyCost') {
      const amount = micros(raw);
      if (amount === undefined) problems.push(`spec.limits.monthlyCost must be a decimal amount with at most 6 decimals, not ${JSON.stringify(raw)}`);
      else limits.monthlyCostMicros = amount;
    } else {
      problems.push(`spec.limits.${key} is not a limit Canopy knows (cpu, memory, gpus, monthlyCost)`);
    }
  }
  return limits;
}

/**
 * A FleetBudget object as read from the fleet store. Throws FleetBudgetError naming every problem:
 * a budget that cannot be read grants nothing.
 */
export function readFleetBudget(object: unknown): FleetBudget {
  const problems: string[] = [];
  const record = isRecord(object) ? object : {};
  const metadata = isRecord(record['metadata']) ? record['metadata'] : {};
  const spec = isRecord(record['spec']) ? record['spec'] : {};
  const status = isRecord(record['status']) ? record['status'] : {};
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : '';
  const tenant = typeof spec['tenant'] === 'string' && spec['tenant'] !== '' ? spec['tenant'] : name;
  const limits = readFleetLimits(spec['limits'], problems);
  const clusters: Record<string, ClusterGrant> = {};
  const entries = isRecord(status['clusters']) ? status['clusters'] : {};
  for (const [cluster, value] of Object.entries(entries)) {
    const entry = isRecord(value) ? value : {};
    const where = `status.clusters.${cluster}`;
    const history = Array.isArray(entry['history']) ? entry['history'] : [];
    clusters[cluster] = {
      granted: amountsOf(entry['granted'], `${where}.granted`, problems),
      used: amountsOf(entry['used'], `${where}.used`, problems),
      // An entry without a claim claims what it used.
      claimed: amountsOf(entry['claimed'] ?? entry['used'], `${where}.claimed`, problems),
      expiresAt: typeof entry['expiresAt'] === 'string' ? entry['expiresAt'] : new Date(0).toISOString(),
      updatedAt: typeof entry['updatedAt'] === 'string' ? entry['updatedAt'] : new Date(0).toISOString(),
      region: typeof entry['region'] === 'string' ? entry['region'] : '',
      provider: typeof entry['provider'] === 'string' ? entry['provider'] : '',
      history: history.flatMap((sample, index) =>
        isRecord(sample) && typeof sample['date'] === 'string' ? [{ date: sample['date'], used: amountsOf(sample['used'], `${where}.history[${index}].used`, problems) }] : [],
      ),
    };
  }
  if (!name) problems.push('metadata.name is missing');
  if (problems.length > 0) throw new FleetBudgetError(`FleetBudget ${name || '(unnamed)'}: ${problems.join('; ')}`);
  return {
    name,
    namespace: typeof metadata['namespace'] === 'string' ? metadata['namespace'] : '',
    resourceVersion: typeof metadata['resourceVersion'] === 'string' ? metadata['resourceVersion'] : '',
    tenant,
    limits,
    currency: typeof spec['currency'] === 'string' && spec['currency'] !== '' ? spec['currency'] : 'USD',
    clusters,
  };
}

const amountsJson = (amounts: FleetAmounts): Record<AmountKey, string> =>
  Object.fromEntries(AMOUNT_KEYS.map((key) => [key, amounts[key].toString()])) as Record<AmountKey, string>;

/** One ledger entry as it is written to status.clusters. */
export function clusterGrantJson(grant: ClusterGrant): Record<string, unknown> {
  return {
    granted: amountsJson(grant.granted),
    claimed: amountsJson(grant.claimed),
    used: amountsJson(grant.used),
    expiresAt: grant.expiresAt,
    updatedAt: grant.updatedAt,
    region: grant.region,
    provider: grant.provider,
    history: grant.history.map((sample) => ({ date: sample.date, used: amountsJson(sample.used) })),
  };
}

/** Whether an entry's grant still holds at `now` (ms). */
export const holds = (grant: ClusterGrant, now: number): boolean => Date.parse(grant.expiresAt) > now;

/**
 * What an entry takes of the budget at `now`: its grant while it holds, else its claim (the larger of
 * the two per amount while it holds, since a claim may outgrow a grant once a budget shrank).
 */
export function held(grant: ClusterGrant, now: number): FleetAmounts {
  const out = { ...NO_AMOUNTS };
  for (const key of AMOUNT_KEYS) {
    const claimed = grant.claimed[key];
    const granted = grant.granted[key];
    out[key] = holds(grant, now) ? (granted > claimed ? granted : claimed) : claimed;
  }
  return out;
}

/** The fleet's use of a budget: the sum of every cluster's published `used`. */
export function fleetUsed(budget: FleetBudget): FleetAmounts {
  const total = { ...NO_AMOUNTS };
  for (const grant of Object.values(budget.clusters)) for (const key of AMOUNT_KEYS) total[key] += grant.used[key];
  return total;
}

/** One amount in words: "3 GPUs", "1500m CPU", "3Gi memory", "12.50 EUR a month". */
export function amountInWords(key: AmountKey, value: bigint, currency: string): string {
  switch (key) {
    case 'gpus':
      return `${value} GPU${value === 1n ? '' : 's'}`;
    case 'cpuMillis':
      return `${formatCpu(value)} CPU`;
    case 'memoryBytes':
      return `${formatBytes(value)} memory`;
    case 'monthlyCostMicros': {
      const cents = ceilDiv(value, 10_000n);
      return `${cents / 100n}.${String(cents % 100n).padStart(2, '0')} ${currency} a month`;
    }
  }
}

/** The error of a FleetBudget that cannot be read. */
export class FleetBudgetError extends CanopyError {
  constructor(message: string) {
    super('fleet-budget', message);
  }
}
