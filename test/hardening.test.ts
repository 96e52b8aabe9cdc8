// Hostile and unlucky callers: deadlines that fail closed, mutual TLS, flood limits that never touch
// /healthz, and the token /status and the bundle store require. Real HTTPS, real handshakes.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createLogger } from '../src/operations/decision-log/index.js';
import { FleetContext, parseFleetConfig } from '../src/facts/fleet/index.js';
import { KubeClient, loadKubeConfig } from '../src/sources/kube/index.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { AdmissionPipeline, deadlineFor, parseGoDuration } from '../src/pipeline/index.js';
import { createServer, useServingCertificate, type WebhookApp } from '../src/server/index.js';
import { createCertificateAuthority, issueClientCertificate, issueServingCertificate } from '../src/sources/tls/index.js';
import { runCanopy, runCanopyProcess } from './helpers/cli.js';
import { killServers, startServe } from './helpers/serve.js';
import { REPO_ROOT, STARTER_POLICIES } from './helpers/fixtures.js';
import { logSink } from './helpers/log-sink.js';
import { startServer, type TestServer } from './helpers/https.js';
import { FakeKube } from './helpers/fake-kube.js';
import { admissionReview } from './helpers/review.js';

const example = (name: string) => readFileSync(path.join(REPO_ROOT, 'examples', 'admission-reviews', name), 'utf8');
const PRIVILEGED = example('privileged-pod.json');
const ALLOWED = example('pod.json');
const uidOf = (body: string) => (JSON.parse(body) as { request: { uid: string } }).request.uid;

interface Review {
  response: { uid: string; allowed: boolean; status?: { message?: string } };
}

let servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});

async function server(options: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const started = await startServer({ policies: STARTER_POLICIES, ...options });
  servers.push(started);
  return started;
}

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'canopy-hardening-'));
const never = () => new Promise<never>(() => undefined);

