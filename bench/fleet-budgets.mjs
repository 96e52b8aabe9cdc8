// What the fleet-budget rows of `npm run bench` need (bench/webhooks.mjs, section (g)): a policy set whose
// budgets.yaml has a tenant with a local budget and tenants with fleet budgets; fake Kubernetes API
// servers on 127.0.0.1 (bench/fake-kube.mjs) for each `canopy serve`'s cluster and for the fleet store,
// which holds the FleetBudgets; the requests (the real Pod CREATEs, moved to a tenant's namespace and
// asking for GPUs); and a sender of requests one at a time that tells which of them went to the fleet store.
//
// What the API server does after admitting a pod (persisting it), the benchmark does too, as
// test/fleet-budgets.test.ts does: each admitted pod is put into that server's cluster, whose pod watch
// then tells Canopy, and the reservation the admission made ends as it does in a cluster. Without it the
// reservations of every request admitted in the last 30 s (their TTL) would pile up, tens of thousands
// at these rates, and the rows would measure that list rather than the budgets.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, get as httpsGet, request as httpsRequest } from 'node:https';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { FakeKube } from './fake-kube.mjs';
import { UNIQUE_PLACEHOLDER, withUniqueLabel } from './requests.mjs';

export const FLEET_NAMESPACE = 'canopy-fleet';
export const FLEET_BUDGETS = `/apis/canopy.io/v1alpha1/namespaces/${FLEET_NAMESPACE}/fleetbudgets`;
const PODS = '/api/v1/pods';
const TENANT_LABEL = 'canopy.io/tenant';

/** The tenants, each in a namespace of its name: a local budget; a fleet budget with a large share step; one with a step of 1 GPU. */
export const TENANTS = { local: 'bench-local', fleet: 'bench-fleet', step: 'bench-fleet-step' };
/** GPUs of every budget: never spent during a run (a few hundred thousand pods at most). */
const BUDGET_GPUS = 1_000_000_000;
/**
 * The large step: a cluster asks the store for what it needs and this much more, and claims half of it
 * ahead, so that the requests of a whole run fit in the claim taken by the first one.
 */
const LARGE_SHARE_GPUS = 1_000_000;
/**
 * The small step. A cluster then claims needed + ceil(1 / 2) = needed + 1 GPU, so a pod of 1 GPU would
 * go to the store every other request; pods of STEP_POD_GPUS = 2 GPUs need more than the claim each time.
 */
const SMALL_SHARE_GPUS = 1;
export const STEP_POD_GPUS = 2;

/** The shipped policy set, with budgets.yaml giving the tenants their budgets (beside the shipped example). */
export function fleetPolicies(root, shipped) {
  const dir = path.join(root, 'fleet-budgets');
  cpSync(shipped, dir, { recursive: true });
  const file = path.join(dir, 'data', 'budgets.yaml');
  const budgets = parse(readFileSync(file, 'utf8')) ?? {};
  budgets.tenants = { ...(budgets.tenants ?? {}), [TENANTS.local]: { gpus: BUDGET_GPUS } };
  budgets.fleet = { ...(budgets.fleet ?? {}), [TENANTS.fleet]: { share: { gpus: LARGE_SHARE_GPUS } }, [TENANTS.step]: { share: { gpus: SMALL_SHARE_GPUS } } };
  writeFileSync(file, stringify(budgets));
  return dir;
}

