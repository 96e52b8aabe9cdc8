// Quota over the pods' whole life, over HTTPS with usage from a pod (and ResourceClaim) informer
// reading a local list/watch server: a suspended Job or CronJob is counted when it is unsuspended, a
// CronJob's run when its Job is made, a controller's pod once its owner's reservation has lapsed;
// pods' requests as Kubernetes computes them (sidecars, pod-level resources, overhead); DRA claims
// and claim templates against GPU budgets. Reservations are held 400 ms here, so that the tests can
// let them lapse as the attacks in the issue did.
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/operations/decision-log/index.js';
import { FleetContext, parseFleetConfig } from '../src/facts/fleet/index.js';
import { KubeClient, loadKubeConfig } from '../src/sources/kube/index.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { eventually, FakeKube } from './helpers/fake-kube.js';
import { startServer, type TestServer } from './helpers/https.js';
import { logSink } from './helpers/log-sink.js';
import { admissionReview, type ReviewOptions } from './helpers/review.js';

type Json = Record<string, unknown>;
const PODS = '/api/v1/pods';
const CLAIMS = '/apis/resource.k8s.io/v1/resourceclaims';
const TTL_MS = 400;
const TENANTS = ['suspend', 'cron', 'sidecar', 'podlevel', 'dra'];
const CONTROLLER = { username: 'system:serviceaccount:kube-system:job-controller', groups: ['system:serviceaccounts', 'system:authenticated'] };

function policiesWithBudgets(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'canopy-quota-life-'));
  cpSync(STARTER_POLICIES, dir, { recursive: true });
  const tenants = TENANTS.map((t) => `  ${t}: {cpu: "4", memory: 8Gi, gpus: 1}`).join('\n');
  writeFileSync(path.join(dir, 'data/budgets.yaml'), `softThresholdPercent: 100\ndeviceClasses:\n  gpu.nvidia.com: gpus\ntenants:\n${tenants}\n`);
  return dir;
}

const container = (cpu: string, extra: Json = {}) => ({ name: 'app', image: 'app:1', resources: { requests: { cpu, memory: '64Mi' }, limits: { memory: '64Mi' } }, ...extra });
const podSpec = (cpu: string): Json => ({ containers: [container(cpu)] });
const pod = (namespace: string, name: string, spec: Json, metadata: Json = {}): Json => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, ...metadata }, spec });
const job = (namespace: string, name: string, cpu: string, suspend: boolean, metadata: Json = {}): Json => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name, namespace, ...metadata },
  spec: { suspend, parallelism: 1, template: { spec: { restartPolicy: 'Never', ...podSpec(cpu) } } },
});
const cronJob = (namespace: string, name: string, cpu: string, suspend: boolean): Json => ({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name, namespace },
  spec: { schedule: '0 * * * *', suspend, jobTemplate: { spec: { parallelism: 1, template: { spec: { restartPolicy: 'Never', ...podSpec(cpu) } } } } },
});
const ownedBy = (kind: string, name: string) => ({ ownerReferences: [{ apiVersion: 'batch/v1', kind, name, uid: `${name}-uid`, controller: true }] });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Answer {
  allowed: boolean;
  status?: { message: string };
}