describe('the evaluation deadline', () => {
  it('reads the timeout the API server states, as Go prints durations', () => {
    expect(parseGoDuration('5s')).toBe(5000);
    expect(parseGoDuration('1m0s')).toBe(60_000);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('500ms')).toBe(500);
    for (const odd of ['', '5', 's', '-1s', '5 s', '0s', '1e3s']) expect(parseGoDuration(odd), odd).toBeUndefined();
    expect(deadlineFor(4000, '10s')).toBe(4000);
    expect(deadlineFor(4000, '2s')).toBe(1600);
    expect(deadlineFor(4000, ['1s', '2s'])).toBe(4000);
    expect(deadlineFor(4000, 'soon')).toBe(4000);
  });

  it.each(['/validate', '/mutate'])('denies on %s, saying so, when facts do not arrive before the deadline', async (route) => {
    const webhook = await server({ deadlineMs: 300, facts: never, workers: 1 });
    const started = Date.now();
    const answer = await webhook.post(route, ALLOWED);
    const took = Date.now() - started;
    expect(answer.status).toBe(200);
    const review = answer.json() as Review;
    expect(review.response.uid).toBe(uidOf(ALLOWED));
    expect(review.response.allowed).toBe(false);
    expect(review.response.status?.message).toMatch(/not judged within the 300 ms deadline \(still gathering facts/);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
    const logged = webhook.logLines.find((line) => line['uid'] === uidOf(ALLOWED));
    expect(String(logged?.['failure'])).toContain('deadline');
  });

  it.each(['/validate', '/mutate'])('denies on %s, saying why, when gathering facts fails outright', async (route) => {
    const webhook = await server({ facts: () => Promise.reject(new Error('namespace cache exploded')) });
    const answer = await webhook.post(route, ALLOWED);
    expect(answer.status).toBe(200);
    const review = answer.json() as Review;
    expect(review.response).toMatchObject({ uid: uidOf(ALLOWED), allowed: false });
    expect(review.response.status?.message).toContain("the request's facts could not be gathered: namespace cache exploded");
  });

  it('shortens the deadline to fit the API server timeout, and judges normally when facts are in time', async () => {
    const slow = () => new Promise<Record<string, never>>((resolve) => setTimeout(() => resolve({}), 1200));
    const webhook = await server({ deadlineMs: 4000, facts: slow });
    const started = Date.now();
    const hurried = (await webhook.post('/validate?timeout=1s', ALLOWED)).json() as Review;
    expect(Date.now() - started).toBeLessThan(1150);
    expect(hurried.response.allowed).toBe(false);
    expect(hurried.response.status?.message).toContain('800 ms deadline');
    const patient = (await webhook.post('/validate?timeout=5s', ALLOWED)).json() as Review;
    expect(patient.response.allowed).toBe(true);
    const denied = (await webhook.post('/validate?timeout=5s', PRIVILEGED)).json() as Review;
    expect(denied.response.allowed).toBe(false);
    expect(denied.response.status?.message).toContain('pod-security.baseline.privileged');
  });

  it('answers requests queued behind their tenant past the deadline with a denial, and reserves budget only for those admitted', async () => {
    const kube = new FakeKube();
    kube.put('/api/v1/namespaces', { metadata: { name: 'queued', labels: { 'canopy.io/tenant': 'queued' } } });
    for (const collection of ['/api/v1/nodes', '/api/v1/pods', '/apis/storage.k8s.io/v1/storageclasses', '/apis/about.k8s.io/v1alpha1/clusterproperties']) kube.collection(collection);
    await kube.start();
    const fleet = new FleetContext(parseFleetConfig({}), createLogger(logSink().stream), new KubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig() })));
    try {
      await fleet.start();
      await fleet.waitUntilReady();
      const policies = tempDir();
      cpSync(STARTER_POLICIES, policies, { recursive: true });
      writeFileSync(path.join(policies, 'data/budgets.yaml'), 'tenants:\n  queued: {cpu: "40", memory: 64Gi}\n');
      // Every request fits the budget; the tenant's requests are judged one at a time, so most of 300
      // sent at once wait past a 100 ms deadline.
      const webhook = await server({ policies, facts: (request) => fleet.factsFor(request), workers: 1, deadlineMs: 100 });
      const pod = (name: string) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'queued' },
        spec: { containers: [{ name: 'app', image: 'app:1', resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '64Mi' } } }] },
      });
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) => webhook.pipeline.handleValidate(admissionReview(pod(`p-${i}`), { resource: { group: '', version: 'v1', resource: 'pods' } }))),
      );
      const admitted = results.filter((result) => result.decision.allowed).length;
      const late = results.filter((result) => result.decision.failure?.includes('deadline'));
      expect(admitted).toBeGreaterThan(0);
      expect(late.length).toBeGreaterThan(0);
      expect(late[0]?.decision.failure).toMatch(/not judged within the 100 ms deadline \(still (waiting for earlier requests of tenant queued|waiting for an evaluation worker)/);
      expect(admitted + late.length).toBe(300);
      // Late work still running after its answer must not reserve: once everything has settled, the
      // ledger holds exactly what the admitted requests asked for.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(fleet.ledger?.used('queued').cpuMillis).toBe(BigInt(admitted * 10));
    } finally {
      fleet.stop();
      await kube.stop();
    }
  });
});

