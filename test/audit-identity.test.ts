// canopy audit against live clusters (local list/watch servers): each cluster's identity from --config
// (shared, or per context with CONTEXT=FILE) and from the cluster's own ClusterProperty / ClusterProfile
// as canopy serve reads them; --apply-reports without the PolicyReport CRD; a context the kubeconfig
// does not have; a context out of reach, reported once.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCanopy } from './helpers/cli.js';
import { FakeKube, kubeconfigFor } from './helpers/fake-kube.js';

type Json = Record<string, unknown>;
interface Report {
  byCluster: Record<string, Json>;
  errors: string[];
  results: { cluster: string; name: string; failures: { policy: string; severity: string; message: string }[] }[];
}

const dir = mkdtempSync(path.join(tmpdir(), 'canopy-audit-identity-'));
const file = (name: string, text: string) => {
  const where = path.join(dir, name);
  writeFileSync(where, text);
  return where;
};

// The README's canopy-de-1.yaml: what `canopy serve` runs with in cluster de-1. Its kubernetes: part
// (how serve connects) is not audit's business; its identity is.
const DE_1 = file(
  'canopy-de-1.yaml',
  [
    'cluster:',
    '  name: de-1',
    '  region: eu-central-1',
    '  jurisdiction: DE',
    '  provider: aws',
    '  environment: production',
    '  labels: {tier: gold}',
    '  clusterProperties: true',
    '  clusterProfile: {namespace: fleet-system, name: de-1}',
    'kubernetes:',
    '  kubeconfig: /etc/canopy/kubeconfig',
    '  namespaceLookupTimeoutMs: 1000',
    'kcp:',
    '  logicalClusters:',
    '    2x8h3k: root:org-eu:payments',
    '  workspaces:',
    '    root:org-eu: {labels: {canopy.io/data-class: confidential}}',
    '  discover: true',
  ].join('\n'),
);
// The README's canopy-us-1.yaml: this cluster describes itself with ClusterProperty objects.
const US_1 = file('canopy-us-1.yaml', 'cluster:\n  environment: production\n');

const resources = { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '8Mi' } };
/** A pod of restricted data (Germany only), pinned to a German region. */
const ledger = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'ledger', namespace: 'payments' },
  spec: { nodeSelector: { 'topology.kubernetes.io/region': 'eu-central-1' }, containers: [{ name: 'app', image: 'nginx:1.25', resources }] },
};

function cluster(): FakeKube {
  const kube = new FakeKube();
  kube.put('/api/v1/namespaces', { metadata: { name: 'payments', labels: { team: 'payments', 'canopy.io/data-class': 'restricted' } } });
  kube.put('/api/v1/pods', ledger);
  kube.collection('/apis/about.k8s.io/v1alpha1/clusterproperties');
  return kube;
}

const jurisdictionFailures = (report: Report) =>
  report.results.flatMap((r) => r.failures.filter((f) => f.policy === 'sovereignty.jurisdiction').map((f) => `${r.cluster} ${r.name} ${f.severity}: ${f.message}`));

