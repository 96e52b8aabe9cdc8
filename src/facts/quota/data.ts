// Quota data: prices (data/prices.yaml) and budgets per tenant (data/budgets.yaml), checked at load.
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { micros, parseQuantity, wholeUnits } from '../../kubernetes/quantity/index.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import { dataMessage, schemaProblems } from '../schema-problems.js';
import type { DeviceCounts } from './requested.js';
import type { FleetTenant } from './fleet.js';

export interface Prices {
  currency: string;
  /** Micro-units of the currency per vCPU-hour, GiB-hour of memory, and GPU-hour. */
  cpuCoreHourMicros: bigint;
  memoryGiBHourMicros: bigint;
  gpuHourMicros: bigint;
  hoursPerMonth: bigint;
}

export interface Budget {
  cpuMillis?: bigint;
  memoryBytes?: bigint;
  gpus?: bigint;
  monthlyCostMicros?: bigint;
  /** Warn above this share of each limit. */
  softThresholdPercent: bigint;
}

export interface QuotaData {
  prices: Prices;
  budgets: Record<string, Budget>;
  /** Tenants that draw on a fleet-wide budget (budgets.yaml `fleet`). */
  fleet: Record<string, FleetTenant>;
  /** DRA device classes and what one device of each counts as (budgets.yaml `deviceClasses`). */
  deviceClasses?: Record<string, DeviceCounts>;
}

const DEVICE_COUNTS: readonly DeviceCounts[] = ['gpus'];


/** A number or its text; the check is exact (micros), the pattern only helps editors. */
const Decimal = (errorMessage: string, options: Record<string, unknown> = {}) =>
  Type.Refine(
    Type.Union([Type.Number({ minimum: 0 }), Type.String({ pattern: '^\\d+(\\.\\d{1,6})?$' })], { errorMessage, ...options }),
    (value) => micros(value) !== undefined,
    () => errorMessage,
  );

const quantityMilli = (value: string | number): bigint | undefined => parseQuantity(String(value));
const Quantity = (description: string) =>
  Type.Optional(
    Type.Refine(
      Type.Union([Type.String(), Type.Number({ minimum: 0 })], { errorMessage: 'must be a Kubernetes quantity such as 8, 500m or 32Gi', description }),
      (value) => (quantityMilli(value) ?? -1n) >= 0n,
      () => 'must be a Kubernetes quantity such as 8, 500m or 32Gi',
    ),
  );
const Percent = (options: Record<string, unknown>) => Type.Integer({ minimum: 1, maximum: 100, ...options });

/** data/prices.yaml: list prices per hour; the defaults are OpenCost's. */
export const PRICES_DATA = Type.Object(
  {
    currency: Type.String({ minLength: 1, default: 'USD', description: 'the currency of the prices and of budgets\' monthlyCost' }),
    cpuCoreHour: Decimal('must be a decimal number with at most 6 decimals', { default: 0.031611, description: 'per vCPU-hour' }),
    memoryGiBHour: Decimal('must be a decimal number with at most 6 decimals', { default: 0.004237, description: 'per GiB-hour of memory' }),
    gpuHour: Decimal('must be a decimal number with at most 6 decimals', { default: 0.95, description: 'per GPU-hour' }),
    hoursPerMonth: Type.Integer({ minimum: 1, default: 730, description: 'hours a monthly cost counts' }),
  },
  { additionalProperties: false, title: 'prices', errorMessage: 'must be a map' },
);

const Tenant = Type.Object(
  {
    cpu: Quantity('CPU requested at once by all its pods (cores: 8, 500m)'),
    memory: Quantity('memory requested at once (32Gi)'),
    gpus: Quantity('GPUs requested at once, DRA devices included'),
    monthlyCost: Type.Optional(Decimal("must be a decimal amount of the prices' currency", { description: "the projected monthly cost, in the prices' currency" })),
    softThresholdPercent: Type.Optional(Percent({ description: 'warn above this share of a limit (default: the file\'s softThresholdPercent)' })),
  },
  { additionalProperties: false, errorMessage: 'must be a map of limits (cpu, memory, gpus, monthlyCost, softThresholdPercent)' },
);

const OBJECT_NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

