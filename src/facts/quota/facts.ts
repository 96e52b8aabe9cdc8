// The quota facts of a request, for Cedar (`context.quota`, integers) and for advice templates
// (`{{ quota.requested.cpu }}`, human units): its tenant, what it requests, what the tenant uses
// (observed plus reserved), the tenant's limits and soft thresholds.
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import { ceilDiv, formatBytes, formatCpu } from '../../kubernetes/quantity/index.js';
import type { FleetFacts } from '../../kubernetes/objects/fleet.js';
import { own } from '../../kubernetes/objects/json.js';
import type { UsageLedger } from './ledger.js';
import type { ScaleTemplate } from './requested.js';
import type { Budget, Prices, QuotaData } from './data.js';
import { requestedBy, type Requested } from './requested.js';
import { QuantityError, ZERO, type Usage } from './usage.js';
import { NO_FLEET_STORE, type FleetShares, type FleetTenant, type FleetView } from './fleet.js';
import { AMOUNT_KEYS, amountInWords, type FleetAmounts } from '../../kubernetes/objects/fleet-budget.js';

export const TENANT_LABEL = 'canopy.io/tenant';
export const TEAM_LABEL = 'team';

interface Amounts {
  cpuMillis: bigint;
  memoryBytes: bigint;
  gpus: bigint;
  monthlyCostMicros: bigint;
}
type Limits = Partial<Amounts>;

/** `context.quota.fleet` */
type FleetCedar = {
  budget: string;
  limit: Record<string, number>;
  used: Record<string, number>;
  regionUsed: Record<string, number>;
  share: Record<string, number>;
  current: boolean;
};

export interface QuotaFacts {
  tenant: string;
  requested: Requested;
  /** What the tenant uses in this cluster, with the request's cost: what a fleet share must cover (pipeline.ts). */
  usedHere: Amounts;
  asked: Amounts;
  /** The tenant's fleet budget entry (budgets.yaml `fleet`), when it has one. */
  fleetTenant?: FleetTenant;
  fleet?: FleetView;
  /** The tenant's local budget: its limits and soft thresholds (empty without one). */
  limit: Limits;
  soft: Limits;
  /** The budget's soft threshold in percent, '' without a local budget. */
  softThresholdPercent: string;
  /** The prices' currency, for costs in words. */
  currency: string;
  /** `context.quota` */
  cedar: { tenant: string; requested: Record<string, number>; used: Record<string, number>; limit: Record<string, number>; soft: Record<string, number>; fleet?: FleetCedar };
}

/** A namespace's tenant label, else its kcp workspace. */
export function tenantOf(namespaceLabels: Readonly<Record<string, string>> | undefined, workspacePath: string | undefined): string | undefined {
  return own(namespaceLabels, TENANT_LABEL) || own(namespaceLabels, TEAM_LABEL) || workspacePath || undefined;
}


/** Projected monthly cost in micro-units: CPU per core-hour, memory per GiB-hour, GPUs per hour. */
export function monthlyCost(usage: Usage, prices: Prices): bigint {
  const hours = prices.hoursPerMonth;
  return (
    ceilDiv(usage.cpuMillis * prices.cpuCoreHourMicros * hours, 1000n) +
    ceilDiv(usage.memoryBytes * prices.memoryGiBHourMicros * hours, 2n ** 30n) +
    usage.gpus * prices.gpuHourMicros * hours
  );
}

const withCost = (usage: Usage, prices: Prices): Amounts => ({ ...usage, monthlyCostMicros: monthlyCost(usage, prices) });

function toNumbers(amounts: Limits, what: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(amounts)) {
    if (value === undefined) continue;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new QuantityError(`the ${what} ${key} is too large to compare exactly`);
    out[key] = Number(value);
  }
  return out;
}

function money(micros: bigint, currency: string): string {
  const cents = ceilDiv(micros, 10_000n);
  return `${cents / 100n}.${String(cents % 100n).padStart(2, '0')} ${currency}`;
}

