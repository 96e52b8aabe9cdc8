// The webhook's engine path: evaluation in real worker threads, policy sets loaded into every worker
// before they serve, a worker that dies replaced (its requests denied, not lost), hot reloads under
// load, and the decision cache keyed by what a decision depends on.
import { afterEach, describe, expect, it } from 'vitest';
import { EvaluationPool } from '../src/pipeline/index.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { fixture, fixtureNames, STARTER_POLICIES } from './helpers/fixtures.js';
import { policyDir, undecidedPolicies } from './helpers/policy-dir.js';
import { admissionReview } from './helpers/review.js';
import type { RequestFacts } from '../src/policy/translate/index.js';

const pools: EvaluationPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

function pooled(options: { workers?: number; decisionCacheSize?: number } = {}): { pipeline: AdmissionPipeline; pool: EvaluationPool } {
  const pool = new EvaluationPool(options.workers ?? 2);
  pools.push(pool);
  return { pool, pipeline: new AdmissionPipeline({ pool, decisionCacheSize: options.decisionCacheSize ?? 0 }) };
}

// Its `in` is a test only Cedar evaluates (engine/conditions.ts decides simpler ones in the planning
// thread): so every Pod request goes to a worker.
const POD_POLICY = (id: string) =>
  `@id("${id}")\n@advice("pods are refused by ${id}")\nforbid (principal, action == k8s::Action::"create", resource is k8s::Workload) when { resource.kind == "Pod" && !(principal in k8s::Group::"canopy-undecided") };\n`;