/** A cluster's API server: the tenants' namespaces, and empty collections of what Canopy watches. */
export async function startFakeCluster() {
  const api = new FakeKube();
  for (const tenant of Object.values(TENANTS)) {
    api.put('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: tenant, labels: { [TENANT_LABEL]: tenant } } });
  }
  for (const collection of [
    PODS,
    '/api/v1/nodes',
    '/apis/storage.k8s.io/v1/storageclasses',
    '/apis/about.k8s.io/v1alpha1/clusterproperties',
    '/apis/networking.k8s.io/v1/ingresses',
    '/apis/resource.k8s.io/v1/resourceclaims',
  ]) {
    api.collection(collection);
  }
  await api.start();
  return api;
}

/** The fleet store: a FleetBudget for each fleet tenant. */
export async function startFleetStore() {
  const store = new FakeKube();
  for (const tenant of [TENANTS.fleet, TENANTS.step]) {
    store.put(FLEET_BUDGETS, {
      apiVersion: 'canopy.io/v1alpha1',
      kind: 'FleetBudget',
      metadata: { name: tenant, namespace: FLEET_NAMESPACE },
      spec: { tenant, limits: { gpus: BUDGET_GPUS }, currency: 'USD' },
    });
  }
  await store.start();
  return store;
}

/** `canopy serve` arguments that connect it to its cluster and to the fleet store. */
export function fleetServeArgs(cluster, store, name) {
  return ['--kubeconfig', cluster.kubeconfig(), '--fleet-kubeconfig', store.kubeconfig(), '--cluster-name', name];
}

/** Polls GET /readyz until it answers 200: the informers have listed the cluster. */
export async function waitReady(server, timeoutMs = 60_000) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: server.ca, servername: 'localhost' });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const code = await new Promise((resolve) => {
        const request = httpsGet({ host: '127.0.0.1', port: server.port, path: '/readyz', agent }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode));
        });
        request.on('error', () => resolve(0));
      });
      if (code === 200) return;
      if (Date.now() > deadline) throw new Error(`canopy serve did not become ready within ${timeoutMs} ms (/readyz ${code})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    agent.destroy();
  }
}

/**
 * The real Pod CREATE requests (dry runs too unless `withDryRuns` is false), moved into `namespace`, their
 * first container asking for `gpus` GPUs, and the pod's name (and the benchmark's label) given a fresh
 * value on every request. `onAnswer` counts the answers and the pods allowed (`counts`); with
 * `persistInto`, it puts each pod admitted (not a dry run) into that cluster, as the API server would.
 */
export function podRequests(reviews, namespace, { gpus, withDryRuns = true, persistInto } = {}) {
  const pods = reviews.filter(({ body }) => body.request.kind.kind === 'Pod' && body.request.operation === 'CREATE' && (withDryRuns || !body.request.dryRun));
  if (pods.length === 0) throw new Error('no Pod CREATE among the AdmissionReviews');
  const templates = pods.map(({ body }) => {
    const review = structuredClone(body);
    const { request } = review;
    const name = `${request.object.metadata.name ?? request.object.metadata.generateName ?? 'pod'}-${UNIQUE_PLACEHOLDER}`;
    request.namespace = namespace;
    request.name = name;
    request.object.metadata = { ...request.object.metadata, name, namespace };
    delete request.object.metadata.generateName;
    const [first] = request.object.spec.containers;
    first.resources = { ...(first.resources ?? {}), limits: { ...(first.resources?.limits ?? {}), 'nvidia.com/gpu': String(gpus) } };
    return { body: JSON.stringify(withUniqueLabel(review)), name, dryRun: request.dryRun === true, spec: request.object.spec };
  });
  const counts = { answers: 0, allowed: 0 };
  const onAnswer = (index, id, code, answer) => {
    counts.answers += 1;
    let allowed = false;
    try {
      allowed = code === 200 && JSON.parse(answer).response?.allowed === true;
    } catch {
      // not an AdmissionReview: counted as not allowed
    }
    if (!allowed) return;
    counts.allowed += 1;
    const template = templates[index];
    if (persistInto && template && !template.dryRun && id !== undefined) {
      persistInto.put(PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: template.name.replaceAll(UNIQUE_PLACEHOLDER, id), namespace }, spec: template.spec, status: { phase: 'Running' } });
    }
  };
  return { bodies: templates.map((template) => template.body), onAnswer, counts };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

/**
 * `count` requests to /validate one at a time (each sent once the previous one is answered), after
 * `warmup` more that are not counted, each body made unique with `nextId()`. Since nothing else writes
 * the fleet store meanwhile, the store's PUTs before and after each request say whether it fetched more
 * share. `usage()` is read around the counted requests (the server's CPU time).
 */
export async function oneAtATime(server, { bodies, onAnswer, count, warmup = 0, nextId, store, usage = () => undefined }) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: server.ca, servername: 'localhost' });
  const latencies = [];
  let errors = 0;
  let allowed = 0;
  let fetched = 0;
  let puts = store.counts.PUT;
  let conflicts = store.conflicts;
  let started = performance.now();
  let before = usage();
  for (let sent = 0; sent < warmup + count; sent++) {
    if (sent === warmup) {
      latencies.length = 0;
      errors = allowed = fetched = 0;
      puts = store.counts.PUT;
      conflicts = store.conflicts;
      started = performance.now();
      before = usage();
    }
    const index = sent % bodies.length;
    const id = nextId();
    const body = bodies[index].replaceAll(UNIQUE_PLACEHOLDER, id);
    const putsBefore = store.counts.PUT;
    const sentAt = performance.now();
    const { code, answer } = await new Promise((resolve) => {
      const request = httpsRequest(
        { host: '127.0.0.1', port: server.port, path: '/validate', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk) => (text += chunk));
          response.on('end', () => resolve({ code: response.statusCode, answer: text }));
        },
      );
      request.on('socket', (socket) => socket.setNoDelay(true));
      request.on('error', () => resolve({ code: 0, answer: '' }));
      request.end(body);
    });
    latencies.push(performance.now() - sentAt);
    if (code !== 200) errors += 1;
    else if (/"allowed":true/.test(answer)) allowed += 1;
    if (store.counts.PUT > putsBefore) fetched += 1;
    onAnswer?.(index, id, code, answer);
  }
  const seconds = (performance.now() - started) / 1000;
  const after = usage();
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    seconds,
    before,
    after,
    result: { requests: count, errors, latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? 0 }, latencies },
    allowed,
    /** Requests during which the store took a conditional update (PUT). */
    fetched,
    storeUpdates: store.counts.PUT - puts,
    conflicts: store.conflicts - conflicts,
  };
}