describe('canopy audit: cluster identity', () => {
  const de = cluster();
  const us = cluster();
  let kubeconfig = '';
  const audit = (...args: string[]) => runCanopy(['audit', '--kubeconfig', kubeconfig, '--kinds', 'pods,namespaces', '--format', 'json', ...args]);

  beforeAll(async () => {
    de.putSingle('/apis/multicluster.x-k8s.io/v1alpha1/namespaces/fleet-system/clusterprofiles/de-1', {
      apiVersion: 'multicluster.x-k8s.io/v1alpha1',
      kind: 'ClusterProfile',
      metadata: { name: 'de-1', namespace: 'fleet-system' },
      status: { properties: [{ name: 'canopy.io/environment', value: 'production' }] },
    });
    for (const [name, value] of [['cluster-name.canopy.io', 'us-1'], ['jurisdiction.canopy.io', 'us']]) {
      us.put('/apis/about.k8s.io/v1alpha1/clusterproperties', { apiVersion: 'about.k8s.io/v1alpha1', kind: 'ClusterProperty', metadata: { name }, spec: { value } });
    }
    await de.start();
    await us.start();
    kubeconfig = kubeconfigFor({ 'prod-de': de.url, 'prod-us': us.url, gone: 'https://127.0.0.1:9' });
  });

  afterAll(async () => {
    await de.stop();
    await us.stop();
  });

  it('takes the identity of a context from --config, then from the cluster, as canopy serve would', async () => {
    // Without a config the cluster has no jurisdiction, so restricted data may not run there.
    const bare = JSON.parse((await audit('--context', 'prod-de')).stdout) as Report;
    expect(jurisdictionFailures(bare)).toEqual([expect.stringMatching(/^prod-de ledger critical: .*\(jurisdiction ''\)/)]);

    const before = de.requests.length;
    const result = await audit('--context', 'prod-de', '--config', DE_1);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(Object.keys(report.byCluster)).toEqual(['de-1']);
    expect(report.byCluster['de-1']).toMatchObject({ objects: 2 });
    expect(jurisdictionFailures(report)).toEqual([]);
    expect(report.errors).toEqual([]);
    // The sources canopy serve reads on top of the config.
    const read = de.requests.slice(before).map((r) => r.split('?')[0]);
    expect(read).toContain('GET /apis/about.k8s.io/v1alpha1/clusterproperties');
    expect(read).toContain('GET /apis/multicluster.x-k8s.io/v1alpha1/namespaces/fleet-system/clusterprofiles/de-1');
  });

  it('gives manifests the whole identity of the config, reported apart from the cluster of the same name', async () => {
    // Data class confidential (EU) through the config's kcp workspace labels; de-1 is in Germany.
    const manifest = file('ledger.yaml', JSON.stringify({ ...ledger, metadata: { ...ledger.metadata, annotations: { 'kcp.io/cluster': '2x8h3k' } } }));
    const result = await audit('--context', 'prod-de', '--manifests', manifest, '--config', DE_1);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.byCluster).toMatchObject({ 'de-1': { objects: 2 }, 'de-1 (manifests)': { objects: 1 } });
    expect(jurisdictionFailures(report)).toEqual([]);
  });

  it('gives each context its own config with --config CONTEXT=FILE, and the shared one to the others', async () => {
    const result = await audit('--context', 'prod-de', '--context', 'prod-us', '--config', `prod-de=${DE_1}`, '--config', `prod-us=${US_1}`);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(Object.keys(report.byCluster).sort()).toEqual(['de-1', 'us-1']);
    // us-1 names itself and its jurisdiction with ClusterProperty objects.
    expect(jurisdictionFailures(report)).toEqual([expect.stringMatching(/^us-1 ledger critical: .*in cluster us-1 \(jurisdiction 'US'\)/)]);

    const shared = file('fleet.yaml', 'cluster:\n  jurisdiction: DE\n');
    const mixed = JSON.parse((await audit('--all-contexts', '--config', shared, '--config', `prod-de=${DE_1}`)).stdout) as Report;
    expect(Object.keys(mixed.byCluster).sort()).toEqual(['de-1', 'us-1']);
    expect(jurisdictionFailures(mixed)).toEqual([expect.stringMatching(/^us-1 ledger critical: .*\(jurisdiction 'US'\)/)]);
  });

  it.each([
    ['two configs without a context', ['--context', 'prod-de', '--config', DE_1, '--config', US_1], /only one --config may go without a context; give the others as --config CONTEXT=FILE/],
    ['a config for a context the kubeconfig does not have', ['--context', 'prod-de', '--config', `prod-fr=${US_1}`], /--config prod-fr=.*: the kubeconfig .* has no context prod-fr; its contexts: prod-de, prod-us, gone/],
    ['a config for a context not audited', ['--context', 'prod-de', '--config', `prod-us=${US_1}`], /context prod-us is not audited; add --context prod-us/],
    ['two configs for one context', ['--context', 'prod-de', '--config', `prod-de=${DE_1}`, '--config', `prod-de=${US_1}`], /context prod-de already has .*canopy-de-1\.yaml/],
    ['one cluster name for several contexts', ['--context', 'prod-de', '--context', 'prod-us', '--config', DE_1], /it names cluster de-1, which 2 contexts would share \(prod-de, prod-us\); give it to its own context with --config CONTEXT=/],
    ['an empty context', ['--context', 'prod-de', '--config', `=${DE_1}`], /--config =.*: give a file, or CONTEXT=FILE/],
    ['a config that does not parse', ['--context', 'prod-de', '--config', file('bad.yaml', 'cluster:\n  jurisdiction: Germany\n')], /bad\.yaml: cluster\.jurisdiction must be an ISO 3166-1 alpha-2 code/],
  ])('refuses %s in one line, auditing nothing', async (_what, args, message) => {
    const result = await audit(...args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(message)]);
  });

  it('names a context the kubeconfig does not have, and the ones it has', async () => {
    const result = await audit('--context', 'prod-de', '--context', 'nosuch');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`canopy audit: the kubeconfig ${kubeconfig} has no context nosuch; its contexts: prod-de, prod-us, gone\n`);
  });

  it('reports a context out of reach once, and audits the others', async () => {
    const result = await runCanopy(['audit', '--kubeconfig', kubeconfig, '--kinds', 'pods,namespaces', '--context', 'gone', '--context', 'prod-de']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('prod-de: 2 objects');
    const output = result.stdout + result.stderr;
    expect(output.match(/cluster gone/g)).toHaveLength(1);
    expect(result.stderr).toMatch(/^canopy audit: cluster gone: GET \/api\/v1\/namespaces\?limit=500: connect ECONNREFUSED/m);
  });
});

