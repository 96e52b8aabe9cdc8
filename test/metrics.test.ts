// GET /metrics after a few real requests: every metric an operator's dashboard and alerts read is
// there, with the values those requests must have produced.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/operations/decision-log/index.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { FleetContext, parseFleetConfig } from '../src/facts/fleet/index.js';
import { KubeClient, loadKubeConfig } from '../src/sources/kube/index.js';
import { CanopyMetrics } from '../src/operations/metrics/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { createServer, type WebhookApp } from '../src/server/index.js';
import { createCertificateAuthority, issueServingCertificate } from '../src/sources/tls/index.js';
import { FakeKube } from './helpers/fake-kube.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { logSink } from './helpers/log-sink.js';
import { admissionReview } from './helpers/review.js';
import { httpsCall } from './helpers/serve.js';
import { packsOf, packsOff } from './helpers/policy-dir.js';

type Json = Record<string, unknown>;
const example = (name: string): Json => JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'examples', 'admission-reviews', name), 'utf8')) as Json;

/** The samples of a Prometheus text exposition, by metric name with its labels as printed. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    found.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return found;
}

describe('GET /metrics', () => {
  const kube = new FakeKube();
  let app: WebhookApp;
  let fleet: FleetContext;
  let port = 0;
  const ca = createCertificateAuthority('metrics test CA');

  beforeAll(async () => {
    // Pod Security warns at baseline here (not the default restricted): the plain Pod counts as an allow, not a warn.
    kube.put('/api/v1/namespaces', { metadata: { name: 'payments', labels: { 'canopy.io/tenant': 'payments', 'pod-security.kubernetes.io/warn': 'baseline', 'pod-security.kubernetes.io/audit': 'baseline' } } });
    for (const collection of ['/api/v1/nodes', '/api/v1/pods', '/apis/storage.k8s.io/v1/storageclasses', '/apis/about.k8s.io/v1alpha1/clusterproperties']) kube.collection(collection);
    await kube.start();
    // The shipped policies, plus an audit-mode policy that cannot be evaluated (an integer overflow).
    const policies = mkdtempSync(path.join(tmpdir(), 'canopy-metrics-'));
    cpSync(STARTER_POLICIES, policies, { recursive: true });
    // This test is about the metrics, not about what the shipped packs find: their warn rules (best-practices'
    // require-labels, require-probes, automount-token) would turn the plain Pod's allow into a warn. Every pack
    // shipped is switched off here, the documented way: through data/packs.yaml.
    expect(packsOf(policies)).toContain('best-practices');
    packsOff(policies);
    writeFileSync(
      path.join(policies, 'overflows.cedar'),
      '@id("test.overflows")\n@advice("never mind")\n@mode("audit")\nforbid (principal, action, resource is k8s::Workload)\nwhen { resource.kind == "Pod" && 4611686018427387904 * 4 > 0 };\n',
    );
    const logger = createLogger(logSink().stream);
    const pipelineRef: { pipeline?: AdmissionPipeline } = {};
    const metrics = new CanopyMetrics(() => ({ revision: pipelineRef.pipeline?.policySet?.revision ?? '', source: 'bundle', stalenessSeconds: 12 }));
    fleet = new FleetContext(parseFleetConfig({}), logger, new KubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig() })), metrics.lookup);
    await fleet.start();
    await fleet.waitUntilReady();
    const pipeline = new AdmissionPipeline({ decisionLog: logger, facts: (request) => fleet.factsFor(request) });
    pipelineRef.pipeline = pipeline;
    await pipeline.activate(await loadPolicyDirectory(policies));
    app = await createServer({ pipeline, logger, metrics, tls: issueServingCertificate(ca, { hosts: ['localhost'] }) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  }, 30_000);

  afterAll(async () => {
    fleet.stop();
    await app.close();
    await kube.stop();
  });

  it('exposes requests, latency, denials, evaluation errors, mutations, enricher look-ups, the bundle and event-loop lag', async () => {
    const post = async (webhook: string, body: unknown) => httpsCall(port, ca.cert, 'POST', webhook, JSON.stringify(body));
    const privileged = example('privileged-pod.json');
    const inPayments = (review: Json): Json => {
      const request = review['request'] as Json;
      const object = structuredClone(request['object']) as Json;
      (object['metadata'] as Json)['namespace'] = 'payments';
      return { ...review, request: { ...request, namespace: 'payments', object } };
    };
    expect((await post('/validate', inPayments(privileged))).status).toBe(200); // denied; namespace from the cache
    expect((await post('/validate?timeout=10s', inPayments(example('pod.json')))).status).toBe(200);
    expect((await post('/mutate', inPayments(example('pod-without-resources.json')))).status).toBe(200); // patched
    expect((await post('/validate', admissionReview({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'brand-new' } }))).status).toBe(200); // namespace fetched
    expect((await httpsCall(port, ca.cert, 'POST', '/validate?timeout=10s', '{"kind": "nope"}')).status).toBe(400);

    const answer = await httpsCall(port, ca.cert, 'GET', '/metrics');
    expect(answer.status).toBe(200);
    expect(String(answer.headers['content-type'])).toContain('text/plain');
    const found = samples(answer.body);

    expect(found.get('canopy_admission_requests_total{webhook="validate",decision="deny"}')).toBe(1);
    expect(found.get('canopy_admission_requests_total{webhook="validate",decision="allow"}')).toBe(2);
    expect(found.get('canopy_admission_requests_total{webhook="mutate",decision="patch"}')).toBe(1);
    expect(found.get('canopy_admission_requests_total{webhook="validate",decision="invalid"}')).toBe(1);
    expect(found.get('canopy_admission_request_duration_seconds_count{webhook="validate",decision="deny"}')).toBe(1);
    expect(found.get('canopy_admission_request_duration_seconds_bucket{le="+Inf",webhook="mutate",decision="patch"}')).toBe(1);
    expect(found.get('canopy_policy_denials_total{policy="pod-security.baseline.privileged"}')).toBe(1);
    // The overflowing policy errors on each of the two pods /validate judged.
    expect(found.get('canopy_policy_evaluation_errors_total{policy="test.overflows"}')).toBe(2);
    expect(found.get('canopy_mutations_applied_total{mutation="mutations.default-resources"}')).toBe(1);
    expect(found.get('canopy_enricher_lookups_total{enricher="namespace",result="hit"}')).toBe(3);
    expect(found.get('canopy_enricher_lookups_total{enricher="namespace",result="miss"}')).toBe(1);
    expect(found.get('canopy_enricher_cache_hit_ratio{enricher="namespace"}')).toBe(0.75);
    expect([...found.entries()].find(([key]) => key.startsWith('canopy_bundle_info{revision="sha256:'))?.[1]).toBe(1);
    expect(found.get('canopy_bundle_staleness_seconds')).toBe(12);
    expect(found.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    expect(found.has('process_resident_memory_bytes')).toBe(true);
  });
});
