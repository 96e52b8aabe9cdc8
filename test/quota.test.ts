// Quota and cost admission over HTTPS, with usage from a pod informer reading a local list/watch
// server: budgets that allow and deny Pods, Deployments, scale-ups and GPUs; the soft threshold; 20
// concurrent requests against a budget that fits 5; pods deleted free their budget; dry runs reserve
// nothing; a quantity that cannot be read is a clear denial.
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
const TENANTS = ['fits', 'crowd', 'pooled', 'freed', 'dry', 'scale', 'gpu', 'bad'];

/** The shipped policies with a budget of 4 CPU, 8Gi and 1 GPU for each test's own tenant. */
function policiesWithBudgets(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'canopy-quota-'));
  cpSync(STARTER_POLICIES, dir, { recursive: true });
  const tenants = TENANTS.map((t) => `  ${t}: {cpu: "4", memory: 8Gi, gpus: 1}`).join('\n');
  writeFileSync(path.join(dir, 'data/budgets.yaml'), `softThresholdPercent: 75\ntenants:\n${tenants}\n`);
  return dir;
}

const container = (cpu: string, extra: Json = {}) => ({ name: 'app', image: 'app:1', resources: { requests: { cpu, memory: '64Mi' }, limits: { memory: '64Mi', ...extra } } });
const pod = (namespace: string, name: string, cpu: string, extra: Json = {}): Json => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace },
  spec: { containers: [container(cpu, extra)] },
});

const review = (object: Json, options: ReviewOptions = {}): string =>
  JSON.stringify(admissionReview(object, { resource: { group: '', version: 'v1', resource: 'pods' }, ...options }));

interface Answer {
  allowed: boolean;
  status?: { message: string };
  warnings?: string[];
}