describe('evaluation in worker threads', () => {
  it('gives every real request the answer the in-thread engine gives, on both webhooks', async () => {
    const checked = await loadPolicyDirectory(STARTER_POLICIES);
    const { pipeline, pool } = pooled();
    await pipeline.activate(checked);
    const inThread = new AdmissionPipeline({ decisionCacheSize: 0 });
    await inThread.activate(checked);
    expect(pool.status()).toMatchObject({ workers: 2, ready: 2 });
    let denied = 0;
    let patched = 0;
    for (const name of fixtureNames()) {
      const body = fixture(name);
      const [validated, mutated] = await Promise.all([pipeline.handleValidate(body), pipeline.handleMutate(body)]);
      expect(validated.review, name).toEqual(inThread.review(body).review);
      expect(mutated.review, name).toEqual(inThread.mutate(body).review);
      if (!validated.review.response.allowed) denied += 1;
      if (mutated.review.response.patch) patched += 1;
    }
    // The comparison is worth something only if the policies spoke.
    expect(denied).toBeGreaterThan(0);
    expect(patched).toBeGreaterThan(0);
  });

  it('asks Cedar only about requests some policy is left for, and hands it only what those policies read', async () => {
    // Pod Security controls Cedar must evaluate (policy-dir.ts): the shipped ones are decided without it.
    // A worker judges a whole request; what it would hand Cedar is the plan of the set it holds.
    const pipeline = new AdmissionPipeline({ decisionCacheSize: 0 });
    const set = await pipeline.activate(await loadPolicyDirectory(undecidedPolicies()));
    const sent: { mask: string; request: string }[] = [];
    const names = fixtureNames();
    for (const name of names) {
      const plan = set.engine.plan(pipeline.cedarRequestFor(fixture(name)).cedarRequest, 'validating');
      if (!('evaluation' in plan)) sent.push({ mask: plan.mask, request: JSON.stringify(plan.request) });
    }
    // Most requests end with no policy left (a ConfigMap, a Pod that breaks no control): no Cedar call.
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length).toBeLessThan(names.length / 2);
    // The cloud-resources pack declares cloudProvider and cloudRegion for every kind ("" for an object of
    // no cloud provider's API group), and its policies test them first with `!= ""`: a guard, so a
    // request of no cloud resource (a ConfigMap, a ServiceAccount) never goes to Cedar for them.
    const factsOf = (message: { request: string }): Record<string, unknown> => {
      const request = JSON.parse(message.request) as { resource: unknown; entities: { uid: unknown; attrs: { facts?: Record<string, unknown> } }[] };
      return request.entities.find((entity) => JSON.stringify(entity.uid) === JSON.stringify(request.resource))?.attrs.facts ?? {};
    };
    expect(sent.filter((message) => factsOf(message)['cloudRegion'] === '')).toEqual([]);
    // A Pod breaking some Pod Security controls goes with the subset it is judged against, and without
    // the facts of the controls it passes or the attributes no remaining policy reads.
    const pod = sent.find((message) => message.mask.includes('0') && message.request.includes('psRunAsNonRoot'));
    expect(pod).toBeDefined();
    expect(pod?.request).not.toContain('psHostPathVolumes');
    expect(pod?.request).not.toContain('imagesWithoutDigest');
  });

  it("decides in a worker what this thread decides with the cluster's look-ups: storage classes, a binding's node, the inventory", async () => {
    // A cluster in Germany, restricted data (EU regions only), two storage classes (the default in the
    // US), two nodes, and one Ingress: what the fleet context's caches answer.
    const classes = new Map([
      ['eu', { name: 'eu', regions: ['eu-central-1'], waitForFirstConsumer: false, isDefault: false }],
      ['us', { name: 'us', regions: ['us-east-1'], waitForFirstConsumer: false, isDefault: true }],
    ]);
    const nodes: Record<string, Record<string, string>> = { 'node-eu': { 'topology.kubernetes.io/region': 'eu-central-1' }, 'node-us': { 'topology.kubernetes.io/region': 'us-east-1' } };
    const inventory = {
      ingressesWithHosts: (hosts: readonly string[]) =>
        hosts.includes('taken.example.com')
          ? [{ metadata: { namespace: 'other', name: 'taken' }, spec: { rules: [{ host: 'taken.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'x', port: { number: 80 } } } }] } }] }, hostPaths: ['taken.example.com/'] }]
          : [],
    };
    const facts = async (): Promise<RequestFacts> => ({
      cluster: { name: 'de-1', region: 'eu-central-1', jurisdiction: 'DE', provider: 'aws', environment: 'prod', labels: {} },
      namespaceLabels: { 'canopy.io/data-class': 'restricted' },
      storageClass: (name) => classes.get(name),
      defaultStorageClass: () => [...classes.values()].find((info) => info.isDefault),
      nodeLabels: (name) => nodes[name],
      inventory,
    });
    const checked = await loadPolicyDirectory(STARTER_POLICIES);
    const pool = new EvaluationPool(2);
    pools.push(pool);
    const pipeline = new AdmissionPipeline({ pool, decisionCacheSize: 0, facts });
    await pipeline.activate(checked);
    const inThread = new AdmissionPipeline({ decisionCacheSize: 0, facts });
    await inThread.activate(checked);

    const claim = (name: string, storageClassName?: string) =>
      admissionReview({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'payments' }, spec: { ...(storageClassName ? { storageClassName } : {}), accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } });
    const statefulSet = (storageClassName: string) =>
      admissionReview({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: `db-${storageClassName}`, namespace: 'payments' },
        spec: { serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: `registry.example.com/db@sha256:${'a'.repeat(64)}` }] } }, volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { storageClassName, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }] },
      });
    const binding = (node: string) =>
      admissionReview({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'web-1', namespace: 'payments' }, target: { apiVersion: 'v1', kind: 'Node', name: node } }, { resource: { group: '', version: 'v1', resource: 'pods' }, subResource: 'binding' });
    const ingress = (host: string) =>
      admissionReview({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'payments' }, spec: { ingressClassName: 'nginx', rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] } });
    const cases: [string, Record<string, unknown>][] = [
      ['a claim of the EU class', claim('eu-claim', 'eu')],
      ['a claim of the US class', claim('us-claim', 'us')],
      ['a claim of the default class (US)', claim('default-claim')],
      ['a StatefulSet claiming from the EU class', statefulSet('eu')],
      ['a StatefulSet claiming from the US class', statefulSet('us')],
      ['a binding to the EU node', binding('node-eu')],
      ['a binding to the US node', binding('node-us')],
      ['an Ingress with a host of its own', ingress('mine.example.com')],
      ['an Ingress with a host another one has', ingress('taken.example.com')],
    ];
    const verdicts: Record<string, string[]> = {};
    for (const [name, body] of cases) {
      const pooledResult = await pipeline.handleValidate(body);
      const inThreadResult = await inThread.handleValidate(body);
      expect(pooledResult.decision, name).toEqual(inThreadResult.decision);
      // The mutating webhook's decision (its patch, its failures) is a worker's too.
      expect((await pipeline.handleMutate(body)).review, name).toEqual((await inThread.handleMutate(body)).review);
      verdicts[name] = pooledResult.decision.denials.map((hit) => hit.id).filter((id) => /storage-regions|binding-region|unique-ingress/.test(id));
    }
    // The look-ups decided: each policy denied exactly where the cluster's answers say it must.
    expect(verdicts).toEqual({
      'a claim of the EU class': [],
      'a claim of the US class': ['sovereignty.storage-regions'],
      'a claim of the default class (US)': ['sovereignty.storage-regions'],
      'a StatefulSet claiming from the EU class': [],
      'a StatefulSet claiming from the US class': ['sovereignty.storage-regions'],
      'a binding to the EU node': [],
      'a binding to the US node': ['sovereignty.binding-region'],
      'an Ingress with a host of its own': [],
      'an Ingress with a host another one has': ['best-practices.unique-ingress'],
    });
  });

  it('denies a request whose facts cannot cross to a worker, saying so, rather than failing the call', async () => {
    // A gatherer bug: a look-up answer holding a function, which structured clone refuses.
    const facts = async (): Promise<RequestFacts> => ({ imageLookups: new Map([['registry.example.com/app:1', { digest: 'sha256:1', signature: { verified: true, check: () => true } }]]) }) as unknown as RequestFacts;
    const pool = new EvaluationPool(1);
    pools.push(pool);
    const pipeline = new AdmissionPipeline({ pool, decisionCacheSize: 0, facts });
    await pipeline.activate(await loadPolicyDirectory(STARTER_POLICIES));
    const result = await pipeline.handleValidate(fixture(11));
    expect(result.review.response.allowed).toBe(false);
    expect(result.decision.failure).toMatch(/could not be sent to an evaluation worker: .*could not be cloned/);
  });

  it('loads a set into every worker before it answers with it, and keeps answering through reloads', async () => {
    const { pipeline } = pooled();
    await pipeline.activate(await loadPolicyDirectory(policyDir({ 'a.cedar': POD_POLICY('first') })));
    const pod = fixture(11);
    const inFlight: Promise<string[]>[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 50; i++) inFlight.push(pipeline.handleValidate(pod).then((result) => result.decision.denials.map((hit) => hit.id)));
      // Activations while requests are queued in the workers: each request is judged by one set or the other.
      await pipeline.activate(await loadPolicyDirectory(policyDir({ 'a.cedar': POD_POLICY(round % 2 === 0 ? 'second' : 'first') })));
    }
    const answers = await Promise.all(inFlight);
    expect(answers).toHaveLength(200);
    for (const denials of answers) expect(['first', 'second']).toContain(denials[0]);
    // After the last activation (round 3 activates "first"), every worker answers with it.
    const after = await Promise.all(Array.from({ length: 20 }, () => pipeline.handleValidate(pod)));
    expect(new Set(after.map((result) => result.decision.denials[0]?.id))).toEqual(new Set(['first']));
  });

  it('denies the requests of a worker that dies, names why, and replaces the worker', async () => {
    const { pipeline, pool } = pooled({ workers: 2 });
    // A privileged Pod whose controls Cedar must evaluate, so that each request goes to a worker.
    await pipeline.activate(await loadPolicyDirectory(undecidedPolicies()));
    const [victim] = pool.threadIds;
    if (victim === undefined) throw new Error('no worker');
    const requests = Array.from({ length: 40 }, () => pipeline.handleValidate(fixture(11)));
    await pool.terminateWorker(victim);
    const results = await Promise.all(requests);
    const lost = results.filter((result) => result.decision.failure);
    // Whatever the dead worker held is denied with the reason; nothing is allowed by accident or lost.
    for (const result of lost) {
      expect(result.review.response.allowed).toBe(false);
      expect(result.decision.failure).toContain('the evaluation worker stopped before answering');
    }
    expect(results.length).toBe(40);
    expect(lost.length).toBeGreaterThan(0);
    await expect.poll(() => pool.status(), { timeout: 10_000 }).toMatchObject({ workers: 2, ready: 2, replaced: 1 });
    expect(pool.threadIds).not.toContain(victim);
    // The replacement holds the active set: every request is judged again.
    const again = await Promise.all(Array.from({ length: 20 }, () => pipeline.handleValidate(fixture(11))));
    expect(again.every((result) => result.decision.failure === undefined && result.review.response.allowed)).toBe(true);
  });

  it('refuses to make active a set that any worker could not load, and keeps the active one', async () => {
    const { pipeline, pool } = pooled();
    const good = await pipeline.activate(await loadPolicyDirectory(policyDir({ 'a.cedar': POD_POLICY('first') })));
    await pool.close();
    await expect(pipeline.activate(await loadPolicyDirectory(policyDir({ 'a.cedar': POD_POLICY('second') })))).rejects.toThrow(/could not be loaded into the evaluation workers: the evaluation pool is closed/);
    expect(pipeline.policySet?.revision).toBe(good.revision);
  });
});

