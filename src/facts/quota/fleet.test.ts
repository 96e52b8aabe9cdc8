import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import { NO_AMOUNTS, type FleetAmounts } from '../../kubernetes/objects/fleet-budget.js';
import { readQuotaData, type QuotaData } from './data.js';
import { quotaFacts, quotaWords, shortfall, tenantUsage, type QuotaFacts } from './facts.js';
import { NO_FLEET_STORE, type FleetShares, type FleetTenant, type FleetView } from './fleet.js';
import { QuotaLedger } from './ledger.js';
import { admissionRequest } from '../../../test/helpers/admission-request.js';

const GiB = 2n ** 30n;
const c = (cpu: string, memory = '0', gpus = 0) => ({ name: 'c', image: 'i', resources: { requests: { cpu, memory }, limits: gpus > 0 ? { 'nvidia.com/gpu': gpus } : {} } });

const request = admissionRequest;
const pod = (cpu: string, memory = '0', gpus = 0) => request('Pod', '', { spec: { containers: [c(cpu, memory, gpus)] } });
const ML = { namespaceLabels: { 'canopy.io/tenant': 'ml' } };

function read(budgets: Record<string, unknown>): QuotaData {
  const { quota, problems } = readQuotaData({ budgets });
  expect(problems).toEqual([]);
  return quota;
}

/** A ledger in which tenant ml's namespace n runs one pod of `usage`. */
function running(usage: { cpuMillis: bigint; memoryBytes: bigint; gpus: bigint }): QuotaLedger {
  const ledger = new QuotaLedger((namespace) => (namespace === 'n' ? 'ml' : undefined));
  ledger.observe('n/running', undefined, { namespace: 'n', name: 'running', logicalCluster: '', usage, active: true });
  return ledger;
}

/** A fleet store that answers `view` with a fixed share, and records what it was asked. */
function fixedShares(view: Omit<FleetView, 'budget'>): FleetShares & { asked: { tenant: string; entry: FleetTenant; clusterUsed: FleetAmounts }[] } {
  const asked: { tenant: string; entry: FleetTenant; clusterUsed: FleetAmounts }[] = [];
  return {
    asked,
    view: (tenant, entry, clusterUsed) => {
      asked.push({ tenant, entry, clusterUsed });
      return { budget: entry.budget, ...view };
    },
    grow: () => Promise.resolve(),
  };
}

function facts(data: QuotaData, admission: AdmissionRequest, inputs: Parameters<typeof quotaFacts>[2] = ML): QuotaFacts {
  const quota = quotaFacts(data, admission, inputs);
  if (!quota) throw new Error('expected quota facts for tenant ml');
  return quota;
}