describe('canopy audit --apply-reports', () => {
  const kube = cluster();
  let kubeconfig = '';
  const REPORTS = '/apis/wgpolicyk8s.io/v1alpha2';

  beforeAll(async () => {
    await kube.start();
    kubeconfig = kubeconfigFor({ 'prod-de': kube.url });
  });

  afterAll(async () => {
    await kube.stop();
  });

  it('stops with one line saying what to install when the PolicyReport CRD is missing', async () => {
    // No CRD: the API server answers 404 for the wgpolicyk8s.io/v1alpha2 group.
    const result = await runCanopy(['audit', '--kubeconfig', kubeconfig, '--context', 'prod-de', '--kinds', 'pods,namespaces', '--apply-reports']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      'canopy audit: cluster prod-de: no PolicyReports written: the PolicyReport CRD (wgpolicyk8s.io/v1alpha2 policyreports, clusterpolicyreports) is not installed; ' +
        'install the PolicyReport and ClusterPolicyReport CRDs of the kubernetes-sigs/wg-policy-prototypes project',
    ]);
    expect(kube.requests.filter((r) => r.startsWith('PATCH'))).toEqual([]);
  });

  it('writes the reports once the CRD is there', async () => {
    kube.putSingle(REPORTS, {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: 'wgpolicyk8s.io/v1alpha2',
      resources: [
        { name: 'policyreports', namespaced: true, kind: 'PolicyReport', verbs: ['get', 'list', 'create', 'patch'] },
        { name: 'clusterpolicyreports', namespaced: false, kind: 'ClusterPolicyReport', verbs: ['get', 'list', 'create', 'patch'] },
      ],
    });
    const result = await runCanopy(['audit', '--kubeconfig', kubeconfig, '--context', 'prod-de', '--kinds', 'pods,namespaces', '--apply-reports']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(kube.collection(`${REPORTS}/namespaces/payments/policyreports`).get('canopy-payments')?.['summary']).toMatchObject({ fail: expect.any(Number) });
    expect(kube.collection(`${REPORTS}/clusterpolicyreports`).has('canopy-cluster')).toBe(true);
  });
});
