// Quota data: prices (data/prices.yaml) and budgets per tenant (data/budgets.yaml), checked at load.
import { parseQuantity, wholeUnits } from '../../kubernetes/quantity/index.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import type { DeviceCounts } from './requested.js';

export interface Prices {
  currency: string;
  /** Micro-units of the currency per vCPU-hour, GiB-hour of memory, and GPU-hour. */
  cpuCoreHourMicros: bigint;
  memoryGiBHourMicros: bigint;
  gpuHourMicros: bigint;
  hoursPerMonth: bigint;
}

/** OpenCost's default list prices (USD per hour), for when data/prices.yaml is absent. */
export const OPENCOST_PRICES: Prices = {
  currency: 'USD',
  cpuCoreHourMicros: 31_611n,
  memoryGiBHourMicros: 4_237n,
  gpuHourMicros: 950_000n,
  hoursPerMonth: 730n,
};

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
  /** DRA device classes and what one device of each counts as (budgets.yaml `deviceClasses`). */
  deviceClasses?: Record<string, DeviceCounts>;
}

const DEVICE_COUNTS: readonly DeviceCounts[] = ['gpus'];

/** `deviceClasses: {gpu.nvidia.com: gpus}`: which DRA device classes count against which limit. */
function readDeviceClasses(budgets: unknown, problems: string[]): Record<string, DeviceCounts> {
  const value = isRecord(budgets) ? budgets['deviceClasses'] : undefined;
  if (value === undefined) return {};
  if (!isRecord(value)) {
    problems.push('budgets.deviceClasses must map DRA device class names to what a device counts as (gpus)');
    return {};
  }
  const out: Record<string, DeviceCounts> = Object.create(null) as Record<string, DeviceCounts>;
  for (const [name, counts] of Object.entries(value)) {
    const known = DEVICE_COUNTS.find((c) => c === counts);
    if (known) out[name] = known;
    else problems.push(`budgets.deviceClasses.${name} must be one of ${DEVICE_COUNTS.join(', ')}, not ${JSON.stringify(counts)}`);
  }
  return out;
}


/** "0.031611" → 31611 micro-units, exactly. */
export function micros(value: unknown): bigint | undefined {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^\d+(\.\d{1,6})?$/.test(text)) return undefined;
  const [whole = '0', fraction = ''] = text.split('.');
  return BigInt(whole) * 1_000_000n + BigInt(fraction.padEnd(6, '0'));
}

function readPrices(value: unknown, problems: string[]): Prices {
  if (value === undefined) return OPENCOST_PRICES;
  if (!isRecord(value)) {
    problems.push('prices must be a map');
    return OPENCOST_PRICES;
  }
  const price = (key: string, fallback: bigint): bigint => {
    if (value[key] === undefined) return fallback;
    const found = micros(value[key]);
    if (found === undefined) problems.push(`prices.${key} must be a decimal number with at most 6 decimals`);
    return found ?? fallback;
  };
  const unknown = Object.keys(value).filter((k) => !['currency', 'cpuCoreHour', 'memoryGiBHour', 'gpuHour', 'hoursPerMonth'].includes(k));
  if (unknown.length > 0) problems.push(`prices has unknown field ${unknown.join(', ')}`);
  const hours = value['hoursPerMonth'] ?? 730;
  if (!Number.isInteger(hours) || (hours as number) <= 0) problems.push('prices.hoursPerMonth must be a positive whole number');
  return {
    currency: typeof value['currency'] === 'string' ? value['currency'] : 'USD',
    cpuCoreHourMicros: price('cpuCoreHour', OPENCOST_PRICES.cpuCoreHourMicros),
    memoryGiBHourMicros: price('memoryGiBHour', OPENCOST_PRICES.memoryGiBHourMicros),
    gpuHourMicros: price('gpuHour', OPENCOST_PRICES.gpuHourMicros),
    hoursPerMonth: BigInt(Number.isInteger(hours) ? (hours as number) : 730),
  };
}

function readBudgets(value: unknown, problems: string[]): Record<string, Budget> {
  if (value === undefined) return {};
  if (!isRecord(value)) {
    problems.push('budgets must be a map with softThresholdPercent and tenants');
    return {};
  }
  const unknownTop = Object.keys(value).filter((k) => k !== 'softThresholdPercent' && k !== 'tenants' && k !== 'deviceClasses');
  if (unknownTop.length > 0) problems.push(`budgets has unknown field ${unknownTop.join(', ')}`);
  const percent = (raw: unknown, where: string, fallback: bigint): bigint => {
    if (raw === undefined) return fallback;
    if (!Number.isInteger(raw) || (raw as number) < 1 || (raw as number) > 100) {
      problems.push(`${where} must be a whole number from 1 to 100`);
      return fallback;
    }
    return BigInt(raw as number);
  };
  const defaultSoft = percent(value['softThresholdPercent'], 'budgets.softThresholdPercent', 80n);
  const tenants = value['tenants'] ?? {};
  if (!isRecord(tenants)) {
    problems.push('budgets.tenants must map tenant names to limits');
    return {};
  }
  const out: Record<string, Budget> = {};
  for (const [tenant, raw] of Object.entries(tenants)) {
    const where = `budgets.tenants.${tenant}`;
    if (!isRecord(raw)) {
      problems.push(`${where} must be a map of limits (cpu, memory, gpus, monthlyCost, softThresholdPercent)`);
      continue;
    }
    const unknown = Object.keys(raw).filter((k) => !['cpu', 'memory', 'gpus', 'monthlyCost', 'softThresholdPercent'].includes(k));
    if (unknown.length > 0) problems.push(`${where} has unknown field ${unknown.join(', ')}`);
    const quantity = (key: string): bigint | undefined => {
      if (raw[key] === undefined) return undefined;
      const milli = parseQuantity(String(raw[key]));
      if (milli === undefined || milli < 0n) problems.push(`${where}.${key} must be a Kubernetes quantity such as 8, 500m or 32Gi`);
      return milli;
    };
    const cpu = quantity('cpu');
    const memory = quantity('memory');
    const gpus = quantity('gpus');
    const cost = raw['monthlyCost'] === undefined ? undefined : micros(raw['monthlyCost']);
    if (raw['monthlyCost'] !== undefined && cost === undefined) problems.push(`${where}.monthlyCost must be a decimal amount of the prices' currency`);
    out[tenant] = {
      ...(cpu !== undefined ? { cpuMillis: cpu } : {}),
      ...(memory !== undefined ? { memoryBytes: wholeUnits(memory) } : {}),
      ...(gpus !== undefined ? { gpus: wholeUnits(gpus) } : {}),
      ...(cost !== undefined ? { monthlyCostMicros: cost } : {}),
      softThresholdPercent: percent(raw['softThresholdPercent'], `${where}.softThresholdPercent`, defaultSoft),
    };
  }
  return out;
}

export function readQuotaData(data: Readonly<Record<string, unknown>>): { quota: QuotaData; problems: string[] } {
  const problems: string[] = [];
  const quota = { prices: readPrices(data['prices'], problems), budgets: readBudgets(data['budgets'], problems), deviceClasses: readDeviceClasses(data['budgets'], problems) };
  return { quota, problems };
}