describe("budgets.yaml's fleet section", () => {
  it('names each tenant\'s FleetBudget (the tenant, unless budget: says otherwise) and its share sizes in canonical units', () => {
    const quota = read({
      fleet: {
        ml: {},
        'root:org:research': { budget: 'research', share: { cpu: '2500m', memory: '4Gi', gpus: 1, monthlyCost: '12.5' } },
        web: { share: { cpu: 2 } },
      },
    });
    expect(quota.fleet).toEqual({
      ml: { budget: 'ml', share: {} },
      'root:org:research': { budget: 'research', share: { cpuMillis: 2500n, memoryBytes: 4n * GiB, gpus: 1n, monthlyCostMicros: 12_500_000n } },
      web: { budget: 'web', share: { cpuMillis: 2000n } },
    });
    // A fleet tenant needs no local budget, and a local budget no fleet one.
    expect(quota.budgets).toEqual({});
    expect(read({}).fleet).toEqual({});
  });

  it('refuses a tenant that is not a Kubernetes object name unless budget: names the FleetBudget', () => {
    const { quota, problems } = readQuotaData({ budgets: { fleet: { 'root:org:ml': {}, Research: { share: { gpus: 1 } } } } });
    expect(problems).toEqual([
      'budgets: fleet.root:org:ml: the tenant is not a Kubernetes object name, so it cannot name its FleetBudget: give budget: NAME',
      'budgets: fleet.Research: the tenant is not a Kubernetes object name, so it cannot name its FleetBudget: give budget: NAME',
    ]);
    expect(quota.fleet).toEqual({});
    expect(readQuotaData({ budgets: { fleet: { 'root:org:ml': { budget: 'ml' } } } }).problems).toEqual([]);
    expect(readQuotaData({ budgets: { fleet: { ml: { budget: 'Not A Name' } } } }).problems).toEqual(['budgets.fleet.ml.budget must be a Kubernetes object name']);
  });

  it('refuses unknown keys and bad quantities, naming the key at fault, and leaves the tenant out', () => {
    const { quota, problems } = readQuotaData({
      budgets: { fleet: { ml: { budgets: 'ml' }, web: { share: { cpu: 'lots', monthlyCost: 'cheap', disk: '1Gi' } }, ok: {} } },
    });
    expect(problems).toEqual([
      'budgets.fleet.ml has unknown field budgets',
      'budgets.fleet.web.share has unknown field disk',
      'budgets.fleet.web.share.cpu must be a Kubernetes quantity such as 8, 500m or 32Gi',
      "budgets.fleet.web.share.monthlyCost must be a decimal amount of the prices' currency",
    ]);
    expect(Object.keys(quota.fleet)).toEqual(['ok']);
    expect(readQuotaData({ budgets: { fleet: { ml: 'all of it' } } }).problems).toEqual(['budgets.fleet.ml must be a map with budget and share']);
  });

  it('refuses two tenants naming the same FleetBudget: a FleetBudget is one tenant\'s', () => {
    const { quota, problems } = readQuotaData({ budgets: { fleet: { shared: {}, ml: { budget: 'shared' }, web: { budget: 'shared' }, other: { budget: 'other-budget' } } } });
    expect(problems).toEqual([
      "budgets: fleet.ml and fleet.shared both name FleetBudget shared: a FleetBudget is one tenant's",
      "budgets: fleet.web and fleet.shared both name FleetBudget shared: a FleetBudget is one tenant's",
    ]);
    expect(quota.fleet).toEqual({ shared: { budget: 'shared', share: {} }, other: { budget: 'other-budget', share: {} } });
  });
});

describe('quota facts of a tenant with a fleet budget', () => {
  const fleetOnly = () => read({ fleet: { ml: { budget: 'ml-training', share: { gpus: 2 } } } });

  it('give the fleet view (share, limit, use) to Cedar, and no local limit when the tenant has none', () => {
    const shares = fixedShares({
      limit: { gpus: 16n, cpuMillis: 64_000n },
      used: { ...NO_AMOUNTS, gpus: 9n, cpuMillis: 12_000n },
      regionUsed: { ...NO_AMOUNTS, gpus: 4n },
      share: { gpus: 6n, cpuMillis: 8000n },
      current: true,
      note: '',
    });
    const ledger = running({ cpuMillis: 1000n, memoryBytes: GiB, gpus: 3n });
    const quota = facts(fleetOnly(), pod('1', '1Gi', 1), { ...ML, quotaLedger: ledger, fleetShares: shares });
    expect(quota.cedar.limit).toEqual({});
    expect(quota.cedar.soft).toEqual({});
    expect(quota.cedar.fleet).toEqual({
      budget: 'ml-training',
      limit: { gpus: 16, cpuMillis: 64_000 },
      used: { cpuMillis: 12_000, memoryBytes: 0, gpus: 9, monthlyCostMicros: 0 },
      regionUsed: { cpuMillis: 0, memoryBytes: 0, gpus: 4, monthlyCostMicros: 0 },
      share: { gpus: 6, cpuMillis: 8000 },
      current: true,
    });
    // The store was asked about the tenant's use in this cluster, with its cost, and its budgets.yaml entry.
    expect(shares.asked).toEqual([{ tenant: 'ml', entry: { budget: 'ml-training', share: { gpus: 2n } }, clusterUsed: tenantUsage(fleetOnly(), ledger, 'ml') }]);
    expect(quota.usedHere).toEqual(tenantUsage(fleetOnly(), ledger, 'ml'));
    expect(quota.fleetTenant).toEqual({ budget: 'ml-training', share: { gpus: 2n } });
    // For advice, only the amounts the fleet budget limits, in words.
    expect(quotaWords(quota)['fleet']).toMatchObject({ budget: 'ml-training', share: '6 GPUs, 8 CPU', requested: '1 GPU, 1 CPU', usedHere: '3 GPUs, 1 CPU', used: '9 GPUs, 12 CPU', limit: '16 GPUs, 64 CPU' });
  });

  it('hold no share at all without a fleet store: every amount is 0 and the note says no store is configured', () => {
    const quota = facts(fleetOnly(), pod('100m'));
    expect(quota.cedar.limit).toEqual({});
    expect(quota.cedar.fleet).toEqual({
      budget: 'ml-training',
      limit: {},
      used: { cpuMillis: 0, memoryBytes: 0, gpus: 0, monthlyCostMicros: 0 },
      regionUsed: { cpuMillis: 0, memoryBytes: 0, gpus: 0, monthlyCostMicros: 0 },
      share: { cpuMillis: 0, memoryBytes: 0, gpus: 0, monthlyCostMicros: 0 },
      current: false,
    });
    expect(quota.fleet).toEqual(NO_FLEET_STORE.view('ml', { budget: 'ml-training', share: {} }, NO_AMOUNTS));
    const human = quotaWords(quota)['fleet'] as Record<string, string>;
    expect(human['note']).toMatch(/no fleet store is configured/i);
    expect(human['share']).toBe('0 GPUs, 0 CPU, 0 memory, 0.00 USD a month');
    // So any request that adds to any amount falls short.
    expect(shortfall(quota)).toBeDefined();
  });

  it('keep a local budget beside the fleet one, and give none for a tenant in neither', () => {
    const data = read({ tenants: { ml: { cpu: '8' } }, fleet: { ml: {} } });
    const quota = facts(data, pod('1'));
    expect(quota.cedar.limit).toEqual({ cpuMillis: 8000 });
    expect(quota.cedar.fleet?.budget).toBe('ml');
    expect(facts(read({ tenants: { ml: { cpu: '8' } } }), pod('1')).cedar.fleet).toBeUndefined();
    expect(quotaFacts(data, pod('1'), { namespaceLabels: { 'canopy.io/tenant': 'web' } })).toBeUndefined();
  });
});