describe('the decision cache', () => {
  /** A Deployment UPDATE as a GitOps tool re-applies it: only bookkeeping fields change. */
  const reapplied = (n: number) => {
    const review = fixture(31);
    review.request.uid = `uid-${n}`;
    for (const object of [review.request.object, review.request.oldObject]) {
      const metadata = (object?.['metadata'] ?? {}) as Record<string, unknown>;
      metadata['resourceVersion'] = String(1000 + n);
      metadata['managedFields'] = [{ manager: `argocd-${n}`, operation: 'Apply', time: `2026-11-21T10:00:0${n % 10}Z` }];
      metadata['creationTimestamp'] = `2026-11-2${n % 10}T00:00:00Z`;
      metadata['generation'] = n;
    }
    return review;
  };

  it('answers a re-applied object from the cache, whatever its uid, resourceVersion, managedFields and timestamps', async () => {
    const { pipeline } = pooled({ decisionCacheSize: 100 });
    // Controls Cedar must evaluate: the shipped set decides this Deployment's update without it.
    await pipeline.activate(await loadPolicyDirectory(undecidedPolicies()));
    const first = await pipeline.handleValidate(reapplied(1));
    const again = await Promise.all([2, 3, 4, 5].map((n) => pipeline.handleValidate(reapplied(n))));
    expect(pipeline.cacheStatus()).toMatchObject({ hits: 4, misses: 1, entries: 1 });
    for (const [index, result] of again.entries()) {
      expect(result.review.response.uid).toBe(`uid-${index + 2}`);
      expect(result.decision.allowed).toBe(first.decision.allowed);
    }
  });

  it('evaluates again when anything a policy can see changes, or the policy set does', async () => {
    const { pipeline } = pooled({ decisionCacheSize: 100 });
    // Controls Cedar must evaluate: what the engine decides without it is not cached (nor needs to be).
    await pipeline.activate(await loadPolicyDirectory(undecidedPolicies()));
    const privileged = fixture(11);
    await pipeline.handleValidate(privileged);
    const labelled = fixture(11);
    (labelled.request.object?.['metadata'] as Record<string, unknown>)['labels'] = { app: 'other' };
    await pipeline.handleValidate(labelled);
    expect(pipeline.cacheStatus()).toMatchObject({ hits: 0, misses: 2 });

    await pipeline.activate(await loadPolicyDirectory(policyDir({ 'a.cedar': POD_POLICY('pods') })));
    const result = await pipeline.handleValidate(privileged);
    expect(pipeline.cacheStatus()).toMatchObject({ hits: 0, misses: 3 });
    expect(result.decision.denials.map((hit) => hit.id)).toEqual(['pods']);
  });
});