describe('quota over the whole life of pods', () => {
  let kube: FakeKube;
  let fleet: FleetContext;
  let server: TestServer;
  const validate = async (object: Json, options: ReviewOptions = {}): Promise<Answer> =>
    ((await server.post('/validate', JSON.stringify(admissionReview(object, options)))).json() as { response: Answer }).response;
  const update = (object: Json, oldObject: Json) => validate(object, { operation: 'UPDATE', oldObject });
  const byController = (object: Json) => validate(object, { userInfo: CONTROLLER });

  beforeAll(async () => {
    kube = new FakeKube();
    for (const tenant of TENANTS) kube.put('/api/v1/namespaces', { metadata: { name: tenant, labels: { 'canopy.io/tenant': tenant } } });
    for (const collection of ['/api/v1/nodes', PODS, CLAIMS, '/apis/storage.k8s.io/v1/storageclasses', '/apis/about.k8s.io/v1alpha1/clusterproperties']) kube.collection(collection);
    await kube.start();
    const client = new KubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig() }));
    fleet = new FleetContext(parseFleetConfig({}), createLogger(logSink().stream), client, undefined, {}, { reservationTtlMs: TTL_MS });
    await fleet.start();
    await fleet.waitUntilReady();
    server = await startServer({ policies: policiesWithBudgets(), facts: (request) => fleet.factsFor(request) });
  });

  afterAll(async () => {
    await server.close();
    fleet.stop();
    await kube.stop();
  });

  it('counts a suspended Job when it is unsuspended, so suspending cannot smuggle Jobs past the budget', async () => {
    // Two Jobs of 3900m each, made suspended: they make no pods, so they add nothing yet.
    expect((await validate(job('suspend', 'a', '3900m', true))).allowed).toBe(true);
    await sleep(TTL_MS + 100);
    expect((await validate(job('suspend', 'b', '3900m', true))).allowed).toBe(true);
    // Unsuspending one starts its pods: judged against the budget now, and it fits.
    expect((await update(job('suspend', 'a', '3900m', false), job('suspend', 'a', '3900m', true))).allowed).toBe(true);
    // Its pod, made by the Job controller while the Job's reservation stands for it, is not counted twice.
    const podOfA = pod('suspend', '', podSpec('3900m'), { generateName: 'a-', ...ownedBy('Job', 'a') });
    expect((await byController(podOfA)).allowed).toBe(true);
    kube.put(PODS, { ...pod('suspend', 'a-x7k2p', podSpec('3900m')), status: { phase: 'Running' } });
    await eventually(() => fleet.ledger?.used('suspend').cpuMillis === 3900n, 'the informer to see the Job pod');
    // Unsuspending the second would overrun the budget: denied, in human units.
    const second = await update(job('suspend', 'b', '3900m', false), job('suspend', 'b', '3900m', true));
    expect(second.allowed).toBe(false);
    expect(second.status?.message).toContain('[quota.cpu] Tenant suspend would exceed its CPU budget: requested 3900m CPU, used 3900m, limit 4, remaining 100m.');
  });

  it("counts a controller's pod when no reservation of its owner stands for it", async () => {
    kube.put(PODS, { ...pod('suspend', 'other', podSpec('100m')), status: { phase: 'Running' } });
    await eventually(() => fleet.ledger?.used('suspend').cpuMillis === 4000n, 'the informer to see the other pod');
    // Job b was never admitted to run: its controller's pod is counted, and does not fit.
    const podOfB = await byController(pod('suspend', '', podSpec('3900m'), { generateName: 'b-', ...ownedBy('Job', 'b') }));
    expect(podOfB.allowed).toBe(false);
    expect(podOfB.status?.message).toContain('requested 3900m CPU, used 4, limit 4');
  });

  it('counts each run of a CronJob when its Job is made, once the CronJob has been unsuspended', async () => {
    expect((await validate(cronJob('cron', 'nightly', '3', true))).allowed).toBe(true);
    // Unsuspending counts one run: it fits, and is reserved.
    expect((await update(cronJob('cron', 'nightly', '3', false), cronJob('cron', 'nightly', '3', true))).allowed).toBe(true);
    expect(fleet.ledger?.used('cron').cpuMillis).toBe(3000n);
    await sleep(TTL_MS + 100);
    // The tenant has since spent the budget on a 2 CPU pod, which fits while nothing runs.
    expect((await validate(pod('cron', 'batch', podSpec('2')))).allowed).toBe(true);
    kube.put(PODS, { ...pod('cron', 'batch', podSpec('2')), status: { phase: 'Running' } });
    await eventually(() => fleet.ledger?.used('cron').cpuMillis === 2000n, 'the informer to see the pod');
    // The schedule fires: the CronJob controller's Job is a run that no longer fits.
    const run = await byController(job('cron', 'nightly-29000000', '3', false, ownedBy('CronJob', 'nightly')));
    expect(run.allowed).toBe(false);
    expect(run.status?.message).toContain('requested 3 CPU, used 2, limit 4');
  });

  it('counts sidecars declared before an init container as running alongside it', async () => {
    // A 2 CPU sidecar, then a 2500m init container: 4500m while it runs (Kubernetes' PodRequests).
    const spec = { initContainers: [{ ...container('2'), name: 'proxy', restartPolicy: 'Always' }, { ...container('2500m'), name: 'migrate' }], containers: [container('100m')] };
    const answer = await validate(pod('sidecar', 'p', spec));
    expect(answer.allowed).toBe(false);
    expect(answer.status?.message).toContain('requested 4500m CPU, used 0, limit 4');
  });

  it('counts pod-level resources in place of the containers, and the pod overhead', async () => {
    const big = await validate(pod('podlevel', 'big', { resources: { requests: { cpu: '32' } }, containers: [container('100m')] }));
    expect(big.allowed).toBe(false);
    expect(big.status?.message).toContain('requested 32 CPU, used 0, limit 4');
    const overhead = await validate(pod('podlevel', 'kata', { resources: { requests: { cpu: '3' } }, overhead: { cpu: '1500m' }, containers: [container('100m')] }));
    expect(overhead.status?.message).toContain('requested 4500m CPU, used 0, limit 4');
  });

  it('counts the GPUs of DRA claims and claim templates against the GPU budget, as long as the claims exist', async () => {
    const claim = (name: string, count: number): Json => ({
      apiVersion: 'resource.k8s.io/v1',
      kind: 'ResourceClaim',
      metadata: { name, namespace: 'dra' },
      spec: { devices: { requests: [{ name: 'gpu', exactly: { deviceClassName: 'gpu.nvidia.com', allocationMode: 'ExactCount', count } }] } },
    });
    const four = await validate(claim('four', 4));
    expect(four.allowed).toBe(false);
    expect(four.status?.message).toContain('[quota.gpus] Tenant dra would exceed its GPU budget: requested 4 GPUs, used 0, limit 1, remaining 1.');
    const template = await validate({
      apiVersion: 'resource.k8s.io/v1beta1',
      kind: 'ResourceClaimTemplate',
      metadata: { name: 'two', namespace: 'dra' },
      spec: { spec: { devices: { requests: [{ name: 'gpu', deviceClassName: 'gpu.nvidia.com', count: 2 }] } } },
    });
    expect(template.allowed).toBe(false);
    expect(template.status?.message).toContain('requested 2 GPUs');
    // One fits; once it exists, it holds the GPU after its reservation has lapsed.
    expect((await validate(claim('one', 1))).allowed).toBe(true);
    kube.put(CLAIMS, claim('one', 1));
    await sleep(TTL_MS + 100);
    await eventually(() => fleet.ledger?.used('dra', { 'gpu.nvidia.com': 'gpus' }).gpus === 1n, 'the claim informer to see the claim');
    const another = await validate(claim('another', 1));
    expect(another.allowed).toBe(false);
    expect(another.status?.message).toContain('requested 1 GPUs, used 1, limit 1, remaining 0.');
  });
});