describe('quota admission against live usage', () => {
  let kube: FakeKube;
  let fleet: FleetContext;
  let server: TestServer;
  const validate = async (body: string): Promise<Answer> => ((await server.post('/validate', body)).json() as { response: Answer }).response;

  beforeAll(async () => {
    kube = new FakeKube();
    // Pod Security warns/audits at baseline here (not the default restricted): the warnings these tests read are quota's.
    const quietPodSecurity = { 'pod-security.kubernetes.io/warn': 'baseline', 'pod-security.kubernetes.io/audit': 'baseline' };
    for (const tenant of TENANTS) kube.put('/api/v1/namespaces', { metadata: { name: tenant, labels: { 'canopy.io/tenant': tenant, ...quietPodSecurity } } });
    for (const collection of ['/api/v1/nodes', PODS, '/apis/storage.k8s.io/v1/storageclasses', '/apis/about.k8s.io/v1alpha1/clusterproperties']) kube.collection(collection);
    kube.put('/apis/apps/v1/namespaces/scale/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: 'scale' },
      spec: { replicas: 1, template: { spec: { containers: [container('500m')] } } },
    });
    // Pods of tenant "scale" already running: 1 CPU.
    kube.put(PODS, { ...pod('scale', 'api-1', '1'), status: { phase: 'Running' } });
    await kube.start();
    fleet = new FleetContext(parseFleetConfig({}), createLogger(logSink().stream), new KubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig() })));
    await fleet.start();
    await fleet.waitUntilReady();
    server = await startServer({ policies: policiesWithBudgets(), facts: (request) => fleet.factsFor(request) });
  });

  afterAll(async () => {
    await server.close();
    fleet.stop();
    await kube.stop();
  });

  it('admits what fits and denies what does not, in human units', async () => {
    expect((await validate(review(pod('fits', 'a', '3')))).allowed).toBe(true);
    const over = await validate(review(pod('fits', 'b', '1500m')));
    expect(over.allowed).toBe(false);
    expect(over.status?.message).toContain('[quota.cpu] Tenant fits would exceed its CPU budget: requested 1500m CPU, used 3, limit 4, remaining 1.');
  });

  it('admits exactly 5 of 20 concurrent requests when the budget fits 5', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => validate(review(pod('crowd', `worker-${i}`, '800m')))));
    expect(answers.filter((a) => a.allowed)).toHaveLength(5);
    expect(answers.filter((a) => !a.allowed).every((a) => a.status?.message.includes('[quota.cpu]'))).toBe(true);
  });

  it('admits exactly 5 of 20 concurrent requests when evaluation runs in worker threads', async () => {
    // Evaluation is asynchronous there: the tenant's requests are judged one at a time, from reading
    // usage to reserving, so they cannot all read the same usage and pass together. The 20 are started
    // in one tick, so all of them reach the pipeline before any worker has answered.
    const pooled = await startServer({ policies: policiesWithBudgets(), facts: (request) => fleet.factsFor(request), workers: 2 });
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => pooled.pipeline.handleValidate(JSON.parse(review(pod('pooled', `worker-${i}`, '800m'))))));
      expect(results.filter((result) => result.decision.allowed)).toHaveLength(5);
      expect(results.filter((result) => !result.decision.allowed).every((result) => result.decision.denials.some((hit) => hit.id === 'quota.cpu'))).toBe(true);
      // The worker fills in the advice from the quota facts this thread derived and sent it.
      const denial = results.find((result) => !result.decision.allowed)?.decision.denials.find((hit) => hit.id === 'quota.cpu');
      expect(denial?.advice).toContain('Tenant pooled would exceed its CPU budget: requested 800m CPU, used 4, limit 4, remaining 0.');
      // What cannot be counted is denied, saying why, before any worker is asked.
      const uncountable = await pooled.pipeline.handleValidate(JSON.parse(review(pod('pooled', 'odd', 'lots'))));
      expect(uncountable.decision.allowed).toBe(false);
      expect(uncountable.decision.failure).toContain('what the request asks for cannot be counted: containers[0] (app): the cpu request "lots" is not a Kubernetes quantity');
    } finally {
      await pooled.close();
    }
  });

  it('frees budget when the watch reports pods deleted', async () => {
    for (let i = 0; i < 4; i++) kube.put(PODS, { ...pod('freed', `old-${i}`, '1'), status: { phase: 'Running' } });
    await eventually(() => fleet.ledger?.used('freed').cpuMillis === 4000n, 'the informer to see 4 CPU in use');
    expect((await validate(review(pod('freed', 'new', '1')))).allowed).toBe(false);
    kube.remove(PODS, 'freed/old-0'.split('/')[1] ?? '');
    kube.put(PODS, { ...pod('freed', 'old-1', '1'), status: { phase: 'Succeeded' } });
    await eventually(() => fleet.ledger?.used('freed').cpuMillis === 2000n, 'the deletion and the finished pod to be seen');
    expect((await validate(review(pod('freed', 'new', '1')))).allowed).toBe(true);
  });

  it('judges dry runs but reserves nothing for them', async () => {
    const dryRuns = await Promise.all(Array.from({ length: 10 }, (_, i) => validate(review(pod('dry', `d-${i}`, '3'), { dryRun: true }))));
    expect(dryRuns.every((a) => a.allowed)).toBe(true);
    expect(fleet.ledger?.used('dry').cpuMillis).toBe(0n);
    expect((await validate(review(pod('dry', 'real', '3')))).allowed).toBe(true);
    expect((await validate(review(pod('dry', 'real-2', '3')))).allowed).toBe(false);
  });

  it('counts a Deployment as its replicas, and a scale-up through the scale subresource as the added ones', async () => {
    // Written as the best-practices pack asks (an owner, the app.kubernetes.io/name label, a probe, no
    // automounted token), so that the warnings read here are quota's, as with Pod Security above.
    const deployment = (replicas: number): Json => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'scale', annotations: { 'canopy.io/owner': 'team-scale' } },
      spec: {
        replicas,
        template: {
          metadata: { labels: { 'app.kubernetes.io/name': 'web' } },
          spec: { automountServiceAccountToken: false, containers: [{ ...container('500m'), readinessProbe: { httpGet: { path: '/healthz', port: 8080 } } }] },
        },
      },
    });
    const apps = { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } };
    expect((await validate(review(deployment(8), apps))).status?.message).toContain('requested 4 CPU, used 1, limit 4, remaining 3');
    // 1 CPU running + 5 × 500m = 3500m: admitted, above the 75% soft threshold (3 CPU).
    const admitted = await validate(review(deployment(5), apps));
    expect(admitted.allowed).toBe(true);
    expect(admitted.warnings).toEqual([expect.stringContaining('[quota.soft-threshold] Tenant scale is above 75% of a budget limit')]);

    const scale = (replicas: number): Json => ({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'api', namespace: 'scale' }, spec: { replicas } });
    const viaScale = { kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' }, subResource: 'scale', operation: 'UPDATE' };
    const up = await validate(review(scale(4), { ...viaScale, oldObject: scale(1) }));
    expect(up.allowed).toBe(false);
    expect(up.status?.message).toContain('requested 1500m CPU, used 3500m, limit 4, remaining 500m');
    expect((await validate(review(scale(2), { ...viaScale, oldObject: scale(1) }))).allowed).toBe(true);
    expect((await validate(review(scale(1), { ...viaScale, oldObject: scale(3) }))).allowed).toBe(true);
  });

  it('counts GPUs', async () => {
    expect((await validate(review(pod('gpu', 'train-1', '100m', { 'nvidia.com/gpu': '1' })))).allowed).toBe(true);
    const second = await validate(review(pod('gpu', 'train-2', '100m', { 'nvidia.com/gpu': '1' })));
    expect(second.status?.message).toContain('[quota.gpus] Tenant gpu would exceed its GPU budget: requested 1 GPUs, used 1, limit 1, remaining 0.');
  });

  it('denies clearly, not with an exception, what cannot be counted', async () => {
    const result = await server.post('/validate', review(pod('bad', 'p', 'lots')));
    expect(result.status).toBe(200);
    const answer = (result.json() as { response: Answer }).response;
    expect(answer.allowed).toBe(false);
    expect(answer.status?.message).toContain('what the request asks for cannot be counted: containers[0] (app): the cpu request "lots" is not a Kubernetes quantity');
  });
});