/** One HTTPS call to `app`, optionally presenting a client certificate; a fresh connection each time. */
function call(app: WebhookApp, ca: string, method: string, route: string, options: { body?: string; client?: { cert: string; key: string }; headers?: Record<string, string> } = {}) {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, method, path: route, ca, servername: 'localhost', agent: false, timeout: 10_000, headers: { 'content-type': 'application/json', ...options.headers }, ...(options.client ?? {}) },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${route} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('mutual TLS for the webhooks', () => {
  const serverCa = createCertificateAuthority('serving CA');
  const clientCa = createCertificateAuthority('API server client CA');
  const apiServer = issueClientCertificate(clientCa, 'kube-apiserver');
  const stranger = issueClientCertificate(createCertificateAuthority('someone else'), 'kube-apiserver');
  let app: WebhookApp | undefined;
  afterEach(async () => app?.close());

  it('answers only callers whose certificate the client CA signed, keeps probes open, and keeps requiring it after a certificate reload', async () => {
    const pipeline = new AdmissionPipeline();
    await pipeline.activate(await loadPolicyDirectory(STARTER_POLICIES));
    app = await createServer({
      pipeline,
      logger: createLogger(logSink().stream),
      tls: issueServingCertificate(serverCa, { hosts: ['localhost', '127.0.0.1'] }),
      guards: { clientCa: clientCa.cert },
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const webhook = app;

    const check = async () => {
      for (const route of ['/validate', '/mutate']) {
        const signed = await call(webhook, serverCa.cert, 'POST', route, { body: PRIVILEGED, client: apiServer });
        expect(signed.status, route).toBe(200);
        expect((JSON.parse(signed.body) as Review).response.uid).toBe(uidOf(PRIVILEGED));
        const anonymous = await call(webhook, serverCa.cert, 'POST', route, { body: PRIVILEGED });
        expect(anonymous.status, route).toBe(401);
        expect(JSON.parse(anonymous.body)).toMatchObject({ error: 'Unauthorized', message: expect.stringContaining('presented no certificate') });
        const foreign = await call(webhook, serverCa.cert, 'POST', route, { body: PRIVILEGED, client: stranger });
        expect(foreign.status, route).toBe(401);
        expect(JSON.parse(foreign.body).message).toContain('is not accepted');
      }
      // Kubelet probes present no certificate.
      expect((await call(webhook, serverCa.cert, 'GET', '/healthz')).status).toBe(200);
      expect((await call(webhook, serverCa.cert, 'GET', '/readyz')).status).toBe(200);
    };
    await check();
    // A rotated serving certificate (cert-manager, bootstrap renewal) must not drop the client CA.
    useServingCertificate(webhook, issueServingCertificate(serverCa, { hosts: ['localhost', '127.0.0.1'], commonName: 'rotated' }));
    await check();
  });

  it('canopy certs --client writes a certificate that canopy serve --tls-client-ca accepts, and serve refuses callers without one', async () => {
    const dir = tempDir();
    const made = await runCanopy(['certs', '--out', dir, '--dns', 'localhost', '--client', 'kube-apiserver']);
    expect(made.code).toBe(0);
    expect(made.stderr).toContain('client.crt and client.key for kube-apiserver');
    const file = (name: string) => readFileSync(path.join(dir, name), 'utf8');
    const serve = await startServe(['--policies', STARTER_POLICIES, '--state-dir', tempDir(), '--tls-cert', path.join(dir, 'tls.crt'), '--tls-key', path.join(dir, 'tls.key'), '--tls-client-ca', path.join(dir, 'ca.crt'), '--workers', '0']);
    try {
      expect(serve.stderr()).toContain(`webhook callers must present a certificate signed by ${path.join(dir, 'ca.crt')}`);
      const post = (client?: { cert: string; key: string }) =>
        new Promise<number>((resolve, reject) => {
          const req = httpsRequest({ host: '127.0.0.1', port: serve.port, method: 'POST', path: '/validate', ca: file('ca.crt'), servername: 'localhost', agent: false, headers: { 'content-type': 'application/json' }, ...(client ?? {}) }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end(PRIVILEGED);
        });
      expect(await post({ cert: file('client.crt'), key: file('client.key') })).toBe(200);
      expect(await post()).toBe(401);
    } finally {
      killServers();
    }
  });

  it('refuses to start with a client CA file that is not a certificate', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'ca.pem'), 'not a certificate');
    const result = await runCanopyProcess(['serve', '--host', '127.0.0.1', '--port', '0', '--state-dir', dir, '--tls-client-ca', path.join(dir, 'ca.pem')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/refusing to start: .*ca\.pem.*tls\.clientCaFile is not a PEM CA certificate/);
  });
});

describe('TLS versions', () => {
  it('refuses TLS 1.1 with a protocol-version alert, before and after a certificate reload, and serves TLS 1.2', async () => {
    const serverCa = createCertificateAuthority('serving CA');
    const pipeline = new AdmissionPipeline();
    const app = await createServer({ pipeline, logger: createLogger(logSink().stream), tls: issueServingCertificate(serverCa, { hosts: ['localhost'] }) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    // The client allows old versions (security level 0), so a refusal can only be the server's.
    const handshake = (maxVersion: 'TLSv1.1' | 'TLSv1.2') =>
      new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: '127.0.0.1', port, ca: serverCa.cert, servername: 'localhost', minVersion: 'TLSv1', maxVersion, ciphers: 'DEFAULT:@SECLEVEL=0' }, () => {
          resolve(socket.getProtocol() ?? 'none');
          socket.end();
        });
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
    try {
      for (const when of ['at start', 'after a reload']) {
        expect(await handshake('TLSv1.1'), when).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
        expect(await handshake('TLSv1.2'), when).toBe('TLSv1.2');
        useServingCertificate(app, issueServingCertificate(serverCa, { hosts: ['localhost'], commonName: 'rotated' }));
      }
    } finally {
      await app.close();
    }
  });
});

describe('flood protection', () => {
  it('answers webhook requests past limits.maxInFlight with 429 at once, never /healthz, and serves again once they finish', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<Record<string, never>>((resolve) => (release = () => resolve({})));
    const webhook = await server({ facts: () => gate, deadlineMs: 20_000, guards: { maxInFlight: 4 } });
    const held = Array.from({ length: 4 }, () => webhook.post('/validate', ALLOWED));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await webhook.post('/mutate', ALLOWED);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({ error: 'Too Many Requests', message: expect.stringContaining('limits.maxInFlight') });
    for (let i = 0; i < 20; i++) expect((await webhook.get('/healthz')).status).toBe(200);
    expect((await webhook.get('/readyz')).status).toBe(200);
    release();
    for (const answer of await Promise.all(held)) expect((answer.json() as Review).response.allowed).toBe(true);
    expect((await webhook.post('/validate', ALLOWED)).status).toBe(200);
  });

  it('frees the slot of a pipelined request whose connection closed before its turn', async () => {
    // Facts wait for a gate the test opens, so requests stay in flight as long as it wants.
    let release: () => void = () => undefined;
    const close = () => new Promise<Record<string, never>>((resolve) => (release = () => resolve({})));
    let gate = close();
    const webhook = await server({ facts: () => gate, deadlineMs: 20_000, guards: { maxInFlight: 2 } });
    const port = Number(new URL(webhook.url).port);
    // Two requests in one write, then the connection closes: the second never gets its turn to answer.
    const request = `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(ALLOWED)}\r\n\r\n${ALLOWED}`;
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: webhook.ca, servername: 'localhost' });
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write(request + request);
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Both slots must be free again: two requests held at once are both judged.
    gate = close();
    const held = [webhook.post('/validate', ALLOWED), webhook.post('/mutate', ALLOWED)];
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    expect((await Promise.all(held)).map((answer) => answer.status)).toEqual([200, 200]);
  });

  it('limits webhook requests per client address per second when asked, never /healthz', async () => {
    const webhook = await server({ guards: { perClientPerSecond: 5 } });
    const answers = await Promise.all(Array.from({ length: 12 }, () => webhook.post('/validate', ALLOWED)));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(5);
    expect(statuses.filter((status) => status === 429)).toHaveLength(7);
    const refused = answers.find((answer) => answer.status === 429);
    expect(refused?.json()).toMatchObject({ error: 'Too Many Requests', message: expect.stringContaining('limits.perClientPerSecond') });
    const probes = await Promise.all(Array.from({ length: 30 }, () => webhook.get('/healthz')));
    expect(probes.every((probe) => probe.status === 200)).toBe(true);
  });
});