const FleetTenantFile = Type.Object(
  {
    budget: Type.Optional(
      Type.String({ pattern: OBJECT_NAME, maxLength: 253, errorMessage: 'must be a Kubernetes object name', description: "the FleetBudget's name in the fleet store (default: the tenant)" }),
    ),
    share: Type.Optional(
      Type.Object(
        {
          cpu: Quantity('CPU to ask the fleet store for at a time'),
          memory: Quantity('memory to ask for at a time'),
          gpus: Quantity('GPUs to ask for at a time'),
          monthlyCost: Type.Optional(Decimal("must be a decimal amount of the prices' currency", { description: 'monthly cost to ask for at a time' })),
        },
        { additionalProperties: false, errorMessage: 'must be a map of amounts (cpu, memory, gpus, monthlyCost)', description: 'how much more than a request needs to ask for at once; an amount not given: a tenth of the fleet limit' },
      ),
    ),
  },
  { additionalProperties: false, errorMessage: 'must be a map with budget and share' },
);

const DeviceCount = Type.Union(
  DEVICE_COUNTS.map((counts) => Type.Literal(counts)),
  { description: 'what one device of the class counts as' },
);

/** data/budgets.yaml: limits per tenant, and which DRA device classes count as GPUs. */
export const BUDGETS_DATA = Type.Object(
  {
    softThresholdPercent: Percent({ default: 80, description: 'above this share of a limit, requests are admitted with a warning' }),
    deviceClasses: Type.Record(Type.String(), DeviceCount, {
      default: {},
      errorMessage: 'must map DRA device class names to what a device counts as (gpus)',
      description: 'DRA device classes, and what a device of each counts against',
    }),
    tenants: Type.Record(Type.String(), Tenant, {
      default: {},
      errorMessage: 'must map tenant names to limits',
      description: "a namespace's canopy.io/tenant label (else its team label), or its kcp workspace path; a tenant not listed has no budget",
    }),
    fleet: Type.Record(Type.String(), FleetTenantFile, {
      default: {},
      errorMessage: 'must map tenant names to {budget, share}',
      description: "tenants whose budget holds across the fleet: a FleetBudget in the fleet store (canopy serve's fleetBudgets), shared out to clusters; a tenant may have a budget here too",
    }),
  },
  { additionalProperties: false, title: 'budgets', errorMessage: 'must be a map with softThresholdPercent, deviceClasses, tenants and fleet' },
);

type PricesFile = Static<typeof PRICES_DATA>;
type TenantFile = Static<typeof Tenant>;
type FleetTenantFileType = Static<typeof FleetTenantFile>;

function pricesOf(file: PricesFile): Prices {
  const micro = (value: number | string, fallback: bigint) => micros(value) ?? fallback;
  return {
    currency: file.currency,
    cpuCoreHourMicros: micro(file.cpuCoreHour, 0n),
    memoryGiBHourMicros: micro(file.memoryGiBHour, 0n),
    gpuHourMicros: micro(file.gpuHour, 0n),
    hoursPerMonth: BigInt(file.hoursPerMonth),
  };
}

/** OpenCost's default list prices (USD per hour), for when data/prices.yaml is absent: the schema's defaults. */
export const OPENCOST_PRICES: Prices = pricesOf(Value.Default(PRICES_DATA, {}) as PricesFile);

function budgetOf(tenant: TenantFile, defaultSoft: number): Budget {
  const quantity = (value: string | number | undefined) => (value === undefined ? undefined : quantityMilli(value));
  const cpu = quantity(tenant.cpu);
  const memory = quantity(tenant.memory);
  const gpus = quantity(tenant.gpus);
  const cost = tenant.monthlyCost === undefined ? undefined : micros(tenant.monthlyCost);
  return {
    ...(cpu !== undefined ? { cpuMillis: cpu } : {}),
    ...(memory !== undefined ? { memoryBytes: wholeUnits(memory) } : {}),
    ...(gpus !== undefined ? { gpus: wholeUnits(gpus) } : {}),
    ...(cost !== undefined ? { monthlyCostMicros: cost } : {}),
    softThresholdPercent: BigInt(tenant.softThresholdPercent ?? defaultSoft),
  };
}

