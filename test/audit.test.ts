// canopy audit over a manifest directory and two clusters (local list/watch servers) in one run, in
// every format; the HTML page rendered by headless Chromium; PolicyReports written back; the decision
// log summarised.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCanopy } from './helpers/cli.js';
import { fixtureNames, STARTER_POLICIES } from './helpers/fixtures.js';
import { FakeKube, kubeconfigFor } from './helpers/fake-kube.js';
import { pipelineFor } from './helpers/pipeline.js';
import { fixture } from './helpers/fixtures.js';
import { packsOf, packsOff } from './helpers/policy-dir.js';

type Json = Record<string, unknown>;
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'canopy-audit-'));
const resources = { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '8Mi' } };
// Pod Security warn/audit at baseline (not the default restricted): these counts test the audit's mechanics, not the pack.
const QUIET_POD_SECURITY = { 'pod-security.kubernetes.io/warn': 'baseline', 'pod-security.kubernetes.io/audit': 'baseline' };
/**
 * The shipped policies with every pack switched off, the documented way (data/packs.yaml). The packs' warn rules
 * (best-practices.require-labels, require-probes, automount-token, required-annotations) warn on nearly every object
 * here; like Pod Security's restricted level above, these counts test the audit's mechanics, not the packs (what
 * canopy audit says with the packs on is test/policy-library.test.ts's audit of examples/shop).
 */
function shippedPoliciesWithoutPacks(): string {
  const dir = tempDir();
  cpSync(STARTER_POLICIES, dir, { recursive: true });
  expect(packsOf(dir)).toContain('best-practices');
  return packsOff(dir);
}
const pod = (name: string, namespace: string, spec: Json = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [{ name: 'c', image: 'nginx:1.25', resources }], ...spec } });

/** Six objects: a Namespace without a team, a privileged Pod, a host-network Pod (JSON), and three that pass. */
function manifests(): string {
  const dir = tempDir();
  mkdirSync(path.join(dir, 'apps/web'), { recursive: true });
  writeFileSync(
    path.join(dir, 'apps/web/all.yaml'),
    [
      // Both Namespaces (web, shop) keep Pod Security's warn/audit at baseline, as QUIET_POD_SECURITY.
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: web, labels: {pod-security.kubernetes.io/warn: baseline, pod-security.kubernetes.io/audit: baseline}}',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: root, namespace: web}\nspec: {containers: [{name: c, image: "nginx:1.25", securityContext: {privileged: true}, resources: {requests: {cpu: 10m, memory: 8Mi}, limits: {memory: 8Mi}}}]}',
      'apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: web}}\n  - {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {team: shop, pod-security.kubernetes.io/warn: baseline, pod-security.kubernetes.io/audit: baseline}}}',
    ].join('\n---\n'),
  );
  writeFileSync(path.join(dir, 'apps/sniffer.json'), JSON.stringify(pod('sniffer', 'web', { hostNetwork: true })));
  writeFileSync(path.join(dir, 'deploy.yml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\nspec: {template: {spec: {containers: [{name: api, image: "nginx:1.25", resources: {requests: {cpu: 10m, memory: 8Mi}, limits: {memory: 8Mi}}}]}}}\n');
  return dir;
}