function human(amounts: Limits, currency: string): Record<string, string> {
  return {
    ...(amounts.cpuMillis !== undefined ? { cpu: formatCpu(amounts.cpuMillis) } : {}),
    ...(amounts.memoryBytes !== undefined ? { memory: formatBytes(amounts.memoryBytes) } : {}),
    ...(amounts.gpus !== undefined ? { gpus: `${amounts.gpus}` } : {}),
    ...(amounts.monthlyCostMicros !== undefined ? { cost: money(amounts.monthlyCostMicros, currency) } : {}),
  };
}

/** "the store…" → "The store….": a note read after the advice's own sentences. */
const sentence = (text: string): string => (text === '' ? '' : `${text.charAt(0).toUpperCase()}${text.slice(1)}${text.endsWith('.') ? '' : '.'}`);

/** The amounts of `amounts` that `keys` has. */
const only = (amounts: Amounts, keys: Limits): Limits => Object.fromEntries(Object.keys(keys).map((key) => [key, amounts[key as keyof Amounts]]));

/** "2 GPUs, 1500m CPU, 3Gi memory, 12.50 USD a month": what the fleet advice reads. */
function inWords(amounts: Limits, currency: string): string {
  const order = ['gpus', 'cpuMillis', 'memoryBytes', 'monthlyCostMicros'] as const;
  const parts = order.flatMap((key) => {
    const value = amounts[key];
    return value === undefined ? [] : [amountInWords(key, value, currency)];
  });
  return parts.length > 0 ? parts.join(', ') : 'nothing';
}

function limitsOf(budget: Budget): Limits {
  return {
    ...(budget.cpuMillis !== undefined ? { cpuMillis: budget.cpuMillis } : {}),
    ...(budget.memoryBytes !== undefined ? { memoryBytes: budget.memoryBytes } : {}),
    ...(budget.gpus !== undefined ? { gpus: budget.gpus } : {}),
    ...(budget.monthlyCostMicros !== undefined ? { monthlyCostMicros: budget.monthlyCostMicros } : {}),
  };
}

const scale = (limits: Limits, percent: bigint): Limits =>
  Object.fromEntries(Object.entries(limits).map(([key, value]) => [key, ((value as bigint) * percent) / 100n]));

const remaining = (limits: Limits, used: Amounts): Limits =>
  Object.fromEntries(
    Object.entries(limits).map(([key, value]) => {
      const left = (value as bigint) - used[key as keyof Amounts];
      return [key, left > 0n ? left : 0n];
    }),
  );

/**
 * The quota facts, or undefined when the request's tenant has no budget. Throws QuantityError when
 * what the request asks for cannot be read: the request is then denied with that message.
 */
/** What quota reads of a request's facts beyond its body. */
export interface QuotaInputs extends FleetFacts {
  /** Tenants' usage (observed pods and reservations). */
  quotaLedger?: UsageLedger;
  /** For a scale request: what one replica of the scaled object asks for. */
  scaleTemplate?: ScaleTemplate;
  /** How many nodes the cluster has: a DaemonSet asks for one pod on each. */
  nodeCount?: number;
  /** Shares of fleet-wide budgets (facts/fleet-budgets); without it a fleet tenant holds no share. */
  fleetShares?: FleetShares;
}

