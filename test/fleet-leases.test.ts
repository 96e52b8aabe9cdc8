// This cluster's shares of fleet budgets (facts/fleet-budgets/leases.ts) against a fleet store on
// 127.0.0.1 that answers as an API server does: what a request is told when the store refuses this
// cluster (403), holds no such FleetBudget (404) or holds one that cannot be read; and that nothing is
// granted then. (A store that cannot be reached: test/fleet-budgets.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetBudgetLeases } from '../src/facts/fleet-budgets/index.js';
import type { FleetTenant } from '../src/facts/quota/index.js';
import { NO_AMOUNTS, type FleetAmounts } from '../src/kubernetes/objects/fleet-budget.js';
import { KubeClient, loadKubeConfig } from '../src/sources/kube/index.js';
import { FakeKube } from './helpers/fake-kube.js';

const BUDGETS = '/apis/canopy.io/v1alpha1/namespaces/canopy-fleet/fleetbudgets';
const gpus = (n: bigint): FleetAmounts => ({ ...NO_AMOUNTS, gpus: n });

describe('fleet budget shares when the fleet store says no', () => {
  const store = new FakeKube();
  let client: KubeClient;
  const problems: string[] = [];
  const leases = (budget: string) => {
    const entry: FleetTenant = { budget, share: { gpus: 2n } };
    const shares = new FleetBudgetLeases({
      client,
      namespace: 'canopy-fleet',
      identity: () => ({ name: 'de-1', region: 'eu-central-1', provider: 'aws' }),
      leaseMs: 60_000,
      timeoutMs: 2000,
      tenants: () => new Map([['ml', entry]]),
      usage: () => NO_AMOUNTS,
      lock: (_tenant, task) => task(),
      onProblem: (message) => problems.push(message),
    });
    return { shares, entry };
  };
  /** Asks for one GPU, then what a request would be judged with. */
  const afterAsking = async (budget: string) => {
    const { shares, entry } = leases(budget);
    await shares.grow('ml', entry, gpus(1n), 5000);
    return shares.view('ml', entry, NO_AMOUNTS);
  };

  beforeAll(async () => {
    store.put(BUDGETS, { apiVersion: 'canopy.io/v1alpha1', kind: 'FleetBudget', metadata: { name: 'ml', namespace: 'canopy-fleet' }, spec: { tenant: 'ml', limits: { gpus: 8 } } });
    store.put(BUDGETS, { apiVersion: 'canopy.io/v1alpha1', kind: 'FleetBudget', metadata: { name: 'broken', namespace: 'canopy-fleet' }, spec: { tenant: 'broken', limits: { gpus: 'eight' } } });
    store.refuse.set(`${BUDGETS}/forbidden`, 403);
    await store.start();
    client = new KubeClient(loadKubeConfig({ kubeconfig: store.kubeconfig() }));
  });
  afterAll(async () => {
    await client.close();
    await store.stop();
  });

  it('is granted what it needs and a step, and claims half a step ahead, when the store agrees', async () => {
    const view = await afterAsking('ml');
    expect(view).toMatchObject({ current: true, note: '', share: { gpus: 2n }, limit: { gpus: 8n } });
    const entry = (store.collection(BUDGETS).get('ml')?.['status'] as { clusters: Record<string, { granted: { gpus: string }; claimed: { gpus: string } }> }).clusters['de-1'];
    expect(entry?.granted.gpus).toBe('3');
    expect(entry?.claimed.gpus).toBe('2');
  });

  it('holds nothing, saying the store refused it, when its identity may not (403)', async () => {
    const view = await afterAsking('forbidden');
    expect(view.share).toEqual(NO_AMOUNTS);
    expect(view.current).toBe(false);
    expect(view.note).toMatch(/^the fleet store \(https:\/\/127\.0\.0\.1:\d+\) refused this cluster's access to FleetBudget canopy-fleet\/forbidden: .*403/);
  });

  it('holds nothing, saying there is no such FleetBudget (404)', async () => {
    const view = await afterAsking('missing');
    expect(view.share).toEqual(NO_AMOUNTS);
    expect(view.note).toMatch(/^there is no FleetBudget canopy-fleet\/missing in the fleet store \(https:\/\/127\.0\.0\.1:\d+\), so no share of it is held here/);
  });

  it('holds nothing, naming the field, when the FleetBudget cannot be read', async () => {
    const view = await afterAsking('broken');
    expect(view.share).toEqual(NO_AMOUNTS);
    expect(view.note).toContain('FleetBudget broken: spec.limits.gpus must be a Kubernetes quantity');
  });
});
