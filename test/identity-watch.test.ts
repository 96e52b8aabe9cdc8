// The cluster's identity followed without a restart: ClusterProperty objects and the ClusterProfile are
// changed on a local API server (list/watch over TLS) after Canopy started, and the next decisions,
// /status and the log say so. Also `canopy serve` end to end: its start-up line and its /status.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/operations/decision-log/index.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { FleetContext, parseFleetConfig, type IdentityStatus } from '../src/facts/fleet/index.js';
import { KubeClient, loadKubeConfig } from '../src/sources/kube/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { createServer, type WebhookApp } from '../src/server/index.js';
import { createCertificateAuthority, issueServingCertificate } from '../src/sources/tls/index.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { eventually, FakeKube } from './helpers/fake-kube.js';
import { logSink } from './helpers/log-sink.js';
import { patched, type MutationResponse } from './helpers/patch.js';
import { admissionReview } from './helpers/review.js';
import { httpsCall, killServers, startServe } from './helpers/serve.js';

type Json = Record<string, unknown>;
const PROPERTIES = '/apis/about.k8s.io/v1alpha1/clusterproperties';
const PROFILES = '/apis/multicluster.x-k8s.io/v1alpha1/namespaces/fleet/clusterprofiles';
/** Generous: the reflectors' retries are quick here, but a loaded machine is slow. */
const WAIT_MS = 15_000;
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'canopy-identity-'));

const ca = createCertificateAuthority('identity test CA');
const serving = issueServingCertificate(ca, { hosts: ['127.0.0.1', 'localhost'] });

const property = (name: string, value: string): Json => ({ apiVersion: 'about.k8s.io/v1alpha1', kind: 'ClusterProperty', metadata: { name }, spec: { value } });
const profile = (name: string, properties: Record<string, string>): Json => ({
  apiVersion: 'multicluster.x-k8s.io/v1alpha1',
  kind: 'ClusterProfile',
  metadata: { name, namespace: 'fleet' },
  status: { properties: Object.entries(properties).map(([key, value]) => ({ name: key, value })) },
});
const container = { name: 'app', image: `registry.example.com/team/app@sha256:${'a'.repeat(64)}`, resources: { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '8Mi' } } };
/** Restricted data: allowed in Germany only (policies/sovereignty), so it depends on the cluster's jurisdiction. */
const restricted = (): Json =>
  admissionReview({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'app', namespace: 'payments' }, spec: { template: { spec: { containers: [container] } } } });

interface Cluster {
  kube: FakeKube;
  fleet: FleetContext;
  app: WebhookApp;
  port: number;
  /** What the fleet context logged. */
  log: Json[];
}

let running: Cluster | undefined;

afterEach(async () => {
  killServers();
  if (!running) return;
  await running.app.close();
  running.fleet.stop();
  await running.kube.stop();
  running = undefined;
});

