// Serving certificates that change while Canopy runs: files rotated in place (cert-manager, a Secret
// volume), and the in-cluster bootstrap that keeps a CA and certificate in a Secret and the webhooks'
// caBundle current. Against the fake API server over real TLS; clients make real handshakes.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BootstrapTlsConfig } from '../src/operations/config/index.js';
import { createLogger } from '../src/operations/decision-log/index.js';
import { loadKubeConfig } from '../src/sources/kube/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { createServer, useServingCertificate } from '../src/server/index.js';
import { caBundleOf, CertificateReloader, createCertificateAuthority, fileSource, issueServingCertificate, TlsBootstrap, type KeyPairPem } from '../src/sources/tls/index.js';
import { FakeKube } from './helpers/fake-kube.js';
import { logSink } from './helpers/log-sink.js';
import { httpsCall, killServers, startServe } from './helpers/serve.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';

const SECRETS = '/api/v1/namespaces/canopy-system/secrets';
const VALIDATING = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
const MUTATING = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const REVIEW = readFileSync(path.join(import.meta.dirname, '..', 'examples', 'admission-reviews', 'privileged-pod.json'), 'utf8');

const bootstrapConfig: BootstrapTlsConfig = {
  enabled: true,
  secretName: 'canopy-tls',
  namespace: 'canopy-system',
  service: 'canopy',
  validatingWebhook: 'canopy',
  mutatingWebhook: 'canopy',
};

function webhookConfiguration(kind: string, webhookName: string, webhookPath: string): Record<string, unknown> {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind,
    metadata: { name: 'canopy' },
    webhooks: [
      {
        name: webhookName,
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        clientConfig: { service: { name: 'canopy', namespace: 'canopy-system', path: webhookPath, port: 443 } },
      },
    ],
  };
}

type Json = Record<string, unknown>;
const decode = (secret: Json, key: string): string => Buffer.from((secret['data'] as Record<string, string>)[key] ?? '', 'base64').toString('utf8');
const caBundlesOf = (kube: FakeKube, collection: string): unknown[] =>
  ((kube.collection(collection).get('canopy')?.['webhooks'] as Json[] | undefined) ?? []).map((webhook) => (webhook['clientConfig'] as Json)['caBundle']);

function secretWith(ca: KeyPairPem, serving: KeyPairPem): Json {
  const data = { 'ca.crt': ca.cert, 'ca.key': ca.key, 'tls.crt': serving.cert, 'tls.key': serving.key };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: 'canopy-tls', namespace: 'canopy-system' },
    data: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
  };
}

const SERVICE_HOSTS = ['canopy', 'canopy.canopy-system', 'canopy.canopy-system.svc', 'canopy.canopy-system.svc.cluster.local'];