function fleetTenantOf(tenant: string, file: FleetTenantFileType, problems: string[]): FleetTenant | undefined {
  const budget = file.budget ?? tenant;
  if (!new RegExp(OBJECT_NAME).test(budget) || budget.length > 253) {
    problems.push(`budgets: fleet.${tenant}: the tenant is not a Kubernetes object name, so it cannot name its FleetBudget: give budget: NAME`);
    return undefined;
  }
  const quantity = (value: string | number | undefined) => (value === undefined ? undefined : quantityMilli(value));
  const cpu = quantity(file.share?.cpu);
  const memory = quantity(file.share?.memory);
  const gpus = quantity(file.share?.gpus);
  const cost = file.share?.monthlyCost === undefined ? undefined : micros(file.share.monthlyCost);
  return {
    budget,
    share: {
      ...(cpu !== undefined ? { cpuMillis: cpu } : {}),
      ...(memory !== undefined ? { memoryBytes: wholeUnits(memory) } : {}),
      ...(gpus !== undefined ? { gpus: wholeUnits(gpus) } : {}),
      ...(cost !== undefined ? { monthlyCostMicros: cost } : {}),
    },
  };
}

/**
 * Checks data/prices.yaml and data/budgets.yaml against their schemas. The quota read is whatever of
 * them is valid (a set with problems is refused anyway; the rest still says what was meant).
 */
export function readQuotaData(data: Readonly<Record<string, unknown>>): { quota: QuotaData; problems: string[] } {
  const problems: string[] = [];
  const check = (key: 'prices' | 'budgets', schema: typeof PRICES_DATA | typeof BUDGETS_DATA): unknown => {
    if (data[key] === undefined) return Value.Default(schema, {});
    const filled = Value.Default(schema, structuredClone(data[key]));
    problems.push(...schemaProblems(schema, filled).map((problem) => dataMessage(problem, key, key)));
    return filled;
  };
  const prices = check('prices', PRICES_DATA);
  const budgets = check('budgets', BUDGETS_DATA);
  const budgetsFile = isRecord(budgets) ? budgets : {};
  const defaultSoft = Value.Check(BUDGETS_DATA.properties.softThresholdPercent, budgetsFile['softThresholdPercent']) ? budgetsFile['softThresholdPercent'] : 80;
  const valid = <T>(map: unknown, schema: TSchema, of: (value: never) => T): Record<string, T> =>
    Object.fromEntries(Object.entries(isRecord(map) ? map : {}).flatMap(([name, value]) => (Value.Check(schema, value) ? [[name, of(value as never)]] : [])));
  return {
    quota: {
      prices: Value.Check(PRICES_DATA, prices) ? pricesOf(prices) : OPENCOST_PRICES,
      budgets: valid(budgetsFile['tenants'], Tenant, (tenant: TenantFile) => budgetOf(tenant, defaultSoft)),
      deviceClasses: valid(budgetsFile['deviceClasses'], DeviceCount, (counts: DeviceCounts) => counts),
      fleet: fleetTenantsOf(valid(budgetsFile['fleet'], FleetTenantFile, (file: FleetTenantFileType) => file), problems),
    },
    problems,
  };
}

/**
 * budgets.yaml `fleet`, read. A FleetBudget is one tenant's: its ledger counts what each cluster admits
 * for that tenant, so two tenants naming the same one would each spend the other's budget (and bring
 * each other's claims down to their own use). The second to name it is a problem, and left out.
 */
function fleetTenantsOf(files: Record<string, FleetTenantFileType>, problems: string[]): Record<string, FleetTenant> {
  const tenants: [string, FleetTenant][] = [];
  const tenantOfBudget = new Map<string, string>();
  for (const [tenant, file] of Object.entries(files)) {
    const entry = fleetTenantOf(tenant, file, problems);
    if (!entry) continue;
    const first = tenantOfBudget.get(entry.budget);
    if (first !== undefined) {
      problems.push(`budgets: fleet.${tenant} and fleet.${first} both name FleetBudget ${entry.budget}: a FleetBudget is one tenant's`);
      continue;
    }
    tenantOfBudget.set(entry.budget, tenant);
    tenants.push([tenant, entry]);
  }
  // fromEntries: a tenant named __proto__ is a key like any other.
  return Object.fromEntries(tenants);
}
