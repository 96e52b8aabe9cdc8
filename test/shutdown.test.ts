// SIGTERM under load, as Kubernetes sends it during a rollout or a node drain: readiness turns false
// at once, requests keep being answered during the shutdown delay, every request in flight when the
// listener closes is answered, and the process exits 0. Requests are held in flight by namespace
// look-ups that the fake API server answers slowly.
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeKube } from './helpers/fake-kube.js';
import { admissionReview } from './helpers/review.js';
import { httpsCall, killServers, startServe, type ServeProcess } from './helpers/serve.js';

type Json = Record<string, unknown>;
const POD = readFileSync(path.join(import.meta.dirname, '..', 'examples', 'admission-reviews', 'pod.json'), 'utf8');
const SLOW_MS = 2500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('graceful shutdown', () => {
  let kube: FakeKube;

  beforeEach(async () => {
    kube = new FakeKube();
    for (const collection of ['/api/v1/namespaces', '/api/v1/nodes', '/api/v1/pods', '/apis/storage.k8s.io/v1/storageclasses', '/apis/about.k8s.io/v1alpha1/clusterproperties']) {
      kube.collection(collection);
    }
    kube.delay = (requestPath) => (requestPath.startsWith('/api/v1/namespaces/slow-') ? SLOW_MS : 0);
    await kube.start();
  });
  afterEach(async () => {
    killServers();
    await kube.stop();
  });

  async function serveWith(args: string[]): Promise<{ server: ServeProcess; ca: string }> {
    const state = mkdtempSync(path.join(tmpdir(), 'canopy-state-'));
    const server = await startServe(['--kubeconfig', kube.kubeconfig(), '--namespace-lookup-timeout', '8000', '--state-dir', state, ...args]);
    const ca = readFileSync(path.join(state, 'tls', 'ca.crt'), 'utf8');
    for (let i = 0; i < 100 && (await httpsCall(server.port, ca, 'GET', '/readyz')).status !== 200; i += 1) await sleep(50);
    return { server, ca };
  }

  /** A ConfigMap in a namespace not in the cache: its labels are fetched, slowly. */
  const slowReview = (i: number): Json => admissionReview({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}`, namespace: `slow-${i}` } });

  it('on SIGTERM turns unready at once, answers every request in flight and during the delay, then exits 0', async () => {
    const { server, ca } = await serveWith(['--shutdown-delay', '1', '--drain-timeout', '10']);

    const slow = Array.from({ length: 8 }, (_, i) => {
      const body = slowReview(i);
      return httpsCall(server.port, ca, 'POST', '/validate', JSON.stringify(body), { timeoutMs: 15_000 }).then((answer) => ({ answer, uid: (body['request'] as Json)['uid'] }));
    });

    // Steady traffic on keep-alive connections until "the endpoints are removed", in the delay.
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    let sending = true;
    let signalledAt = 0;
    let unreadyAt = 0;
    const fast = { ok: 0, okAfterSignal: 0, sentWhileUnready: 0, closedWhileUnready: 0, failures: [] as string[] };
    const loops = Array.from({ length: 4 }, async () => {
      while (sending) {
        const sentWhileUnready = unreadyAt > 0;
        try {
          const answer = await httpsCall(server.port, ca, 'POST', '/validate', POD, { agent });
          if (answer.status !== 200) fast.failures.push(`HTTP ${answer.status}`);
          fast.ok += 1;
          if (signalledAt) fast.okAfterSignal += 1;
          if (sentWhileUnready) {
            fast.sentWhileUnready += 1;
            if (answer.headers['connection'] === 'close') fast.closedWhileUnready += 1;
          }
        } catch (error) {
          fast.failures.push((error as Error).message);
        }
      }
    });

    await sleep(300);
    signalledAt = Date.now();
    server.proc.kill('SIGTERM');
    await sleep(100);
    const readiness = await httpsCall(server.port, ca, 'GET', '/readyz');
    expect(readiness.status).toBe(503);
    expect(JSON.parse(readiness.body)).toMatchObject({ reason: 'shutting down' });
    unreadyAt = Date.now();
    await sleep(500);
    sending = false;
    await Promise.all(loops);
    agent.destroy();

    for (const { answer, uid } of await Promise.all(slow)) {
      expect(answer.status).toBe(200);
      const response = (JSON.parse(answer.body) as { response: { uid: string; allowed: boolean } }).response;
      expect(response).toMatchObject({ uid, allowed: true });
    }
    expect(fast.failures).toEqual([]);
    expect(fast.okAfterSignal).toBeGreaterThan(0);
    // While draining, every answer asks the client to reconnect (to another replica).
    expect(fast.sentWhileUnready).toBeGreaterThan(0);
    expect(fast.closedWhileUnready).toBe(fast.sentWhileUnready);
    expect(await server.exited).toBe(0);
    // Every decision answered is in the decision log: what was still buffered was written before the exit.
    const decisions = server
      .stdout()
      .split('\n')
      .filter((line) => line.includes('"msg":"decision"'));
    expect(decisions).toHaveLength(fast.ok + slow.length);
    expect(server.stderr()).toContain('SIGTERM: not ready any more; serving 1 s more, then finishing requests in flight (at most 10 s)');
    expect(server.stderr()).toMatch(/drained in \d+ ms; every request in flight was answered/);
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(SLOW_MS - 300 - 100);
  });

  it('cuts what is still running when the drain timeout passes, and says so', async () => {
    const { server, ca } = await serveWith(['--drain-timeout', '1']);
    const stuck = httpsCall(server.port, ca, 'POST', '/validate', JSON.stringify(slowReview(99)), { timeoutMs: 15_000 }).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    await sleep(300);
    const signalledAt = Date.now();
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(1);
    expect(Date.now() - signalledAt).toBeLessThan(SLOW_MS);
    expect(server.stderr()).toContain('drain timeout: 1 connection(s) still busy after 1 s were cut');
    expect(await stuck).toMatch(/socket hang up|ECONNRESET/);
  });
});