describe('the TLS bootstrap (canopy serve --bootstrap-tls)', () => {
  let kube: FakeKube;
  const log = logSink();
  const logger = createLogger(log.stream);
  const bootstrap = () => new TlsBootstrap(loadKubeConfig({ kubeconfig: kube.kubeconfig() }), bootstrapConfig, logger);

  beforeEach(async () => {
    kube = new FakeKube();
    kube.collection(SECRETS);
    kube.put(VALIDATING, webhookConfiguration('ValidatingWebhookConfiguration', 'validate.canopy.io', '/validate'));
    kube.put(MUTATING, webhookConfiguration('MutatingWebhookConfiguration', 'mutate.canopy.io', '/mutate'));
    await kube.start();
  });
  afterEach(async () => {
    killServers();
    await kube.stop();
  });

  it('lets replicas starting at once settle on one CA and certificate, and makes both webhooks trust it', async () => {
    const results = await Promise.all([bootstrap().ensure(), bootstrap().ensure(), bootstrap().ensure()]);
    expect(results.filter((result) => result.outcome === 'created')).toHaveLength(1);
    expect(new Set(results.map((result) => result.serving.cert)).size).toBe(1);
    expect(kube.collection(SECRETS).size).toBe(1);

    const secret = kube.collection(SECRETS).get('canopy-tls') as Json;
    expect(decode(secret, 'tls.crt')).toBe(results[0]?.serving.cert);
    const ca = new X509Certificate(decode(secret, 'ca.crt'));
    const serving = new X509Certificate(decode(secret, 'tls.crt'));
    expect(serving.checkIssued(ca) && serving.verify(ca.publicKey)).toBe(true);
    for (const host of SERVICE_HOSTS) expect(serving.checkHost(host)).toBe(host);
    expect(caBundlesOf(kube, VALIDATING)).toEqual([caBundleOf(decode(secret, 'ca.crt'))]);
    expect(caBundlesOf(kube, MUTATING)).toEqual([caBundleOf(decode(secret, 'ca.crt'))]);
  });

  it('reuses a good certificate, and renews one close to expiry under the same CA', async () => {
    const ca = createCertificateAuthority();
    const good = issueServingCertificate(ca, { hosts: SERVICE_HOSTS });
    kube.put(SECRETS, secretWith(ca, good));
    expect((await bootstrap().ensure()).serving.cert).toBe(good.cert);

    const expiring = issueServingCertificate(ca, { hosts: SERVICE_HOSTS, days: 1 / 24 });
    kube.put(SECRETS, secretWith(ca, expiring));
    const renewed = await bootstrap().ensure();
    expect(renewed.outcome).toBe('renewed');
    const cert = new X509Certificate(renewed.serving.cert);
    expect(Date.parse(cert.validTo) - Date.now()).toBeGreaterThan(300 * 24 * 3600 * 1000);
    expect(cert.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    const secret = kube.collection(SECRETS).get('canopy-tls') as Json;
    expect(decode(secret, 'ca.crt')).toBe(ca.cert);
    expect(decode(secret, 'tls.crt')).toBe(renewed.serving.cert);
  });

  it('lets exactly one of two replicas renew, and the other adopt its certificate', async () => {
    const ca = createCertificateAuthority();
    kube.put(SECRETS, secretWith(ca, issueServingCertificate(ca, { hosts: SERVICE_HOSTS, days: 1 / 24 })));
    const results = await Promise.all([bootstrap().ensure(), bootstrap().ensure()]);
    expect(results.filter((result) => result.outcome === 'renewed')).toHaveLength(1);
    expect(results[0]?.serving.cert).toBe(results[1]?.serving.cert);
    expect(decode(kube.collection(SECRETS).get('canopy-tls') as Json, 'tls.crt')).toBe(results[0]?.serving.cert);
  });

  it('puts back a caBundle that an upgrade wiped, and waits for a webhook configuration not installed yet', async () => {
    const tls = bootstrap();
    const first = await tls.ensure();
    kube.put(VALIDATING, webhookConfiguration('ValidatingWebhookConfiguration', 'validate.canopy.io', '/validate'));
    kube.remove(MUTATING, 'canopy');
    await tls.ensure();
    expect(caBundlesOf(kube, VALIDATING)).toEqual([caBundleOf(first.caBundle)]);
    expect(log.lines.some((line) => String(line['msg']).includes('MutatingWebhookConfiguration canopy does not exist'))).toBe(true);
  });

  it('serves the Secret certificate from canopy serve, and reloads it when the Secret changes, without a restart', async () => {
    for (const collection of ['/api/v1/namespaces', '/api/v1/nodes', '/api/v1/pods', '/apis/storage.k8s.io/v1/storageclasses', '/apis/about.k8s.io/v1alpha1/clusterproperties']) {
      kube.collection(collection);
    }
    const server = await startServe(['--bootstrap-tls', '--kubeconfig', kube.kubeconfig(), '--tls-reload-interval', '1', '--state-dir', mkdtempSync(path.join(tmpdir(), 'canopy-state-'))]);
    expect(server.stderr()).toContain('serving certificate from Secret canopy-system/canopy-tls (created)');
    const secret = kube.collection(SECRETS).get('canopy-tls') as Json;
    const caPem = decode(secret, 'ca.crt');
    const before = await httpsCall(server.port, caPem, 'POST', '/validate', REVIEW, { servername: 'canopy.canopy-system.svc' });
    expect(before.status).toBe(200);
    expect(before.certificate.fingerprint256).toBe(new X509Certificate(decode(secret, 'tls.crt')).fingerprint256);

    // Another replica (or an operator) renews the certificate in the Secret.
    const ca = { cert: caPem, key: decode(secret, 'ca.key') };
    const next = issueServingCertificate(ca, { hosts: SERVICE_HOSTS });
    kube.put(SECRETS, { ...secretWith(ca, next), metadata: { name: 'canopy-tls', namespace: 'canopy-system' } });
    const wanted = new X509Certificate(next.cert).fingerprint256;
    let seen = '';
    for (let i = 0; i < 100 && seen !== wanted; i += 1) {
      const answer = await httpsCall(server.port, caPem, 'POST', '/validate', REVIEW, { servername: 'canopy.canopy-system.svc' });
      expect(answer.status).toBe(200);
      seen = answer.certificate.fingerprint256;
      if (seen !== wanted) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(seen).toBe(wanted);
    expect(server.proc.exitCode).toBeNull();
  });
});

describe('serving-certificate rotation from files', () => {
  it('hands new connections the new certificate while every request keeps succeeding, and refuses a broken pair', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'canopy-tls-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    const ca = createCertificateAuthority('rotation test CA');
    const first = issueServingCertificate(ca, { hosts: ['localhost'] });
    const second = issueServingCertificate(ca, { hosts: ['localhost'] });
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);

    const log = logSink();
    const logger = createLogger(log.stream);
    const pipeline = new AdmissionPipeline();
    await pipeline.activate(await loadPolicyDirectory(STARTER_POLICIES));
    const app = await createServer({ pipeline, logger, tls: first });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const reloader = new CertificateReloader({ read: fileSource(certFile, keyFile), apply: (pair) => useServingCertificate(app, pair), intervalMs: 50, logger, describe: 'test files' }, first);
    reloader.start();
    try {
      // A steady stream of requests, each on a new connection, across the rotation.
      const fingerprints: string[] = [];
      let failures = 0;
      let rotated = false;
      const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;
      for (let i = 0; i < 60; i += 1) {
        if (i === 20) {
          writeFileSync(keyFile, second.key);
          writeFileSync(certFile, second.cert);
          rotated = true;
        }
        try {
          const answer = await httpsCall(port, ca.cert, 'POST', '/validate', REVIEW);
          if (answer.status !== 200) failures += 1;
          fingerprints.push(answer.certificate.fingerprint256);
        } catch {
          failures += 1;
        }
        if (rotated) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(failures).toBe(0);
      expect(fingerprints.slice(0, 20).every((fp) => fp === fingerprintOf(first.cert))).toBe(true);
      expect(fingerprints.at(-1)).toBe(fingerprintOf(second.cert));
      expect(reloader.status().reloads).toBe(1);

      // A key that does not belong to the certificate (a half-finished rotation) is refused.
      writeFileSync(certFile, first.cert);
      expect(await reloader.check()).toBe(false);
      expect(reloader.status().lastError).toContain('the key does not belong to the certificate');
      const still = await httpsCall(port, ca.cert, 'POST', '/validate', REVIEW);
      expect(still.certificate.fingerprint256).toBe(fingerprintOf(second.cert));
    } finally {
      reloader.stop();
      await app.close();
    }
  });
});