describe('canopy audit', () => {
  const east = new FakeKube();
  const west = new FakeKube();
  let kubeconfig = '';
  let dir = '';
  let policies = '';

  beforeAll(async () => {
    for (const kube of [east, west]) {
      kube.put('/api/v1/namespaces', { metadata: { name: 'team', labels: { team: 'team', ...QUIET_POD_SECURITY } } });
      kube.collection('/apis/about.k8s.io/v1alpha1/clusterproperties');
      for (const resource of ['deployments', 'statefulsets', 'daemonsets', 'replicasets']) kube.collection(`/apis/apps/v1/${resource}`);
      for (const resource of ['jobs', 'cronjobs']) kube.collection(`/apis/batch/v1/${resource}`);
      kube.collection('/api/v1/replicationcontrollers');
      // Served by every API server: the audit lists a cluster's Ingresses once, for the facts that read inventory.ingresses.
      kube.collection('/apis/networking.k8s.io/v1/ingresses');
      // The PolicyReport CRDs are installed: the group version is served.
      kube.putSingle('/apis/wgpolicyk8s.io/v1alpha2', {
        kind: 'APIResourceList',
        groupVersion: 'wgpolicyk8s.io/v1alpha2',
        resources: [{ name: 'policyreports', namespaced: true, kind: 'PolicyReport' }, { name: 'clusterpolicyreports', namespaced: false, kind: 'ClusterPolicyReport' }],
      });
    }
    // East: 3 pods, one privileged. West: 600 pods (two pages), one on the host network.
    for (let i = 0; i < 3; i++) east.put('/api/v1/pods', pod(`p${i}`, 'team', i === 0 ? { containers: [{ name: 'c', image: 'nginx:1.25', resources, securityContext: { privileged: true } }] } : {}));
    for (let i = 0; i < 600; i++) west.put('/api/v1/pods', pod(`w${i}`, 'team', i === 7 ? { hostNetwork: true } : {}));
    await east.start();
    await west.start();
    kubeconfig = kubeconfigFor({ east: east.url, west: west.url, gone: 'https://127.0.0.1:9' });
    dir = manifests();
    policies = shippedPoliciesWithoutPacks();
  });

  afterAll(async () => {
    await east.stop();
    await west.stop();
  });

  const audit = (...args: string[]) => runCanopy(['audit', '--policies', policies, '--kubeconfig', kubeconfig, '--context', 'east', '--context', 'west', '--manifests', dir, ...args]);

  it('judges every source in one run, listing in pages, and reports a cluster it cannot reach without stopping', async () => {
    const result = await runCanopy(['audit', '--policies', policies, '--kubeconfig', kubeconfig, '--context', 'east', '--context', 'gone', '--context', 'west', '--manifests', dir, '--format', 'json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { totals: Json; byCluster: Record<string, Json>; errors: string[]; results: { cluster: string; kind: string; name: string; failures: { policy: string }[] }[] };
    // manifests: 6 objects; east: 1 namespace + 3 pods; west: 1 namespace + 600 pods.
    expect(report.totals).toMatchObject({ objects: 611, failing: 5 });
    expect(report.byCluster['manifests']).toMatchObject({ objects: 6, failing: 3 });
    expect(report.byCluster['east']).toMatchObject({ objects: 4, failing: 1 });
    expect(report.byCluster['west']).toMatchObject({ objects: 601, failing: 1 });
    expect(report.errors.join('\n')).toContain('cluster gone');
    expect(result.stderr).toContain('cluster gone');
    const failing = report.results.map((r) => `${r.cluster} ${r.kind} ${r.name} ${r.failures.map((f) => f.policy).join(',')}`).sort();
    expect(failing).toEqual([
      'east Pod p0 pod-security.baseline.privileged',
      'manifests Namespace web baseline.namespace-team',
      'manifests Pod root pod-security.baseline.privileged',
      'manifests Pod sniffer pod-security.baseline.host-namespaces',
      'west Pod w7 pod-security.baseline.host-namespaces',
    ]);
    expect(west.requests.some((r) => r.startsWith('GET /api/v1/pods?limit=500&continue=500'))).toBe(true);
  });

  it('shows the same numbers in the terminal, in Markdown and in HTML rendered by Chromium', async () => {
    const text = await audit();
    expect(text.stdout).toContain('canopy audit: 611 objects: 5 failing, 0 warning, 606 passing; 5 failures');
    expect(text.stdout).toContain('pod-security.baseline.privileged (high): 2 failing');
    expect(text.stdout).toContain('east  Pod team/p0: Privileged containers are not allowed (container "c" must not set securityContext.privileged=true): remove it, or set it to false.');
    // The Pod Security table names at most 20 workloads of a namespace and counts the rest: the 600
    // pods of east's team namespace would otherwise make one line of tens of kilobytes.
    expect(text.stdout).toMatch(/Pod Security levels[\s\S]*; and \d+ more/);
    expect(Math.max(...text.stdout.split('\n').map((line) => line.length))).toBeLessThan(5_000);
    const markdown = await audit('--format', 'markdown');
    expect(markdown.stdout).toContain('611 objects: 5 failing, 0 warning, 606 passing');
    expect(markdown.stdout).toContain('| west | 601 | 1 | 0 | 600 |');

    const file = path.join(tempDir(), 'audit.html');
    expect((await audit('--format', 'html', '-o', file)).code).toBe(0);
    const page = readFileSync(file, 'utf8');
    expect(page).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    const chromium = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', `--user-data-dir=${tempDir()}`, '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 60_000 });
    expect(chromium.status, chromium.stderr).toBe(0);
    const total = (id: string) => Number(new RegExp(`id="${id}">(\\d+)<`).exec(chromium.stdout)?.[1]);
    expect([total('total-objects'), total('total-failing'), total('total-passing'), total('total-failures')]).toEqual([611, 5, 606, 5]);
    expect(chromium.stdout).toContain('<svg role="img" aria-label="Failures by policy"');
  });

  it('writes PolicyReports of the wgpolicyk8s.io/v1alpha2 shape, and applies them to each cluster', async () => {
    const result = await audit('--format', 'policyreport', '--apply-reports');
    expect(result.code).toBe(0);
    const { parseAllDocuments } = await import('yaml');
    const reports = parseAllDocuments(result.stdout).map((d) => d.toJS() as Json);
    for (const report of reports) {
      expect(report['apiVersion']).toBe('wgpolicyk8s.io/v1alpha2');
      expect(['PolicyReport', 'ClusterPolicyReport']).toContain(report['kind']);
      const summary = report['summary'] as Record<string, unknown>;
      for (const key of ['pass', 'fail', 'warn', 'error', 'skip']) expect(Number.isInteger(summary[key])).toBe(true);
      for (const entry of report['results'] as Json[]) {
        expect(entry).toMatchObject({ policy: expect.any(String), rule: expect.any(String), result: expect.stringMatching(/^(pass|fail|warn|error|skip)$/), severity: expect.stringMatching(/^(critical|high|medium|low|info)$/), message: expect.any(String), source: 'canopy' });
        expect((entry['resources'] as Json[])[0]).toMatchObject({ apiVersion: expect.any(String), kind: expect.any(String), name: expect.any(String) });
        expect((entry['properties'] as Json)['cluster']).toEqual(expect.any(String));
      }
    }
    const westTeam = reports.find((r) => (r['metadata'] as Json)['namespace'] === 'team' && ((r['metadata'] as Json)['annotations'] as Json)['canopy.io/cluster'] === 'west');
    expect(westTeam?.['summary']).toMatchObject({ pass: 599, fail: 1 });
    const written = west.collection('/apis/wgpolicyk8s.io/v1alpha2/namespaces/team/policyreports').get('canopy-team');
    expect((written?.['results'] as Json[])[0]).toMatchObject({ policy: 'pod-security.baseline.host-namespaces', result: 'fail', resources: [{ kind: 'Pod', name: 'w7', namespace: 'team' }] });
  });

  it('audits every context with --all-contexts, and names the kcp workspace of an object', async () => {
    const all = await runCanopy(['audit', '--kubeconfig', kubeconfig, '--all-contexts', '--format', 'json']);
    const report = JSON.parse(all.stdout) as { totals: Json; errors: string[] };
    expect(report.totals).toMatchObject({ objects: 605, failing: 2 });
    expect(report.errors.join('\n')).toContain('cluster gone');

    const kcp = tempDir();
    const config = path.join(kcp, 'canopy.yaml');
    writeFileSync(config, 'kcp:\n  logicalClusters: {abc123: "root:org-eu:payments"}\n');
    writeFileSync(path.join(kcp, 'pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n, annotations: {kcp.io/cluster: abc123}}\nspec: {hostPID: true, containers: [{name: c, image: "nginx:1.25"}]}\n');
    const result = await runCanopy(['audit', '--manifests', path.join(kcp, 'pod.yaml'), '--config', config, '--format', 'policyreport']);
    expect(result.stdout).toContain('workspace: root:org-eu:payments');
  });

  it('sets the exit code with --fail-on', async () => {
    expect((await audit('--fail-on', 'high')).code).toBe(1);
    expect((await audit('--fail-on', 'critical')).code).toBe(0);
    expect((await audit('--fail-on', 'severe')).code).toBe(2);
  });

  it('lists only the kinds the policies can judge, or those --kinds names', async () => {
    const before = east.requests.length;
    await runCanopy(['audit', '--kubeconfig', kubeconfig, '--context', 'east', '--kinds', 'pods']);
    // Besides the kinds: the namespaces (for their labels) and the cluster's ClusterProperty objects; not its
    // Ingresses, which only an audited Ingress needs (for the facts that read inventory.ingresses).
    const paths = east.requests.slice(before).filter((r) => r.includes('limit=') && !r.includes('clusterproperties')).map((r) => r.split('?')[0]);
    expect(new Set(paths)).toEqual(new Set(['GET /api/v1/namespaces', 'GET /api/v1/pods']));
    const unknown = await runCanopy(['audit', '--kubeconfig', kubeconfig, '--context', 'east', '--kinds', 'widgets']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown kinds widgets');
  });
});

describe('canopy audit --decisions', () => {
  it('summarises a decision log', async () => {
    const t = await pipelineFor(STARTER_POLICIES);
    for (const name of fixtureNames()) t.review(fixture(name));
    const log = path.join(tempDir(), 'decisions.log');
    writeFileSync(log, `${t.logLines.map((l) => JSON.stringify(l)).join('\n')}\nnot json\n`);
    const result = await runCanopy(['audit', '--decisions', log, '--format', 'json']);
    const summary = JSON.parse(result.stdout) as { decisions: number; denied: number; byPolicy: Json; byNamespace: Json; byUser: Json; slowest: unknown[]; unreadableLines: number };
    expect(summary).toMatchObject({ decisions: 88, denied: 2, byPolicy: { 'baseline.namespace-team': 2 }, byNamespace: { scratch: 2 }, byUser: { 'kubernetes-admin': 2 }, unreadableLines: 1 });
    expect(summary.slowest).toHaveLength(10);
    const text = await runCanopy(['audit', '--decisions', log]);
    expect(text.stdout).toContain('88 decisions, 2 denied');
  });
});
