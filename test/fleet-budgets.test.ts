// Fleet-wide budgets across three clusters: three `canopy serve` processes, each reading its own cluster
// (a list/watch API server on 127.0.0.1), share FleetBudgets kept in one fleet store (another, whose
// PUTs are compare-and-swap on resourceVersion, answered 409 Conflict as etcd makes the API server do).
// - 1,000 concurrent creates spread over the three never admit more than the fleet budget, and admit
//   at least 95% of it;
// - a cluster that dies gives back, once its grant expires, what it held beyond its claim (the most it
//   may have admitted, which the ledger keeps counting);
// - a restart loses nothing: what was admitted is still counted, and the ledger still says it;
// - with the fleet store stopped, each cluster admits within the share it holds and denies beyond it,
//   saying why.
// What the API server does after admitting (persisting the pod) the test does: each admitted pod is put
// into its cluster's API server, so that the cluster's pod informer counts it as a real one would.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFleetBudget, type FleetBudget } from '../src/kubernetes/objects/fleet-budget.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { FakeKube } from './helpers/fake-kube.js';
import { admissionReview } from './helpers/review.js';
import { httpsCall, killServers, startServe, type ServeProcess } from './helpers/serve.js';

type Json = Record<string, unknown>;
const BUDGETS = '/apis/canopy.io/v1alpha1/namespaces/canopy-fleet/fleetbudgets';
const PODS = '/api/v1/pods';
const LEASE_SECONDS = 10;
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'canopy-fleet-budgets-'));

/** The schema, the quota policies and their data; budgets.yaml names the fleet tenants. */
function policies(): string {
  const dir = tempDir();
  mkdirSync(path.join(dir, 'quota'));
  mkdirSync(path.join(dir, 'data'));
  writeFileSync(path.join(dir, 'schema.cedarschema'), readFileSync(path.join(STARTER_POLICIES, 'schema.cedarschema')));
  for (const file of ['cpu.cedar', 'memory.cedar', 'gpus.cedar', 'cost.cedar', 'fleet.cedar']) {
    writeFileSync(path.join(dir, 'quota', file), readFileSync(path.join(STARTER_POLICIES, 'quota', file)));
  }
  writeFileSync(path.join(dir, 'data/prices.yaml'), readFileSync(path.join(STARTER_POLICIES, 'data/prices.yaml')));
  writeFileSync(
    path.join(dir, 'data/budgets.yaml'),
    ['fleet:', '  ml-team: {share: {gpus: 5}}', '  infer: {share: {gpus: 4}}', '  batch: {share: {gpus: 10}}', ''].join('\n'),
  );
  return dir;
}

const budget = (name: string, gpus: number): Json => ({
  apiVersion: 'canopy.io/v1alpha1',
  kind: 'FleetBudget',
  metadata: { name, namespace: 'canopy-fleet' },
  spec: { tenant: name, limits: { gpus }, currency: 'EUR' },
});

const gpuPod = (namespace: string, name: string): Json => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace },
  spec: { containers: [{ name: 'train', image: 'trainer:1', resources: { limits: { 'nvidia.com/gpu': 1 } } }] },
});

interface Cluster {
  name: string;
  region: string;
  api: FakeKube;
  state: string;
  serve?: ServeProcess;
  agent: Agent;
  ca: () => string;
  pods: number;
  /** Pods admitted, by tenant. */
  admitted: Map<string, number>;
}