/** A cluster whose API server holds what `seed` puts there, and a webhook over HTTPS judging with its fleet context. */
async function startCluster(config: Json, seed: (kube: FakeKube) => void): Promise<Cluster> {
  const kube = new FakeKube();
  kube.put('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels: { 'canopy.io/data-class': 'restricted' } } });
  // Ingresses too, a built-in API every real API server serves: Canopy's Ingress informer (inventory.ingresses) lists
  // and watches them, and a 404 there would be logged as a warning this file's tests do not expect.
  for (const collection of ['/api/v1/nodes', '/api/v1/pods', '/apis/storage.k8s.io/v1/storageclasses', '/apis/networking.k8s.io/v1/ingresses']) kube.collection(collection);
  seed(kube);
  await kube.start();
  const { stream, lines } = logSink();
  const logger = createLogger(stream);
  const client = new KubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig() }));
  // Quick retries, and a missing CRD looked for again every 100 ms rather than every minute.
  const fleet = new FleetContext(parseFleetConfig(config), logger, client, undefined, { initialBackoffMs: 50, crdRecheckMs: 100 });
  await fleet.start();
  await fleet.waitUntilReady();
  const pipeline = new AdmissionPipeline({ decisionLog: createLogger(logSink().stream), facts: (request) => fleet.factsFor(request) });
  await pipeline.activate(await loadPolicyDirectory(STARTER_POLICIES));
  const app = await createServer({ pipeline, tls: serving, logger: createLogger(logSink().stream), status: () => ({ fleet: fleet.status() }) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  running = { kube, fleet, app, port, log: lines };
  return running;
}

/** What the API server does: mutate, apply the patch, validate the result. */
async function admit(port: number, authority: string, review: Json): Promise<{ allowed: boolean; message: string }> {
  const post = async (route: string, body: Json) => (JSON.parse((await httpsCall(port, authority, 'POST', route, JSON.stringify(body))).body) as { response: MutationResponse }).response;
  const request = review['request'] as Json;
  const mutation = await post('/mutate', review);
  if (!mutation.allowed) return { allowed: false, message: mutation.status?.message ?? '' };
  const validation = await post('/validate', { ...review, request: { ...request, object: patched(request['object'] as Json, mutation) } });
  return { allowed: validation.allowed, message: validation.status?.message ?? '' };
}

async function identityOf(port: number, authority: string): Promise<IdentityStatus> {
  return (JSON.parse((await httpsCall(port, authority, 'GET', '/status')).body) as { fleet: { identity: IdentityStatus } }).fleet.identity;
}

/** Polls an asynchronous check until it holds; fails with the last value seen. */
async function until<T>(read: () => Promise<T>, holds: (value: T) => boolean, what: string, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (holds(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const messages = (cluster: Cluster) => cluster.log.map((line) => String(line['msg']));

describe('the cluster identity, followed through the API server watch', () => {
  it('applies ClusterProperty objects added, changed and deleted after start to the next decisions, /status and the log', async () => {
    const cluster = await startCluster({ cluster: { name: 'de-1', jurisdiction: 'DE' } }, (kube) => kube.put(PROPERTIES, property('region.canopy.io', 'eu-central-1')));
    const judge = () => admit(cluster.port, ca.cert, restricted());
    const status = () => identityOf(cluster.port, ca.cert);
    expect(await judge()).toMatchObject({ allowed: true });
    expect((await status()).origins).toMatchObject({ jurisdiction: { source: 'config' }, region: { source: 'ClusterProperty', property: 'region.canopy.io' } });

    // Added: a ClusterProperty now says France, over the config's Germany.
    cluster.kube.put(PROPERTIES, property('jurisdiction.canopy.io', 'fr'));
    const denied = await until(judge, (result) => !result.allowed, 'the restricted deployment to be denied in France');
    expect(denied.message).toContain("may not be processed in cluster de-1 (jurisdiction 'FR')");
    const inFrance = await status();
    expect(inFrance.identity.jurisdiction).toBe('FR');
    expect(inFrance.origins.jurisdiction).toEqual({ source: 'ClusterProperty', property: 'jurisdiction.canopy.io' });
    expect(inFrance.lastChange?.changes).toEqual(['jurisdiction DE → FR (from ClusterProperty jurisdiction.canopy.io)']);
    expect(messages(cluster)).toContain('cluster identity changed: jurisdiction DE → FR (from ClusterProperty jurisdiction.canopy.io)');

    // Changed: the region moves, and a label appears.
    cluster.kube.put(PROPERTIES, property('region.canopy.io', 'eu-west-3'));
    cluster.kube.put(PROPERTIES, property('tier', 'gold'));
    const moved = await until(status, (s) => s.identity.region === 'eu-west-3' && s.identity.labels['tier'] === 'gold', 'the new region and label in /status');
    expect(moved.origins.labels['tier']).toEqual({ source: 'ClusterProperty', property: 'tier' });
    await eventually(() => messages(cluster).some((m) => m.includes('label tier (unset) → gold (from ClusterProperty tier)')), 'the label change logged');
    expect(messages(cluster).some((m) => m.includes('region eu-central-1 → eu-west-3 (from ClusterProperty region.canopy.io)'))).toBe(true);

    // Deleted: the config's Germany applies again, and so does the decision.
    cluster.kube.remove(PROPERTIES, 'jurisdiction.canopy.io');
    await until(judge, (result) => result.allowed, 'the restricted deployment to be allowed again');
    const back = await status();
    expect(back.identity.jurisdiction).toBe('DE');
    expect(back.origins.jurisdiction).toEqual({ source: 'config' });
    expect(back.lastChange?.changes).toEqual(['jurisdiction FR → DE (from config)']);
    expect(back.problems).toEqual([]);
    expect(messages(cluster)).toContain('cluster identity changed: jurisdiction FR → DE (from config)');
    // Followed by one watch, not read again: one LIST of ClusterProperty objects in all.
    expect(cluster.kube.count(`GET ${PROPERTIES}?limit=`)).toBe(1);
  });

  it('keeps the last ClusterProperty objects read while their watch fails, and catches up when it works again', async () => {
    const cluster = await startCluster({}, (kube) => {
      kube.put(PROPERTIES, property('cluster.clusterset.k8s.io', 'de-1'));
      kube.put(PROPERTIES, property('jurisdiction.canopy.io', 'DE'));
    });
    const status = () => identityOf(cluster.port, ca.cert);
    await eventually(() => cluster.kube.openWatches >= 1, 'the ClusterProperty watch');
    // The watch drops and every new one is refused: the source fails.
    cluster.kube.refuse.set(PROPERTIES, 403);
    cluster.kube.dropWatches();
    const failing = await until(status, (s) => s.problems.length > 0, 'the failing watch in /status');
    expect(failing.problems[0]).toMatch(/^ClusterProperty objects could not be watched: Forbidden; keeping the 2 read before$/);
    expect(failing.identity).toMatchObject({ name: 'de-1', jurisdiction: 'DE' });
    expect(failing.origins.jurisdiction).toEqual({ source: 'ClusterProperty', property: 'jurisdiction.canopy.io' });
    expect(await admit(cluster.port, ca.cert, restricted())).toMatchObject({ allowed: true });

    // Changed while the watch was refused; seen once it works again, from where the watch left off.
    cluster.kube.put(PROPERTIES, property('jurisdiction.canopy.io', 'FR'));
    cluster.kube.refuse.delete(PROPERTIES);
    const caughtUp = await until(status, (s) => s.identity.jurisdiction === 'FR' && s.problems.length === 0, 'the change made while the watch failed');
    expect(caughtUp.lastChange?.changes).toEqual(['jurisdiction DE → FR (from ClusterProperty jurisdiction.canopy.io)']);
    expect((await admit(cluster.port, ca.cert, restricted())).allowed).toBe(false);
  });

  it('counts a ClusterProperty CRD that is not installed as no source, and picks it up once installed', async () => {
    const cluster = await startCluster({ cluster: { name: 'de-1', jurisdiction: 'DE' } }, () => undefined);
    const status = () => identityOf(cluster.port, ca.cert);
    const before = await status();
    expect(before.problems).toEqual([]);
    expect(before.watching?.['ClusterProperty objects']).toMatchObject({ synced: true, objects: 0, notServed: expect.stringContaining('listed again every 100 ms') });
    expect(cluster.log.filter((line) => line['level'] === 40)).toEqual([]); // no warnings for a missing CRD

    // The CRD is installed and a ClusterProperty created: found by the next LIST, then watched.
    cluster.kube.put(PROPERTIES, property('jurisdiction.canopy.io', 'FR'));
    const found = await until(status, (s) => s.identity.jurisdiction === 'FR', 'the ClusterProperty of a CRD installed after start');
    expect(found.watching?.['ClusterProperty objects']).toEqual({ synced: true, objects: 1 });
    expect(messages(cluster)).toContain('cluster identity changed: jurisdiction DE → FR (from ClusterProperty jurisdiction.canopy.io)');
    expect((await admit(cluster.port, ca.cert, restricted())).allowed).toBe(false);
  });

  it('follows the configured ClusterProfile, and only it, keeping its properties if it is deleted', async () => {
    const cluster = await startCluster({ cluster: { clusterProfile: { namespace: 'fleet', name: 'de-1' } } }, (kube) => {
      kube.collection(PROPERTIES);
      kube.put(PROFILES, profile('de-1', { 'cluster.clusterset.k8s.io': 'de-1', 'canopy.io/jurisdiction': 'DE', tier: 'gold' }));
      kube.put(PROFILES, profile('other', { 'canopy.io/jurisdiction': 'US' }));
    });
    const status = () => identityOf(cluster.port, ca.cert);
    expect(cluster.fleet.cluster).toMatchObject({ name: 'de-1', jurisdiction: 'DE', labels: { tier: 'gold' } });
    expect(cluster.kube.requests.some((r) => r.startsWith(`GET ${PROFILES}?fieldSelector=metadata.name%3Dde-1&limit=`))).toBe(true);

    cluster.kube.put(PROFILES, profile('other', { 'canopy.io/jurisdiction': 'FR' })); // not ours
    cluster.kube.put(PROFILES, profile('de-1', { 'cluster.clusterset.k8s.io': 'de-1', 'canopy.io/jurisdiction': 'FR', tier: 'silver' }));
    const changed = await until(status, (s) => s.identity.jurisdiction === 'FR', "the ClusterProfile's change");
    expect(changed.origins.jurisdiction).toEqual({ source: 'ClusterProfile', object: 'fleet/de-1', property: 'canopy.io/jurisdiction' });
    expect(changed.lastChange?.changes).toEqual([
      'jurisdiction DE → FR (from ClusterProfile fleet/de-1 property canopy.io/jurisdiction)',
      'label tier gold → silver (from ClusterProfile fleet/de-1 property tier)',
    ]);
    expect((await admit(cluster.port, ca.cert, restricted())).allowed).toBe(false);

    // Deleted (a re-registration, say): its last properties stay, and /status says so.
    cluster.kube.remove(PROFILES, 'de-1');
    const gone = await until(status, (s) => s.problems.length > 0, 'the deleted ClusterProfile in /status');
    expect(gone.problems).toEqual(['ClusterProfile fleet/de-1 not found; keeping the properties read before']);
    expect(gone.identity).toMatchObject({ jurisdiction: 'FR', labels: { tier: 'silver' } });
  });

  it('reads a ClusterProfile it may not list and watch with GET at each retry', async () => {
    const cluster = await startCluster({ cluster: { clusterProfile: { namespace: 'fleet', name: 'de-1' } } }, (kube) => {
      kube.collection(PROPERTIES);
      kube.put(PROFILES, profile('de-1', { 'canopy.io/jurisdiction': 'DE' }));
      kube.refuse.set(PROFILES, 403); // RBAC granting get only
    });
    // Read at start, with GET, for the start-up line.
    expect(cluster.fleet.cluster.jurisdiction).toBe('DE');
    const status = await identityOf(cluster.port, ca.cert);
    expect(status.watching?.['ClusterProfile fleet/de-1']).toMatchObject({ synced: false, readWithGet: true });
    expect(status.problems).toEqual([expect.stringMatching(/^ClusterProfile fleet\/de-1 cannot be listed and watched \(.*\): read with GET at each retry instead/)]);
    expect(messages(cluster)).toContain(
      'the ClusterProfile cannot be listed and watched: reading it with GET at each retry instead; grant list and watch on it to see its changes within seconds',
    );
    cluster.kube.put(PROFILES, profile('de-1', { 'canopy.io/jurisdiction': 'FR' }));
    await until(() => identityOf(cluster.port, ca.cert), (s) => s.identity.jurisdiction === 'FR', 'the change read by a later GET');
  });
});

describe('canopy serve and its cluster identity', () => {
  it('says where each part of the identity came from, and follows a ClusterProperty changed after start', async () => {
    const kube = new FakeKube();
    kube.put('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments', labels: { 'canopy.io/data-class': 'restricted' } } });
    for (const collection of ['/api/v1/nodes', '/api/v1/pods', '/apis/storage.k8s.io/v1/storageclasses']) kube.collection(collection);
    kube.put(PROPERTIES, property('jurisdiction.canopy.io', 'DE'));
    await kube.start();
    try {
      const config = path.join(tempDir(), 'canopy.yaml');
      const state = tempDir();
      writeFileSync(config, 'cluster:\n  name: de-1\n  labels: {tier: gold}\n');
      const server = await startServe(['--config', config, '--kubeconfig', kube.kubeconfig(), '--state-dir', state]);
      expect(server.stderr()).toContain(
        'cluster de-1 (from config): jurisdiction DE (from ClusterProperty), labels tier=gold (from config); reading namespaces, nodes and storage classes from the API server; watching ClusterProperty objects for identity changes',
      );
      const authority = readFileSync(path.join(state, 'tls', 'ca.crt'), 'utf8');
      await until(() => httpsCall(server.port, authority, 'GET', '/readyz'), (r) => r.status === 200, '/readyz');
      expect(await admit(server.port, authority, restricted())).toMatchObject({ allowed: true });

      kube.put(PROPERTIES, property('jurisdiction.canopy.io', 'FR'));
      const denied = await until(() => admit(server.port, authority, restricted()), (result) => !result.allowed, 'the denial in France');
      expect(denied.message).toContain("jurisdiction 'FR'");
      const identity = await identityOf(server.port, authority);
      expect(identity.identity.jurisdiction).toBe('FR');
      expect(identity.origins.jurisdiction).toEqual({ source: 'ClusterProperty', property: 'jurisdiction.canopy.io' });
      expect(identity.lastChange?.changes).toEqual(['jurisdiction DE → FR (from ClusterProperty jurisdiction.canopy.io)']);
      await until(async () => server.stdout(), (out) => out.includes('"msg":"cluster identity changed: jurisdiction DE → FR (from ClusterProperty jurisdiction.canopy.io)"'), 'the log line');
    } finally {
      killServers();
      await kube.stop();
    }
  }, 60_000);
});

