// A test fleet: clusters in Germany, France and the US, each a Canopy webhook over HTTPS whose fleet
// context reads a local Kubernetes API server (list/watch over TLS); kcp workspaces root:org-eu:payments
// and root:org-us:web; namespaces of each data class. Requests go through /mutate then /validate, as
// the API server sends them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/operations/decision-log/index.js';
import { describeIdentity, FleetContext, parseFleetConfig } from '../src/facts/fleet/index.js';
import { KubeClient, loadKubeConfig } from '../src/sources/kube/index.js';
import { fixture, STARTER_POLICIES } from './helpers/fixtures.js';
import { FakeKube } from './helpers/fake-kube.js';
import { startServer, type TestServer } from './helpers/https.js';
import { logSink } from './helpers/log-sink.js';
import { patched, type MutationResponse } from './helpers/patch.js';
import { pipelineFor } from './helpers/pipeline.js';
import { admissionReview } from './helpers/review.js';
import { policyDir } from './helpers/policy-dir.js';

type Json = Record<string, unknown>;
const REGION = 'topology.kubernetes.io/region';

interface Cluster {
  kube: FakeKube;
  fleet: FleetContext;
  server: TestServer;
}

function seed(kube: FakeKube, region: string, foreignRegion: string): void {
  const ns = (name: string, labels: Record<string, string>) => kube.put('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  ns('payments', { 'canopy.io/data-class': 'restricted' });
  ns('shop', { 'canopy.io/data-class': 'confidential' });
  ns('paris', { 'canopy.io/data-class': 'confidential', 'canopy.io/residency': 'fr' });
  ns('web', { 'canopy.io/data-class': 'public' });
  ns('plain', {});
  const sc = (name: string, extra: Json) => kube.put('/apis/storage.k8s.io/v1/storageclasses', { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name }, provisioner: 'x', ...extra });
  sc('standard', { metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } });
  sc('regional', { allowedTopologies: [{ matchLabelExpressions: [{ key: REGION, values: [region] }] }] });
  sc('wait', { volumeBindingMode: 'WaitForFirstConsumer' });
  const node = (name: string, nodeRegion: string) => kube.put('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { [REGION]: nodeRegion } }, status: { images: [{ names: ['big'], sizeBytes: 1 }] } });
  node('node-home', region);
  node('node-abroad', foreignRegion);
}

async function startCluster(region: string, foreignRegion: string, config: Json, extra: (kube: FakeKube) => void = () => {}): Promise<Cluster> {
  const kube = new FakeKube();
  seed(kube, region, foreignRegion);
  kube.collection('/apis/about.k8s.io/v1alpha1/clusterproperties');
  kube.collection('/api/v1/pods');
  extra(kube);
  await kube.start();
  const logger = createLogger(logSink().stream);
  const fleet = new FleetContext(parseFleetConfig(config), logger, new KubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig() })));
  await fleet.start();
  await fleet.waitUntilReady();
  const server = await startServer({ policies: STARTER_POLICIES, facts: (request) => fleet.factsFor(request), readiness: () => fleet.notReadyReason });
  return { kube, fleet, server };
}

/** What the API server does: mutate, apply the patch, validate the result. */
async function admit(cluster: Cluster, review: Json): Promise<{ allowed: boolean; message: string; object: Json }> {
  const request = review['request'] as Json;
  const mutation = (await cluster.server.post('/mutate', JSON.stringify(review))).json() as { response: MutationResponse };
  if (!mutation.response.allowed) return { allowed: false, message: mutation.response.status?.message ?? '', object: request['object'] as Json };
  const object = patched(request['object'] as Json, mutation.response);
  const validation = (await cluster.server.post('/validate', JSON.stringify({ ...review, request: { ...request, object } }))).json() as { response: MutationResponse };
  return { allowed: validation.response.allowed, message: validation.response.status?.message ?? '', object };
}