describe('GET /status', () => {
  it('answers callers on this host without a token, and refuses others', async () => {
    const webhook = await server({});
    expect((await webhook.get('/status')).status).toBe(200);
    const remote = await webhook.app.inject({ method: 'GET', url: '/status', remoteAddress: '10.1.2.3' });
    expect(remote.statusCode).toBe(403);
    expect(remote.json()).toMatchObject({ error: 'Forbidden', message: expect.stringContaining('admin.token') });
    expect((await webhook.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.1.2.3' })).statusCode).toBe(200);
  });

  it('requires the bearer token when one is set, from anywhere', async () => {
    const webhook = await server({ guards: { adminToken: 'op3rator' } });
    expect((await webhook.get('/status')).status).toBe(401);
    expect((await webhook.get('/status', { authorization: 'Bearer wrong' })).status).toBe(401);
    const answer = await webhook.get('/status', { authorization: 'Bearer op3rator' });
    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({ policySet: { revision: expect.any(String) } });
    const remote = await webhook.app.inject({ method: 'GET', url: '/status', remoteAddress: '10.1.2.3', headers: { authorization: 'Bearer op3rator' } });
    expect(remote.statusCode).toBe(200);
  });
});

describe('canopy bundle serve', () => {
  it('refuses to serve on a non-loopback address without a token', async () => {
    const result = await runCanopy(['bundle', 'serve', tempDir(), '--host', '0.0.0.0', '--port', '0'], { env: { CANOPY_BUNDLE_TOKEN: '' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('refusing to serve bundles on 0.0.0.0 without a bearer token');
  });
});
