// Which Pod Security level applies where, as Pod Security admission users write it: the namespace's
// pod-security.kubernetes.io/enforce|warn|audit labels over data/pod-security.yaml's defaults; enforce
// denies, warn answers with admission warnings, audit goes to the decision log; exemptions (users,
// runtime classes, namespaces); reviewed exceptions with an expiry; and an UPDATE that leaves the pod
// spec as it was is not judged. Two small controls stand in for the pack (a baseline and a restricted
// one), so what is tested here is the mechanism; test/pod-security-controls.test.ts tests the controls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXCEPTIONS, standInPolicies } from './helpers/pod-security.js';
import { startServer, type TestServer } from './helpers/https.js';
import { admissionReview } from './helpers/review.js';
import { packsOff } from './helpers/policy-dir.js';

type Json = Record<string, unknown>;

const DATA = `defaults:
  enforce: baseline
  warn: restricted
  audit: restricted
exemptions:
  usernames: [system:serviceaccount:kube-system:replicaset-controller-exempt]
  runtimeClasses: [kata-exempt]
  namespaces: [exempt-ns]
${EXCEPTIONS}`;

function pod(name: string, spec: Json, labels: Record<string, string> = {}): Json {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'team-a', labels: { team: 'a', ...labels } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/team-a/app:1.0', resources: { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '8Mi' } } }], ...spec } };
}
const privileged = (name = 'priv', labels: Record<string, string> = {}) => {
  const object = pod(name, {}, labels);
  (((object['spec'] as Json)['containers'] as Json[])[0] as Json)['securityContext'] = { privileged: true };
  return object;
};
const hostNetwork = (name = 'hostnet') => pod(name, { hostNetwork: true });

describe('Pod Security levels over HTTPS', () => {
  let server: TestServer;
  let namespaceLabels: Record<string, string> = {};
  const validate = async (object: Json, options: Parameters<typeof admissionReview>[1] = {}) => {
    const review = admissionReview(object, options);
    const result = await server.post('/validate', JSON.stringify(review));
    expect(result.status).toBe(200);
    const uid = (review['request'] as Json)['uid'];
    const response = (result.json() as { response: { allowed: boolean; status?: { message: string }; warnings?: string[] } }).response;
    const logged = server.logLines.find((line) => line['uid'] === uid && line['msg'] === 'decision');
    return { ...response, audits: (logged?.['audited'] as string[] | undefined) ?? [] };
  };

  beforeAll(async () => {
    const dir = standInPolicies(DATA);
    // The packs switched off (data/packs.yaml), every one: their hygiene rules warn about these test Pods
    // (best-practices.require-labels, require-probes, automount-token), and the warnings tested here are
    // the Pod Security levels' alone.
    packsOff(dir);
    server = await startServer({ policies: dir, facts: async (request) => ({ namespaceLabels: request.namespace === 'team-a' || request.namespace === 'exempt-ns' ? { team: 'a', ...namespaceLabels } : {} }) });
  });
  afterAll(async () => server.close());

  it('by default enforces baseline (denies), warns restricted (kubectl prints it) and audits restricted', async () => {
    namespaceLabels = {};
    const denied = await validate(privileged());
    expect(denied.allowed).toBe(false);
    expect(denied.status?.message).toContain('[pod-security.baseline.test-privileged] Privileged containers are not allowed: app.');
    const warned = await validate(hostNetwork());
    expect(warned.allowed).toBe(true);
    expect(warned.warnings).toEqual(['[pod-security.restricted.test-host-network] hostNetwork is not allowed.']);
  });

  it("follows the namespace's labels over the defaults: enforce restricted denies, enforce privileged only warns", async () => {
    namespaceLabels = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'v1.30' };
    expect((await validate(hostNetwork())).allowed).toBe(false);
    namespaceLabels = { 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/warn': 'baseline', 'pod-security.kubernetes.io/audit': 'privileged' };
    const warned = await validate(privileged());
    expect(warned.allowed).toBe(true);
    expect(warned.warnings?.[0]).toContain('[pod-security.baseline.test-privileged]');
    expect((await validate(hostNetwork())).warnings).toBeUndefined();
  });

  it('audit mode: allowed without a warning, recorded in the decision log', async () => {
    namespaceLabels = { 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/warn': 'privileged', 'pod-security.kubernetes.io/audit': 'restricted' };
    const audited = await validate(hostNetwork());
    expect(audited.allowed).toBe(true);
    expect(audited.warnings).toBeUndefined();
    expect(audited.audits).toEqual(['pod-security.restricted.test-host-network']);
  });

  it('a label that is not a level counts as restricted', async () => {
    namespaceLabels = { 'pod-security.kubernetes.io/enforce': 'strict' };
    expect((await validate(hostNetwork())).allowed).toBe(false);
  });

  it('exempts the configured users, runtime classes and namespaces from every control', async () => {
    namespaceLabels = { 'pod-security.kubernetes.io/enforce': 'restricted' };
    const user = await validate(privileged(), { userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller-exempt', groups: [] } });
    expect([user.allowed, user.warnings]).toEqual([true, undefined]);
    const runtime = privileged('kata');
    (runtime['spec'] as Json)['runtimeClassName'] = 'kata-exempt';
    expect((await validate(runtime)).allowed).toBe(true);
    const elsewhere = privileged('x');
    (elsewhere['metadata'] as Json)['namespace'] = 'exempt-ns';
    expect((await validate(elsewhere)).allowed).toBe(true);
  });

  it('lets a reviewed exception through until its expiry, and not after', async () => {
    namespaceLabels = {};
    expect((await validate(privileged('cni-agent'))).allowed).toBe(true);
    const expired = await validate(privileged('old-agent-1', { app: 'old-agent' }));
    expect(expired.allowed).toBe(false);
    expect(expired.status?.message).toContain('pod-security.baseline.test-privileged');
  });

  it('allows an UPDATE that only changes a label of an existing non-compliant Pod, as upstream does, and judges one that changes its spec', async () => {
    namespaceLabels = {};
    const before = privileged('legacy');
    const relabelled = structuredClone(before);
    ((relabelled['metadata'] as Json)['labels'] as Json)['cost-center'] = 'cc-1';
    expect((await validate(relabelled, { operation: 'UPDATE', oldObject: before })).allowed).toBe(true);
    const changed = structuredClone(before);
    (((changed['spec'] as Json)['containers'] as Json[])[0] as Json)['image'] = 'registry.example.com/team-a/app:2.0';
    expect((await validate(changed, { operation: 'UPDATE', oldObject: before })).allowed).toBe(false);
  });
});