const review = (object: Json, options: { subResource?: string; resource?: string } = {}): Json =>
  admissionReview(object, {
    ...(options.subResource ? { subResource: options.subResource } : {}),
    ...(options.resource ? { resource: { group: '', version: 'v1', resource: options.resource } } : {}),
  });

const container = { name: 'app', image: `registry.example.com/team/app@sha256:${'a'.repeat(64)}`, resources: { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '8Mi' } } };
const deployment = (namespace: string, annotations: Record<string, string> = {}): Json => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'app', namespace, annotations },
  spec: { template: { spec: { containers: [container] } } },
});
const podIn = (namespace: string, spec: Json = {}): Json => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace }, spec: { containers: [container], ...spec } });
const statefulSet = (namespace: string, storageClassName: string): Json => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: 'db', namespace },
  spec: { template: { spec: { containers: [container] } }, volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { storageClassName } }] },
});
const pvc = (namespace: string, spec: Json): Json => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace }, spec });
const binding = (namespace: string, node: string): Json => ({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p', namespace }, target: { apiVersion: 'v1', kind: 'Node', name: node } });
const affinityOf = (object: Json): unknown => (((object['spec'] as Json)['template'] as Json)['spec'] as Json)['affinity'];

describe('a fleet of three clusters', () => {
  let de: Cluster;
  let fr: Cluster;
  let us: Cluster;

  beforeAll(async () => {
    // Germany describes itself with ClusterProperty objects; France with its config file; the US with
    // a ClusterProfile. Germany and France map a kcp logical cluster; the US discovers them.
    de = await startCluster('eu-central-1', 'us-east-1', { kcp: { logicalClusters: { abc123: 'root:org-eu:payments' }, workspaces: { 'root:org-eu': { labels: { 'canopy.io/data-class': 'confidential' } } } } }, (kube) => {
      const property = (name: string, value: string) => kube.put('/apis/about.k8s.io/v1alpha1/clusterproperties', { apiVersion: 'about.k8s.io/v1alpha1', kind: 'ClusterProperty', metadata: { name }, spec: { value } });
      property('cluster.clusterset.k8s.io', 'de-1');
      property('canopy.io/jurisdiction', 'DE');
      property('canopy.io/region', 'eu-central-1');
    });
    fr = await startCluster('eu-west-3', 'eu-central-1', {
      cluster: { name: 'fr-1', region: 'eu-west-3', jurisdiction: 'FR', environment: 'production' },
      kcp: { logicalClusters: { abc123: 'root:org-eu:payments' }, workspaces: { 'root:org-eu:payments': { labels: { 'canopy.io/data-class': 'restricted' } } } },
    });
    us = await startCluster('us-east-1', 'eu-central-1', { cluster: { clusterProfile: { namespace: 'fleet', name: 'us' } }, kcp: { discover: true } }, (kube) => {
      kube.put('/apis/multicluster.x-k8s.io/v1alpha1/namespaces/fleet/clusterprofiles', {
        apiVersion: 'multicluster.x-k8s.io/v1alpha1',
        kind: 'ClusterProfile',
        metadata: { name: 'us', namespace: 'fleet' },
        status: { properties: [{ name: 'cluster.clusterset.k8s.io', value: 'us-1' }, { name: 'canopy.io/jurisdiction', value: 'US' }, { name: 'canopy.io/region', value: 'us-east-1' }, { name: 'tier', value: 'gold' }] },
      });
      kube.putSingle('/clusters/us789/apis/core.kcp.io/v1alpha1/logicalclusters/cluster', {
        metadata: { name: 'cluster', annotations: { 'kcp.io/path': 'root:org-us:web' }, labels: { 'canopy.io/data-class': 'public' } },
      });
    });
  });

  afterAll(async () => {
    for (const cluster of [de, fr, us]) {
      await cluster?.server.close();
      cluster?.fleet.stop();
      await cluster?.kube.stop();
    }
  });

  it('knows each cluster from its own source', () => {
    expect(de.fleet.cluster).toMatchObject({ name: 'de-1', jurisdiction: 'DE', region: 'eu-central-1' });
    expect(de.fleet.status().identity.sources).toMatchObject({ name: 'ClusterProperty', jurisdiction: 'ClusterProperty' });
    expect(fr.fleet.cluster).toMatchObject({ name: 'fr-1', jurisdiction: 'FR', environment: 'production' });
    expect(us.fleet.cluster).toMatchObject({ name: 'us-1', jurisdiction: 'US', labels: { tier: 'gold' } });
    expect(us.fleet.status().identity.sources).toMatchObject({ name: 'ClusterProfile' });
    // The start-up line says where each part came from.
    expect(describeIdentity(us.fleet.status().identity)).toBe('cluster us-1 (from ClusterProfile): region us-east-1 (from ClusterProfile), jurisdiction US (from ClusterProfile), labels tier=gold (from ClusterProfile)');
    expect(describeIdentity(de.fleet.status().identity)).toBe('cluster de-1 (from ClusterProperty): region eu-central-1 (from ClusterProperty), jurisdiction DE (from ClusterProperty)');
  });

  it('keeps only labels of nodes in memory', () => {
    expect(JSON.stringify(de.fleet.status().caches)).toContain('"nodes":{"synced":true,"objects":2}');
  });

  it('runs restricted data in Germany, pinned to German regions by the mutation', async () => {
    const result = await admit(de, review(deployment('payments')));
    expect(result).toMatchObject({ allowed: true });
    expect(affinityOf(result.object)).toEqual({
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: REGION, operator: 'In', values: ['eu-central-1', 'europe-west3', 'germanywestcentral'] }] }] } },
    });
  });

  it('refuses restricted data in France, saying which class, cluster and jurisdiction, and where it may go', async () => {
    const result = await admit(fr, review(deployment('payments')));
    expect(result.allowed).toBe(false);
    expect(result.message).toContain("[sovereignty.jurisdiction] Namespace data class 'restricted' may not be processed in cluster fr-1 (jurisdiction 'FR'); it is allowed in: DE.");
  });

  it('runs confidential data anywhere in the EU but not in the US', async () => {
    expect((await admit(fr, review(deployment('shop')))).allowed).toBe(true);
    expect((await admit(de, review(deployment('shop')))).allowed).toBe(true);
    const inUs = await admit(us, review(deployment('shop')));
    expect(inUs.allowed).toBe(false);
    expect(inUs.message).toContain('cluster us-1');
  });

  it('narrows by residency: confidential data resident in France stays in France', async () => {
    expect((await admit(fr, review(deployment('paris')))).allowed).toBe(true);
    expect((await admit(de, review(deployment('paris')))).message).toContain("[sovereignty.jurisdiction] Namespace data class 'confidential'");
  });

  it('leaves public and unclassified namespaces alone everywhere', async () => {
    for (const cluster of [de, fr, us]) {
      for (const namespace of ['web', 'plain']) {
        const result = await admit(cluster, review(deployment(namespace)));
        expect(result.allowed).toBe(true);
        expect(affinityOf(result.object)).toBeUndefined();
      }
    }
  });

  it('denies a Pod pinned outside the allowed regions', async () => {
    const result = await admit(de, review(podIn('payments', { nodeSelector: { [REGION]: 'us-east-1' } })));
    expect(result.allowed).toBe(false);
    expect(result.message).toContain('[sovereignty.pod-regions]');
  });

  it('checks StatefulSet volumeClaimTemplates and PVCs against storage class topologies', async () => {
    expect((await admit(de, review(statefulSet('payments', 'standard')))).message).toContain('[sovereignty.storage-regions]');
    expect((await admit(de, review(statefulSet('payments', 'regional')))).allowed).toBe(true);
    expect((await admit(de, review(pvc('payments', {})))).message).toContain('[sovereignty.storage-regions]'); // the default class
    expect((await admit(de, review(pvc('payments', { storageClassName: 'wait' })))).allowed).toBe(true);
    expect((await admit(de, review(pvc('web', {})))).allowed).toBe(true);
  });

  it('lets the scheduler bind a restricted pod only to a node in an allowed region', async () => {
    const bind = (node: string) => review(binding('payments', node), { subResource: 'binding', resource: 'pods' });
    const abroad = await admit(de, bind('node-abroad'));
    expect(abroad.allowed).toBe(false);
    expect(abroad.message).toContain("[sovereignty.binding-region] Node node-abroad is in region 'us-east-1'");
    expect((await admit(de, bind('node-home'))).allowed).toBe(true);
  });

  it('inherits the data class of a kcp workspace and its ancestors', async () => {
    const inWorkspace = deployment('plain', { 'kcp.io/cluster': 'abc123' });
    // Germany: root:org-eu is confidential, so root:org-eu:payments is too; allowed in the EU and pinned.
    const inGermany = await admit(de, review(inWorkspace));
    expect(inGermany.allowed).toBe(true);
    expect(affinityOf(inGermany.object)).toBeDefined();
    // France labels root:org-eu:payments itself restricted: only Germany.
    expect((await admit(fr, review(inWorkspace))).message).toContain("data class 'restricted' may not be processed in cluster fr-1");
  });

  it('discovers a workspace path from kcp, and fails closed on a logical cluster it cannot place', async () => {
    expect((await admit(us, review(deployment('plain', { 'kcp.io/cluster': 'us789' })))).allowed).toBe(true);
    const unknown = await admit(us, review(deployment('plain', { 'kcp.io/cluster': 'nope' })));
    expect(unknown.allowed).toBe(false);
    expect(unknown.message).toContain('the workspace of logical cluster nope is unknown');
  });

  it('fetches a namespace not yet in the cache once, and fails closed past the deadline', async () => {
    // Added without a watch event: only a direct GET can find it.
    de.kube.collection('/api/v1/namespaces').set('late', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'late', labels: { 'canopy.io/data-class': 'restricted' } } });
    const [a, b] = await Promise.all([admit(de, review(deployment('late'))), admit(de, review(podIn('late')))]);
    expect([a.allowed, b.allowed]).toEqual([true, true]);
    expect(de.kube.count('GET /api/v1/namespaces/late')).toBe(1);

    de.kube.hang.add('/api/v1/namespaces/slow');
    const slow = await admit(de, review(deployment('slow')));
    expect(slow.allowed).toBe(false);
    expect(slow.message).toMatch(/the labels of namespace slow could not be read \(GET \/api\/v1\/namespaces\/slow: no answer within 1000 ms\), so Canopy fails closed/);
  });

  it('follows namespace label changes through the watch', async () => {
    expect((await admit(de, review(deployment('web')))).allowed).toBe(true);
    de.kube.put('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'web', labels: { 'canopy.io/data-class': 'top-secret' } } });
    let result = await admit(de, review(deployment('web')));
    const deadline = Date.now() + 5000;
    while (result.allowed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      result = await admit(de, review(deployment('web')));
    }
    expect(result.allowed).toBe(false);
    expect(result.message).toContain("data class 'top-secret'");
  });
});

describe('workspaces in Cedar', () => {
  it('makes a workspace the parent of everything below it', async () => {
    const t = await pipelineFor(
      policyDir({
        'org-eu.cedar': '@id("no-org-eu")\n@advice("not in org-eu")\nforbid (principal, action, resource in k8s::Workspace::"root:org-eu");\n',
      }),
    );
    const facts = (path: string) => ({ workspace: { path, logicalCluster: 'x', labels: {} } });
    expect(t.pipeline.review(fixture(12), facts('root:org-eu:payments')).decision.denials.map((d) => d.id)).toEqual(['no-org-eu']);
    expect(t.pipeline.review(fixture(12), facts('root:org-us:web')).decision.allowed).toBe(true);
    expect(t.pipeline.review(fixture(12)).decision.allowed).toBe(true);
  });
});