describe('the shortfall of a request against the share this cluster holds', () => {
  // The share limits GPUs and CPU; memory and cost are not limited by the fleet budget.
  const shares = (share: FleetView['share']) => fixedShares({ limit: { gpus: 16n, cpuMillis: 64_000n }, used: NO_AMOUNTS, regionUsed: NO_AMOUNTS, share, current: true, note: '' });
  const data = () => read({ fleet: { ml: {} } });
  const quota = (admission: AdmissionRequest, share: FleetView['share'], usage = { cpuMillis: 2000n, memoryBytes: GiB, gpus: 3n }) =>
    facts(data(), admission, { ...ML, quotaLedger: running(usage), fleetShares: shares(share) });

  it('is nothing while the use with the request stays within the share', () => {
    expect(shortfall(quota(pod('1', '0', 1), { gpus: 4n, cpuMillis: 3000n }))).toBeUndefined();
  });

  it('is what covering the request needs, every amount, once it exceeds the share of an amount it adds to', () => {
    const short = quota(pod('1', '0', 2), { gpus: 4n, cpuMillis: 8000n });
    expect(shortfall(short)).toEqual({
      cpuMillis: 3000n,
      memoryBytes: GiB,
      gpus: 5n,
      monthlyCostMicros: short.usedHere.monthlyCostMicros + short.asked.monthlyCostMicros,
    });
  });

  it('is nothing when the request does not add to the amount already beyond the share', () => {
    // GPUs are beyond the share (3 of 2) already, but the request adds only CPU, within its share.
    expect(shortfall(quota(pod('500m'), { gpus: 2n, cpuMillis: 3000n }))).toBeUndefined();
    // A delete adds nothing.
    expect(shortfall(quota(request('Pod', '', null, { operation: 'DELETE', oldObject: { spec: { containers: [c('8', '0', 8)] } } }), { gpus: 0n, cpuMillis: 0n }))).toBeUndefined();
  });

  it('is nothing for amounts the share does not limit, however much the request asks', () => {
    expect(shortfall(quota(pod('100m', '512Gi'), { gpus: 4n, cpuMillis: 3000n }))).toBeUndefined();
  });

  it('is nothing for a tenant without a fleet budget', () => {
    const local = facts(read({ tenants: { ml: { cpu: '1' } } }), pod('64'));
    expect(shortfall(local)).toBeUndefined();
  });
});