export function quotaFacts(data: QuotaData | undefined, request: AdmissionRequest, facts: QuotaInputs): QuotaFacts | undefined {
  const tenant = tenantOf(facts.namespaceLabels, facts.workspace?.path);
  const budget = tenant ? own(data?.budgets, tenant) : undefined;
  const fleetTenant = tenant ? own(data?.fleet, tenant) : undefined;
  if (!tenant || (!budget && !fleetTenant) || !data) return undefined;
  const requested = requestedBy(request, {
    ...(facts.nodeCount !== undefined ? { nodeCount: facts.nodeCount } : {}),
    ...(facts.scaleTemplate ? { scaleTemplate: facts.scaleTemplate } : {}),
    ...(data.deviceClasses ? { deviceClasses: data.deviceClasses } : {}),
    covered: (podName) => facts.quotaLedger?.covers?.(request.namespace, podName) === true,
  });
  const asked = withCost(requested.usage, data.prices);
  const used = withCost(facts.quotaLedger?.used(tenant, data.deviceClasses) ?? ZERO, data.prices);
  const limit = budget ? limitsOf(budget) : {};
  const soft = budget ? scale(limit, budget.softThresholdPercent) : {};
  const currency = data.prices.currency;
  const fleet = fleetTenant ? (facts.fleetShares ?? NO_FLEET_STORE).view(tenant, fleetTenant, used) : undefined;
  return {
    tenant,
    requested,
    usedHere: used,
    asked,
    limit,
    soft,
    softThresholdPercent: `${budget?.softThresholdPercent ?? ''}`,
    currency,
    ...(fleetTenant ? { fleetTenant } : {}),
    ...(fleet ? { fleet } : {}),
    cedar: {
      tenant,
      requested: toNumbers(asked, 'request'),
      used: toNumbers(used, 'usage'),
      limit: toNumbers(limit, 'limit'),
      soft: toNumbers(soft, 'soft threshold'),
      ...(fleet
        ? {
            fleet: {
              budget: fleet.budget,
              limit: toNumbers(fleet.limit, 'fleet limit'),
              used: toNumbers(fleet.used, 'fleet usage'),
              regionUsed: toNumbers(fleet.regionUsed, 'region usage'),
              share: toNumbers(fleet.share, 'fleet share'),
              current: fleet.current,
            },
          }
        : {}),
    },
  };
}

/**
 * `{{ quota.* }}` in advice: the quota facts in human units, and what remains. Made only when a template
 * reads them (a denial or a warning): most requests are admitted without one.
 */
export function quotaWords(quota: QuotaFacts): Record<string, unknown> {
  const { tenant, asked, usedHere: used, limit, soft, currency, fleet } = quota;
  return {
    tenant,
    requested: human(asked, currency),
    used: human(used, currency),
    limit: human(limit, currency),
    soft: human(soft, currency),
    remaining: human(remaining(limit, used), currency),
    softThresholdPercent: quota.softThresholdPercent,
    ...(fleet
      ? {
          fleet: {
            budget: fleet.budget,
            // Sentences, of the amounts the fleet budget limits (all four while it is unknown).
            requested: inWords(only(asked, fleet.share), currency),
            usedHere: inWords(only(used, fleet.share), currency),
            share: inWords(fleet.share, currency),
            used: inWords(only(fleet.used, fleet.share), currency),
            limit: Object.keys(fleet.limit).length > 0 ? inWords(fleet.limit, currency) : 'a limit not read yet',
            note: sentence(fleet.note || (fleet.current ? 'the share this cluster holds is all the fleet budget can give it now' : '')),
          },
        }
      : {}),
  };
}

/** What a tenant uses in this cluster now (observed and reserved), with its monthly cost. */
export function tenantUsage(data: QuotaData, ledger: UsageLedger | undefined, tenant: string): FleetAmounts {
  return withCost(ledger?.used(tenant, data.deviceClasses) ?? ZERO, data.prices);
}

/** Per amount, what covering `asked` on top of `used` needs, for the amounts a share limits and the request adds to. */
export function shortfall(quota: QuotaFacts): FleetAmounts | undefined {
  const share = quota.fleet?.share;
  if (!share) return undefined;
  let short = false;
  const needed: FleetAmounts = { cpuMillis: 0n, memoryBytes: 0n, gpus: 0n, monthlyCostMicros: 0n };
  for (const key of AMOUNT_KEYS) {
    needed[key] = quota.usedHere[key] + quota.asked[key];
    const held = share[key];
    if (held !== undefined && quota.asked[key] > 0n && needed[key] > held) short = true;
  }
  return short ? needed : undefined;
}
