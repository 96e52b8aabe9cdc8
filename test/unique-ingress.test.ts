// best-practices.unique-ingress needs the cluster's other Ingresses: the CEL variable `inventory`,
// which `canopy serve` fills from an Ingress informer (list/watch of a local API server over TLS) and
// an audit of manifests from the manifests. Until the informer has synced, the rule fails closed,
// saying why, and Canopy stays ready for everything else.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runAudit } from '../src/cli/audit/index.js';
import { createLogger } from '../src/operations/decision-log/index.js';
import { FleetContext, parseFleetConfig } from '../src/facts/fleet/index.js';
import { KubeClient, loadKubeConfig } from '../src/sources/kube/index.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { eventually, FakeKube } from './helpers/fake-kube.js';
import { startServer, type TestServer } from './helpers/https.js';
import { logSink } from './helpers/log-sink.js';
import { admissionReview } from './helpers/review.js';

type Json = Record<string, unknown>;
const INGRESSES = '/apis/networking.k8s.io/v1/ingresses';

const ingress = (namespace: string, name: string, host: string, paths: string[]): Json => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace },
  spec: {
    ingressClassName: 'nginx',
    tls: [{ hosts: [host], secretName: `${name}-tls` }],
    rules: [{ host, http: { paths: paths.map((p) => ({ path: p, pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } })) } }],
  },
});

interface Cluster {
  kube: FakeKube;
  fleet: FleetContext;
  server: TestServer;
}

async function startCluster(setup: (kube: FakeKube) => void): Promise<Cluster> {
  const kube = new FakeKube();
  for (const name of ['team-a', 'team-b']) kube.put('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { team: name } } });
  for (const collection of ['/api/v1/nodes', '/api/v1/pods', '/apis/storage.k8s.io/v1/storageclasses', '/apis/about.k8s.io/v1alpha1/clusterproperties']) kube.collection(collection);
  setup(kube);
  await kube.start();
  const fleet = new FleetContext(parseFleetConfig({}), createLogger(logSink().stream), new KubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig() })));
  await fleet.start();
  await fleet.waitUntilReady();
  const server = await startServer({ policies: STARTER_POLICIES, facts: (request) => fleet.factsFor(request), readiness: () => fleet.notReadyReason });
  return { kube, fleet, server };
}

async function stop(cluster: Cluster | undefined): Promise<void> {
  if (!cluster) return;
  await cluster.server.close();
  cluster.fleet.stop();
  await cluster.kube.stop();
}

async function validate(cluster: Cluster, object: Json): Promise<{ allowed: boolean; message: string }> {
  const answer = (await cluster.server.post('/validate', JSON.stringify(admissionReview(object)))).json() as { response: { allowed: boolean; status?: { message?: string } } };
  return { allowed: answer.response.allowed, message: answer.response.status?.message ?? '' };
}

describe('unique Ingress host and path, against the cluster’s Ingresses', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster((kube) => kube.put(INGRESSES, ingress('team-b', 'shop', 'shop.example.com', ['/', '/api'])));
    await eventually(() => cluster.fleet.status().caches['ingresses']?.synced === true, 'the ingresses cache');
  });
  afterAll(() => stop(cluster));

  it('denies an Ingress that routes a host and path another Ingress routes, naming it; allows a path of its own', async () => {
    const taken = await validate(cluster, ingress('team-a', 'checkout', 'shop.example.com', ['/api', '/checkout']));
    expect(taken.allowed).toBe(false);
    expect(taken.message).toContain('[best-practices.unique-ingress] Another Ingress already routes shop.example.com/api (team-b/shop)');
    expect(taken.message).not.toContain('/checkout');
    expect((await validate(cluster, ingress('team-a', 'checkout', 'shop.example.com', ['/checkout']))).allowed).toBe(true);
  });

  it('in an audit of the cluster, compares each Ingress with the cluster’s others', async () => {
    cluster.kube.put(INGRESSES, ingress('team-a', 'shop-copy', 'shop.example.com', ['/api']));
    try {
      const { report } = await runAudit({ policies: STARTER_POLICIES, contexts: ['fake'], allContexts: false, kubeconfig: cluster.kube.kubeconfig(), manifests: [], kinds: 'ingresses', logger: createLogger(logSink().stream) });
      const flagged = report.results.filter((result) => result.failures.some((f) => f.policy === 'best-practices.unique-ingress'));
      expect(flagged.map((result) => `${result.namespace}/${result.name}`).sort()).toEqual(['team-a/shop-copy', 'team-b/shop']);
    } finally {
      cluster.kube.remove(INGRESSES, 'shop-copy');
      await eventually(() => cluster.fleet.status().caches['ingresses']?.objects === 1, 'the copy gone from the cache');
    }
  });

  it('follows the cluster: once the other Ingress is deleted, its path is free', async () => {
    cluster.kube.put(INGRESSES, ingress('team-b', 'blog', 'blog.example.com', ['/']));
    await eventually(() => cluster.fleet.status().caches['ingresses']?.objects === 2, 'the new Ingress in the cache');
    expect((await validate(cluster, ingress('team-a', 'blog-copy', 'blog.example.com', ['/']))).allowed).toBe(false);
    cluster.kube.remove(INGRESSES, 'blog');
    await eventually(() => cluster.fleet.status().caches['ingresses']?.objects === 1, 'the deletion in the cache');
    expect((await validate(cluster, ingress('team-a', 'blog-copy', 'blog.example.com', ['/']))).allowed).toBe(true);
  });
});

describe('unique Ingress host and path, when the Ingresses cannot be listed', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster((kube) => {
      kube.collection(INGRESSES);
      kube.refuse.set(INGRESSES, 403);
    });
  });
  afterAll(() => stop(cluster));

  it('fails closed on Ingresses, saying why, and stays ready for everything else', async () => {
    expect(cluster.fleet.notReadyReason).toBeUndefined();
    const denied = await validate(cluster, ingress('team-a', 'checkout', 'shop.example.com', ['/checkout']));
    expect(denied.allowed).toBe(false);
    expect(denied.message).toContain('[best-practices.unique-ingress] could not be evaluated');
    expect(denied.message).toContain("the cluster's Ingresses are not known yet (the ingresses cache has not synced");
    const config = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'team-a' }, data: { a: 'b' } };
    expect((await validate(cluster, config)).allowed).toBe(true);
  });
});

describe('unique Ingress host and path in an audit of manifests', () => {
  it('compares each Ingress with the others of the manifests: both of a colliding pair are reported', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'canopy-unique-ingress-'));
    writeFileSync(path.join(dir, 'shop.yaml'), stringify(ingress('team-b', 'shop', 'shop.example.com', ['/', '/api'])));
    writeFileSync(path.join(dir, 'checkout.yaml'), stringify(ingress('team-a', 'checkout', 'shop.example.com', ['/api'])));
    writeFileSync(path.join(dir, 'blog.yaml'), stringify(ingress('team-a', 'blog', 'blog.example.com', ['/'])));
    const { report } = await runAudit({ policies: STARTER_POLICIES, contexts: [], allContexts: false, manifests: [dir], logger: createLogger(logSink().stream) });
    const flagged = report.results.filter((result) => result.failures.some((f) => f.policy === 'best-practices.unique-ingress'));
    expect(flagged.map((result) => `${result.namespace}/${result.name}`).sort()).toEqual(['team-a/checkout', 'team-b/shop']);
    const shop = flagged.find((result) => result.name === 'shop');
    expect(shop?.failures.find((f) => f.policy === 'best-practices.unique-ingress')?.message).toContain('shop.example.com/api (team-a/checkout)');
  });
});