describe('fleet-wide budgets, three clusters, one fleet store', () => {
  const store = new FakeKube();
  const dir = policies();
  const clusters: Cluster[] = [
    { name: 'eu-1', region: 'eu-west-1' },
    { name: 'eu-2', region: 'eu-west-1' },
    { name: 'us-1', region: 'us-east-1' },
  ].map(({ name, region }) => {
    const state = tempDir();
    return { name, region, api: new FakeKube(), state, agent: new Agent({ keepAlive: true, maxSockets: 32 }), ca: () => readFileSync(path.join(state, 'tls', 'ca.crt'), 'utf8'), pods: 0, admitted: new Map<string, number>() };
  });
  const [eu1, eu2, us1] = clusters as [Cluster, Cluster, Cluster];

  async function start(cluster: Cluster): Promise<void> {
    cluster.serve = await startServe([
      '--policies', dir,
      '--state-dir', cluster.state,
      '--kubeconfig', cluster.api.kubeconfig(),
      '--cluster-name', cluster.name,
      '--region', cluster.region,
      '--provider', 'aws',
      '--fleet-kubeconfig', store.kubeconfig(),
      '--fleet-lease-seconds', String(LEASE_SECONDS),
      // Generous: the test counts what is admitted, not how fast; a busy machine must not turn admissions into deadline denials.
      '--deadline', '20000',
    ]);
    const ready = Date.now() + 30_000;
    while ((await httpsCall(cluster.serve.port, cluster.ca(), 'GET', '/readyz', undefined, { agent: cluster.agent })).status !== 200) {
      if (Date.now() > ready) throw new Error(`${cluster.name} did not become ready: ${cluster.serve.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Asks one cluster to admit a 1-GPU pod of `tenant`; an admitted pod is then created in that cluster. */
  async function create(cluster: Cluster, tenant: string): Promise<{ allowed: boolean; message: string }> {
    const serve = cluster.serve;
    if (!serve) throw new Error(`${cluster.name} is not running`);
    cluster.pods += 1;
    const pod = gpuPod(tenant, `${tenant}-${cluster.pods}`);
    const answer = await httpsCall(serve.port, cluster.ca(), 'POST', '/validate', JSON.stringify(admissionReview(pod)), { agent: cluster.agent, timeoutMs: 60_000 });
    const response = (JSON.parse(answer.body) as { response: { allowed: boolean; status?: { message?: string } } }).response;
    if (response.allowed) {
      cluster.api.put(PODS, { ...pod, status: { phase: 'Running' } });
      cluster.admitted.set(tenant, (cluster.admitted.get(tenant) ?? 0) + 1);
    }
    return { allowed: response.allowed, message: response.status?.message ?? '' };
  }

  const ledger = (name: string): FleetBudget => {
    const object = store.collection(BUDGETS).get(name);
    if (!object) throw new Error(`no FleetBudget ${name}`);
    return readFleetBudget(object);
  };
  const sum = (name: string, field: 'granted' | 'claimed' | 'used') => Object.values(ledger(name).clusters).reduce((total, entry) => total + entry[field].gpus, 0n);
  /** A cluster's claim in the ledger: the most it may have admitted. */
  const claim = (name: string, cluster: Cluster) => ledger(name).clusters[cluster.name]?.claimed.gpus ?? 0n;

  async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  beforeAll(async () => {
    for (const [name, gpus] of [['ml-team', 150], ['infer', 12], ['batch', 30]] as const) store.put(BUDGETS, budget(name, gpus));
    await store.start();
    for (const cluster of clusters) {
      for (const tenant of ['ml-team', 'infer', 'batch']) cluster.api.put('/api/v1/namespaces', { metadata: { name: tenant, labels: { 'canopy.io/tenant': tenant } } });
      for (const collection of ['/api/v1/nodes', PODS, '/apis/storage.k8s.io/v1/storageclasses', '/apis/about.k8s.io/v1alpha1/clusterproperties']) cluster.api.collection(collection);
      await cluster.api.start();
    }
    await Promise.all(clusters.map((cluster) => start(cluster)));
  });

  afterAll(async () => {
    killServers();
    for (const cluster of clusters) {
      cluster.agent.destroy();
      await cluster.api.stop();
    }
    await store.stop();
  });

  it('admits no more than the fleet budget across three clusters, 1,000 concurrent creates, and at least 95% of it', async () => {
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => create(clusters[i % 3] as Cluster, 'ml-team')));
    const admitted = answers.filter((answer) => answer.allowed).length;
    expect(admitted).toBeLessThanOrEqual(150);
    expect(admitted).toBeGreaterThanOrEqual(143);
    // Every denial is the fleet budget's, and they say it is spent.
    const denials = answers.filter((answer) => !answer.allowed).map((answer) => answer.message);
    expect(denials.filter((message) => !message.includes('[quota.fleet]'))).toEqual([]);
    expect(denials.filter((message) => /fleet budget ml-team is spent/i.test(message)).length).toBeGreaterThan(0);
    // The ledger never granted more than the budget, and each cluster claimed at least what it admitted.
    expect(sum('ml-team', 'granted')).toBeLessThanOrEqual(150n);
    expect(Object.keys(ledger('ml-team').clusters).sort()).toEqual(['eu-1', 'eu-2', 'us-1']);
    for (const cluster of clusters) expect(claim('ml-team', cluster)).toBeGreaterThanOrEqual(BigInt(cluster.admitted.get('ml-team') ?? 0));
    expect(sum('ml-team', 'claimed')).toBeLessThanOrEqual(150n);
    // What each cluster uses is published at its next renewal: the fleet's use is what was admitted.
    await until(async () => sum('ml-team', 'used') === BigInt(admitted), `the ledger to publish ${admitted} GPUs used`, 3 * LEASE_SECONDS * 1000);
  });

  it('gives back what a dead cluster held beyond its claim, once its grant expires, never what it may have admitted', async () => {
    expect((await create(us1, 'infer')).allowed).toBe(true);
    expect((await create(us1, 'infer')).allowed).toBe(true);
    // us-1 asked for what it needed and a step (4) more, and claimed half a step ahead: it holds 5 of 12, claims 3, uses 2.
    expect(ledger('infer').clusters['us-1']?.granted.gpus).toBe(5n);
    expect(claim('infer', us1)).toBe(3n);
    for (let i = 0; i < 10; i += 1) await create(eu1, 'infer');
    expect(eu1.admitted.get('infer')).toBe(7);
    us1.serve?.proc.kill('SIGKILL');
    await us1.serve?.exited;
    // Once us-1's grant has expired, what it held beyond its claim (2 GPUs) can be granted again; its claim of 3 still counts.
    await until(async () => (await create(eu1, 'infer')).allowed, "us-1's grant to expire and eu-1 to be granted what it held", 4 * LEASE_SECONDS * 1000);
    for (let i = 0; i < 5; i += 1) await create(eu1, 'infer');
    expect(eu1.admitted.get('infer')).toBe(9);
    expect(claim('infer', eu1) + claim('infer', us1)).toBe(12n);
  });

  it('loses nothing on a restart: what was admitted is still counted and still in the ledger', async () => {
    eu1.serve?.proc.kill('SIGTERM');
    expect(await eu1.serve?.exited).toBe(0);
    // On SIGTERM, after the drain, eu-1 gave back what it held and did not use: grant and claim are its 9 pods.
    expect(ledger('infer').clusters['eu-1']?.granted.gpus).toBe(9n);
    expect(claim('infer', eu1)).toBe(9n);
    await start(eu1);
    // The restarted eu-1 reads its entry back: GET /status shows the grant and claim it left.
    const claimed = async () => {
      const status = await httpsCall(eu1.serve?.port ?? 0, eu1.ca(), 'GET', '/status', undefined, { agent: eu1.agent });
      return (JSON.parse(status.body) as { fleetBudgets?: Record<string, { claimed?: { gpus: string } }> }).fleetBudgets?.['infer']?.claimed?.gpus;
    };
    await until(async () => (await claimed()) !== undefined, "the restarted eu-1's first reading of the fleet store", 20_000);
    expect(await claimed()).toBe('9');
    const after = await create(eu1, 'infer');
    expect(after.allowed).toBe(false);
    expect(after.message).toMatch(/fleet budget infer is spent/i);
    expect((await create(eu1, 'ml-team')).allowed).toBe(false);
    expect(claim('infer', eu1)).toBeGreaterThanOrEqual(9n);
  });

  it('with the fleet store stopped, admits within the share each cluster holds and denies beyond it, saying why', async () => {
    expect((await create(eu1, 'batch')).allowed).toBe(true);
    expect((await create(eu2, 'batch')).allowed).toBe(true);
    // Each asked for 1 and a step (10) more, and claimed half a step ahead: each holds 11 of 30 and claims 6.
    expect(ledger('batch').clusters['eu-1']?.granted.gpus).toBe(11n);
    expect(ledger('batch').clusters['eu-2']?.granted.gpus).toBe(11n);
    expect(claim('batch', eu1)).toBe(6n);
    await store.stop();
    for (const cluster of [eu1, eu2]) {
      let denial = '';
      for (let i = 0; i < 15; i += 1) {
        const answer = await create(cluster, 'batch');
        if (!answer.allowed) denial ||= answer.message;
      }
      expect(cluster.admitted.get('batch')).toBe(6);
      expect(denial).toContain('quota.fleet');
      expect(denial).toMatch(/the fleet store \(https:\/\/127\.0\.0\.1:\d+\) could not be reached/i);
    }
  });
});
