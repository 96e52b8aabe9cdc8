// charts/canopy as Helm renders it: `helm lint` and `helm template` with the real helm binary
// (node_modules, Helm 3.6), and one install against a small fake API server for what only a live
// cluster shows (lookup). No cluster is needed.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './helpers/fixtures.js';
import { CHART, helm, KUBE_VERSION } from './helpers/helm.js';
import type { AdmissionWebhook, LabelSelector } from './helpers/webhooks.js';

const ALL_OPTIONS = `${REPO_ROOT}test/fixtures/helm/all-options.yaml`;
const CERT_MANAGER = `${REPO_ROOT}test/fixtures/helm/cert-manager.yaml`;

type Json = Record<string, unknown>;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

interface Probe {
  httpGet: { path: string; port: string | number; scheme: string };
}

interface Container {
  name: string;
  image: string;
  args: string[];
  ports: { name: string; containerPort: number }[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }[];
  livenessProbe: Probe;
  readinessProbe: Probe;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}

interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken: boolean;
  enableServiceLinks: boolean;
  terminationGracePeriodSeconds: number;
  priorityClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Json[];
  imagePullSecrets?: { name: string }[];
  affinity?: {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; podAffinityTerm: { topologyKey: string; labelSelector: LabelSelector } }[];
      requiredDuringSchedulingIgnoredDuringExecution?: { topologyKey: string; labelSelector: LabelSelector }[];
    };
  };
  securityContext: Json;
  containers: Container[];
  volumes: { name: string; configMap?: { name: string }; secret?: { secretName: string }; emptyDir?: Json }[];
}

interface Deployment extends K8sObject {
  spec: {
    replicas: number;
    selector: LabelSelector;
    template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: PodSpec };
  };
}

interface WebhookConfiguration extends K8sObject {
  webhooks: AdmissionWebhook[];
}

interface Service extends K8sObject {
  spec: { type: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] };
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Role extends K8sObject {
  rules: PolicyRule[];
}

interface Binding extends K8sObject {
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace: string }[];
}

interface Certificate extends K8sObject {
  spec: {
    secretName: string;
    isCA?: boolean;
    dnsNames?: string[];
    duration?: string;
    renewBefore?: string;
    issuerRef: { name: string; kind: string; group: string };
  };
}

/** What Canopy reads from /etc/canopy/config/canopy.yaml. */
interface CanopyConfig {
  port: number;
  host: string;
  policies: string;
  stateDir: string;
  logLevel: string;
  tls: {
    certFile?: string;
    keyFile?: string;
    reloadIntervalSeconds?: number;
    bootstrap?: { enabled: boolean; secretName: string; namespace: string; service: string; validatingWebhook: string; mutatingWebhook: string };
  };
  shutdown: { delaySeconds: number; drainSeconds: number };
  bundle?: { url: string; publicKeys: string[]; intervalSeconds: number };
  cluster: Json;
  registries?: Json[];
  imageLookupTimeoutMs: number;
  kubernetes?: Json;
  kcp?: Json;
}

/** The objects of a multi-document YAML stream, empty documents left out. */
function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors[0]?.message ?? ''}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

async function render(args: string[] = [], options: { release?: string; namespace?: string } = {}): Promise<K8sObject[]> {
  const result = await helm([
    'template', options.release ?? 'canopy', CHART,
    '--namespace', options.namespace ?? 'canopy-system',
    '--kube-version', KUBE_VERSION,
    ...args,
  ]);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseObjects(result.stdout);
}

const ids = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

function find<T extends K8sObject>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? `/${name}` : ''}, found ${found.length}: ${ids(objects).join(', ')}`);
  return found[0] as T;
}

const has = (objects: K8sObject[], kind: string, name?: string) =>
  objects.some((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

function canopyConfig(objects: K8sObject[], name = 'canopy-config'): CanopyConfig {
  const configMap = find<K8sObject & { data: Record<string, string> }>(objects, 'ConfigMap', name);
  const text = configMap.data['canopy.yaml'];
  if (text === undefined) throw new Error('no canopy.yaml in the ConfigMap');
  return parse(text) as CanopyConfig;
}

const podSpec = (objects: K8sObject[]) => find<Deployment>(objects, 'Deployment').spec.template.spec;
const container = (objects: K8sObject[]) => podSpec(objects).containers[0] as Container;
const webhookOf = (objects: K8sObject[], kind: string) => find<WebhookConfiguration>(objects, kind).webhooks[0] as AdmissionWebhook;
const excluded = (webhook: AdmissionWebhook) =>
  webhook.namespaceSelector.matchExpressions?.find((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn')?.values;

const allOptions = parse(readFileSync(ALL_OPTIONS, 'utf8')) as {
  tls: { caBundle: string };
  bundle: { url: string; publicKeys: string[] };
  config: { cluster: Json; registries: Json[]; kcp: Json };
};
const chartYaml = parse(readFileSync(`${CHART}/Chart.yaml`, 'utf8')) as { appVersion: string; version: string; kubeVersion: string };

describe('helm lint', () => {
  it.each([
    ['the default values', []],
    ['every option (all-options.yaml)', ['-f', ALL_OPTIONS]],
    ['tls.mode certManager (cert-manager.yaml)', ['-f', CERT_MANAGER]],
  ])('passes with %s', async (_name, args) => {
    const result = await helm(['lint', CHART, ...args]);
    expect(result.stderr + result.stdout).not.toMatch(/\[(ERROR|WARNING)\]/);
    expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });
});

describe('the default render (release canopy, namespace canopy-system)', () => {
  let objects: K8sObject[];
  beforeAll(async () => {
    objects = await render();
  });

  it('renders exactly the webhook, its Service, config, RBAC and the bootstrap RBAC', () => {
    expect(ids(objects)).toEqual([
      'ClusterRole/canopy',
      'ClusterRole/canopy-bootstrap',
      'ClusterRoleBinding/canopy',
      'ClusterRoleBinding/canopy-bootstrap',
      'ConfigMap/canopy-config',
      'Deployment/canopy',
      'MutatingWebhookConfiguration/canopy',
      'PodDisruptionBudget/canopy',
      'Role/canopy-bootstrap',
      'RoleBinding/canopy-bootstrap',
      'Service/canopy',
      'ServiceAccount/canopy',
      'ValidatingWebhookConfiguration/canopy',
    ]);
    for (const object of objects) {
      expect(object.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'canopy',
        'app.kubernetes.io/instance': 'canopy',
        'app.kubernetes.io/version': chartYaml.appVersion,
        'app.kubernetes.io/managed-by': 'Helm',
        'helm.sh/chart': `canopy-${chartYaml.version}`,
      });
    }
    const namespaced = objects.filter((o) => !o.kind.startsWith('Cluster') && !o.kind.endsWith('WebhookConfiguration'));
    expect(namespaced.map((o) => o.metadata.namespace)).toEqual(namespaced.map(() => 'canopy-system'));
  });

  it('runs 3 replicas of the chart appVersion, spread over nodes, serving `canopy serve --config`', () => {
    const deployment = find<Deployment>(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(3);
    const pod = podSpec(objects);
    const podLabels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(expect.objectContaining({ 'app.kubernetes.io/instance': 'canopy' }));
    expect(podLabels).toMatchObject(deployment.spec.selector.matchLabels ?? {});
    const preferred = pod.affinity?.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    expect(preferred).toEqual([
      { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: deployment.spec.selector.matchLabels } } },
    ]);
    expect(pod.affinity?.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    const canopy = container(objects);
    expect(canopy.image).toBe(`registry.example.com/canopy:${chartYaml.appVersion}`);
    expect(canopy.args).toEqual(['serve', '--config', '/etc/canopy/config/canopy.yaml']);
    expect(canopy.ports).toEqual([expect.objectContaining({ name: 'https', containerPort: 8443 })]);
    expect(canopy.env).toEqual([{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }]);
  });

  it('probes /healthz (liveness) and /readyz (readiness) over HTTPS on the webhook port', () => {
    const canopy = container(objects);
    expect(canopy.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    expect(canopy.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'https', scheme: 'HTTPS' });
  });

  it('meets the restricted Pod Security profile, with a read-only root filesystem', () => {
    const pod = podSpec(objects);
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container(objects).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('gets no service-link variables (CANOPY_PORT=tcp://...), keeps its token, and has resources and grace', () => {
    const pod = podSpec(objects);
    expect(pod.enableServiceLinks).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(container(objects).resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '768Mi' } });
  });

  it('mounts its config, a writable state dir and /tmp, and no TLS secret in bootstrap mode', () => {
    const pod = podSpec(objects);
    const mounts = Object.fromEntries(container(objects).volumeMounts.map((m) => [m.mountPath, m]));
    expect(Object.keys(mounts).sort()).toEqual(['/etc/canopy/config', '/tmp', '/var/lib/canopy']);
    const volumes = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
    expect(volumes[mounts['/etc/canopy/config']?.name ?? '']?.configMap?.name).toBe('canopy-config');
    expect(volumes[mounts['/var/lib/canopy']?.name ?? '']?.emptyDir).toEqual({});
    expect(volumes[mounts['/tmp']?.name ?? '']?.emptyDir).toEqual({});
    expect(canopyConfig(objects).stateDir).toBe('/var/lib/canopy');
  });

  it('exposes the webhook on Service port 443 → the container port named https (8443)', () => {
    const service = find<Service>(objects, 'Service');
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    expect(find<Deployment>(objects, 'Deployment').spec.template.metadata.labels).toMatchObject(service.spec.selector);
  });

  it('keeps at least one pod through voluntary disruptions', () => {
    const pdb = find<K8sObject & { spec: Json }>(objects, 'PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: find<Deployment>(objects, 'Deployment').spec.selector.matchLabels } });
  });

  it('points both webhooks at the rendered Service: its name, namespace, port 443, /validate and /mutate', () => {
    const service = find<Service>(objects, 'Service');
    const validate = webhookOf(objects, 'ValidatingWebhookConfiguration');
    const mutate = webhookOf(objects, 'MutatingWebhookConfiguration');
    const target = { name: service.metadata.name, namespace: service.metadata.namespace, port: service.spec.ports[0]?.port };
    expect(target.port).toBe(443);
    expect(validate.clientConfig.service).toEqual({ ...target, path: '/validate' });
    expect(mutate.clientConfig.service).toEqual({ ...target, path: '/mutate' });
    expect(validate.name).toBe('validate.canopy.io');
    expect(mutate.name).toBe('mutate.canopy.io');
    for (const webhook of [validate, mutate]) {
      expect(webhook.failurePolicy).toBe('Fail');
      expect(webhook.timeoutSeconds).toBe(5);
      expect(webhook.objectSelector).toBeUndefined();
    }
    expect(mutate.reinvocationPolicy).toBe('IfNeeded');
  });

  it('renders no caBundle in bootstrap mode (Canopy patches it in)', () => {
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      expect(webhookOf(objects, kind).clientConfig).not.toHaveProperty('caBundle');
      expect(find(objects, kind).metadata.annotations ?? {}).not.toHaveProperty(['cert-manager.io/inject-ca-from']);
    }
  });

  it('never sends kube-system, kube-node-lease or its own namespace to either webhook', () => {
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      expect(excluded(webhookOf(objects, kind))).toEqual(['kube-system', 'kube-node-lease', 'canopy-system']);
    }
  });

  it('has read-only cluster access: namespaces, nodes, pods, storage classes, Ingresses, DRA claims, cluster identity, scaled objects', () => {
    const role = find<Role>(objects, 'ClusterRole', 'canopy');
    for (const rule of role.rules) expect(['get', 'list', 'watch']).toEqual(expect.arrayContaining(rule.verbs));
    const verbsFor = (group: string, resource: string) =>
      role.rules.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    for (const resource of ['namespaces', 'nodes', 'pods']) expect(verbsFor('', resource)).toEqual(['get', 'list', 'watch']);
    expect(verbsFor('storage.k8s.io', 'storageclasses')).toEqual(['get', 'list', 'watch']);
    expect(verbsFor('networking.k8s.io', 'ingresses')).toEqual(['list', 'watch']);
    expect(verbsFor('resource.k8s.io', 'resourceclaims')).toEqual(['get', 'list', 'watch']);
    expect(verbsFor('about.k8s.io', 'clusterproperties')).toEqual(['get', 'list', 'watch']);
    expect(verbsFor('multicluster.x-k8s.io', 'clusterprofiles')).toEqual(['get', 'list', 'watch']);
    for (const resource of ['deployments', 'statefulsets', 'replicasets']) expect(verbsFor('apps', resource)).toEqual(['get']);
    expect(verbsFor('', 'replicationcontrollers')).toEqual(['get']);
    expect(role.rules.some((r) => r.resources.includes('secrets') || r.resources.includes('logicalclusters'))).toBe(false);
    const binding = find<Binding>(objects, 'ClusterRoleBinding', 'canopy');
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: 'canopy' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: podSpec(objects).serviceAccountName, namespace: 'canopy-system' }]);
    expect(find(objects, 'ServiceAccount').metadata.name).toBe(podSpec(objects).serviceAccountName);
  });

  it('lets Canopy write only its own CA Secret and caBundle of its own two webhook configurations', () => {
    const config = canopyConfig(objects);
    const role = find<Role>(objects, 'Role', 'canopy-bootstrap');
    expect(role.metadata.namespace).toBe('canopy-system');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: [config.tls.bootstrap?.secretName], verbs: ['get', 'update'] },
    ]);
    const webhooks = find<Role>(objects, 'ClusterRole', 'canopy-bootstrap');
    expect(webhooks.rules).toEqual([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'],
        resourceNames: [find(objects, 'ValidatingWebhookConfiguration').metadata.name],
        verbs: ['get', 'patch'],
      },
    ]);
    expect(find(objects, 'MutatingWebhookConfiguration').metadata.name).toBe(find(objects, 'ValidatingWebhookConfiguration').metadata.name);
    const subject = { kind: 'ServiceAccount', name: podSpec(objects).serviceAccountName, namespace: 'canopy-system' };
    expect(find<Binding>(objects, 'RoleBinding', 'canopy-bootstrap')).toMatchObject({ roleRef: { kind: 'Role', name: 'canopy-bootstrap' }, subjects: [subject] });
    expect(find<Binding>(objects, 'ClusterRoleBinding', 'canopy-bootstrap')).toMatchObject({
      roleRef: { kind: 'ClusterRole', name: 'canopy-bootstrap' },
      subjects: [subject],
    });
  });

  it("writes Canopy's config file with only the keys Canopy knows, bootstrap naming the rendered objects", () => {
    expect(canopyConfig(objects)).toEqual({
      port: 8443,
      host: '0.0.0.0',
      policies: '/app/policies',
      stateDir: '/var/lib/canopy',
      logLevel: 'info',
      // One worker less than the CPU limit (2), the event loop taking the other: Node alone would count the node's cores.
      engine: { workers: 1, decisionCacheSize: 10000, heapGrowthPercent: 300 },
      // Below webhooks.timeoutSeconds (5 s); the API server's ?timeout= shortens it further when lower.
      deadlineMs: 4000,
      limits: { maxInFlight: 512, perClientPerSecond: 0 },
      tls: {
        bootstrap: {
          enabled: true,
          secretName: 'canopy-tls',
          namespace: 'canopy-system',
          service: find(objects, 'Service').metadata.name,
          validatingWebhook: find(objects, 'ValidatingWebhookConfiguration').metadata.name,
          mutatingWebhook: find(objects, 'MutatingWebhookConfiguration').metadata.name,
        },
      },
      shutdown: { delaySeconds: 5, drainSeconds: 20 },
      cluster: { labels: {}, clusterProperties: true },
      imageLookupTimeoutMs: 2000,
      kubernetes: { namespaceLookupTimeoutMs: 1000 },
    });
  });

  it('adds the prometheus.io scrape annotations to the pods', () => {
    expect(find<Deployment>(objects, 'Deployment').spec.template.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8443',
      'prometheus.io/scheme': 'https',
      'prometheus.io/path': '/metrics',
    });
  });
});

describe('the release namespace and name', () => {
  it('follows the namespace: the exclusion, the Service reference and the bootstrap Role move with it', async () => {
    const objects = await render([], { namespace: 'other-ns' });
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      const webhook = webhookOf(objects, kind);
      expect(excluded(webhook)).toEqual(['kube-system', 'kube-node-lease', 'other-ns']);
      expect(webhook.clientConfig.service.namespace).toBe('other-ns');
    }
    expect(find(objects, 'Role').metadata.namespace).toBe('other-ns');
    expect(canopyConfig(objects).tls.bootstrap?.namespace).toBe('other-ns');
    expect(JSON.stringify(objects)).not.toContain('canopy-system');
  });

  it('names every object <release>-canopy when the release name does not contain "canopy"', async () => {
    const objects = await render([], { release: 'prod' });
    const service = find<Service>(objects, 'Service');
    expect(service.metadata.name).toBe('prod-canopy');
    expect(webhookOf(objects, 'ValidatingWebhookConfiguration').clientConfig.service.name).toBe('prod-canopy');
    expect(find(objects, 'ValidatingWebhookConfiguration').metadata.name).toBe('prod-canopy');
    expect(find<Role>(objects, 'ClusterRole', 'prod-canopy-bootstrap').rules[0]?.resourceNames).toEqual(['prod-canopy']);
    expect(canopyConfig(objects, 'prod-canopy-config').tls.bootstrap).toMatchObject({
      secretName: 'prod-canopy-tls',
      service: 'prod-canopy',
      validatingWebhook: 'prod-canopy',
    });
  });
});

describe('a config change rolls the pods', () => {
  const checksum = (objects: K8sObject[]) => find<Deployment>(objects, 'Deployment').spec.template.metadata.annotations['checksum/config'];

  it('changes the pod template checksum when canopy.yaml changes, and only then', async () => {
    const [base, logLevel, replicas] = await Promise.all([render(), render(['--set', 'config.logLevel=debug']), render(['--set', 'replicaCount=4'])]);
    expect(checksum(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(logLevel)).not.toBe(checksum(base));
    expect(checksum(replicas)).toBe(checksum(base));
  });
});

describe('every option (test/fixtures/helm/all-options.yaml, tls.mode secret)', () => {
  let objects: K8sObject[];
  beforeAll(async () => {
    objects = await render(['-f', ALL_OPTIONS]);
  });

  it('puts the given caBundle into both webhook configurations', () => {
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      expect(webhookOf(objects, kind).clientConfig.caBundle).toBe(allOptions.tls.caBundle);
    }
  });

  it('applies failurePolicy, timeout, reinvocation, object selector and the extra exclusions', () => {
    const validate = webhookOf(objects, 'ValidatingWebhookConfiguration');
    const mutate = webhookOf(objects, 'MutatingWebhookConfiguration');
    for (const webhook of [validate, mutate]) {
      expect(webhook.failurePolicy).toBe('Ignore');
      expect(webhook.timeoutSeconds).toBe(10);
      // canopy-system is both listed and the release namespace: once.
      expect(excluded(webhook)).toEqual(['kube-system', 'kube-public', 'cert-manager', 'canopy-system', 'kube-node-lease']);
      expect(webhook.objectSelector).toEqual({ matchExpressions: [{ key: 'canopy.io/ignore', operator: 'DoesNotExist' }] });
    }
    expect(mutate.reinvocationPolicy).toBe('Never');
  });

  it('adds the release namespace to the extra exclusions when it is not listed', async () => {
    const elsewhere = await render(['-f', ALL_OPTIONS], { namespace: 'policy' });
    expect(excluded(webhookOf(elsewhere, 'ValidatingWebhookConfiguration'))).toEqual(['kube-system', 'kube-public', 'cert-manager', 'canopy-system', 'kube-node-lease', 'policy']);
  });

  it('renders no bootstrap RBAC, and mounts the TLS secret where the config points', () => {
    expect(has(objects, 'Role')).toBe(false);
    expect(has(objects, 'RoleBinding')).toBe(false);
    expect(has(objects, 'ClusterRole', 'canopy-bootstrap')).toBe(false);
    // No RBAC rule reaches Secrets (the webhook rules do name them: Canopy judges Secret writes).
    expect(JSON.stringify(objects.filter((o) => o.kind.endsWith('Role')))).not.toContain('"secrets"');
    const mount = container(objects).volumeMounts.find((m) => m.mountPath === '/etc/canopy/tls');
    expect(mount?.readOnly).toBe(true);
    const volume = podSpec(objects).volumes.find((v) => v.name === mount?.name);
    expect(volume?.secret?.secretName).toBe('canopy-serving-cert');
    expect(canopyConfig(objects).tls).toEqual({ certFile: '/etc/canopy/tls/tls.crt', keyFile: '/etc/canopy/tls/tls.key', reloadIntervalSeconds: 30 });
  });

  it('passes the bundle store token from its Secret, then the extra env', () => {
    expect(container(objects).env).toEqual([
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'CANOPY_BUNDLE_TOKEN', valueFrom: { secretKeyRef: { name: 'canopy-bundle-store', key: 'bearer' } } },
      { name: 'NODE_OPTIONS', value: '--max-old-space-size=768' },
    ]);
  });

  it("writes the bundle, cluster identity, registries, kcp and look-up deadlines into Canopy's config", () => {
    const config = canopyConfig(objects);
    expect(config.bundle).toEqual({ url: allOptions.bundle.url, publicKeys: allOptions.bundle.publicKeys, intervalSeconds: 60 });
    expect(config.bundle?.publicKeys[0]).toContain('-----BEGIN PUBLIC KEY-----');
    expect(config.cluster).toEqual(allOptions.config.cluster);
    expect(config.registries).toEqual(allOptions.config.registries);
    expect(config.kcp).toEqual(allOptions.config.kcp);
    expect(config).toMatchObject({ host: '::', logLevel: 'debug', imageLookupTimeoutMs: 1500, kubernetes: { namespaceLookupTimeoutMs: 750 } });
    expect(config.shutdown).toEqual({ delaySeconds: 10, drainSeconds: 40 });
  });

  it('schedules 5 pods strictly one per node with the given resources, placement and grace period', () => {
    const deployment = find<Deployment>(objects, 'Deployment');
    expect(deployment.spec.replicas).toBe(5);
    const pod = podSpec(objects);
    expect(pod.affinity?.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
      { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: deployment.spec.selector.matchLabels } },
    ]);
    expect(pod.affinity?.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(container(objects).resources).toEqual({ requests: { cpu: '500m', memory: '384Mi' }, limits: { cpu: '3', memory: '1Gi' } });
    expect(container(objects).image).toBe('registry.internal.example/platform/canopy:0.1.0-rc.1');
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    expect(pod.nodeSelector).toEqual({ 'node-role.kubernetes.io/control-plane-addons': 'true' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'addons', effect: 'NoSchedule' }]);
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(deployment.spec.template.metadata.labels).toMatchObject({ team: 'platform' });
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations['team.example.com/owner']).toBe('platform');
    expect(Object.keys(annotations).filter((key) => key.startsWith('prometheus.io/'))).toEqual([]);
  });

  it('uses maxUnavailable over minAvailable in the PodDisruptionBudget', () => {
    const pdb = find<K8sObject & { spec: Json }>(objects, 'PodDisruptionBudget');
    expect(pdb.spec['maxUnavailable']).toBe(1);
    expect(pdb.spec).not.toHaveProperty('minAvailable');
  });

  it('runs as the named ServiceAccount everywhere, and may get kcp logical clusters', () => {
    const account = find(objects, 'ServiceAccount');
    expect(account.metadata).toMatchObject({ name: 'canopy-webhook', annotations: { 'iam.example.com/role': 'canopy' } });
    expect(podSpec(objects).serviceAccountName).toBe('canopy-webhook');
    expect(find<Binding>(objects, 'ClusterRoleBinding').subjects).toEqual([{ kind: 'ServiceAccount', name: 'canopy-webhook', namespace: 'canopy-system' }]);
    expect(find<Role>(objects, 'ClusterRole').rules).toContainEqual({ apiGroups: ['core.kcp.io'], resources: ['logicalclusters'], verbs: ['get'] });
  });

  it('renders a ServiceMonitor scraping /metrics over HTTPS from the rendered Service', () => {
    const monitor = find<K8sObject & { spec: { selector: LabelSelector; namespaceSelector: Json; endpoints: Json[] } }>(objects, 'ServiceMonitor');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(monitor.spec.endpoints).toEqual([
      { port: 'https', path: '/metrics', scheme: 'https', interval: '15s', scrapeTimeout: '5s', tlsConfig: { insecureSkipVerify: true } },
    ]);
    const service = find<Service>(objects, 'Service');
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels ?? { missing: 'selector' });
    expect(service.spec.ports.map((p) => p.name)).toContain('https');
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ['canopy-system'] });
  });

  it('renders the Grafana dashboard ConfigMap for the sidecar, with the dashboard JSON', () => {
    const dashboard = find<K8sObject & { data: Record<string, string> }>(objects, 'ConfigMap', 'canopy-dashboard');
    expect(dashboard.metadata.labels).toMatchObject({ grafana_dashboard: '1', team: 'platform' });
    expect(dashboard.metadata.annotations).toEqual({ grafana_folder: 'Admission' });
    const json = JSON.parse(dashboard.data['canopy.json'] ?? '') as { uid: string };
    expect(json.uid).toBe('canopy');
    expect(dashboard.data['canopy.json']).toContain('canopy_admission_requests_total');
    expect(json).toEqual(JSON.parse(readFileSync(`${CHART}/dashboards/canopy.json`, 'utf8')));
  });
});

describe('tls.mode certManager (test/fixtures/helm/cert-manager.yaml)', () => {
  it('issues the serving certificate from its own CA chain and injects that CA into both webhooks', async () => {
    const objects = await render(['-f', CERT_MANAGER]);
    const certificates = objects.filter((o): o is Certificate => o.kind === 'Certificate');
    const issuers = objects.filter((o) => o.kind === 'Issuer') as (K8sObject & { spec: Json })[];
    expect(certificates.map((c) => c.metadata.name).sort()).toEqual(['canopy-ca', 'canopy-serving']);
    const ca = find<Certificate>(objects, 'Certificate', 'canopy-ca');
    const serving = find<Certificate>(objects, 'Certificate', 'canopy-serving');
    const selfSigned = issuers.find((i) => 'selfSigned' in i.spec);
    const caIssuer = issuers.find((i) => 'ca' in i.spec);
    expect(ca.spec.isCA).toBe(true);
    expect(ca.spec.issuerRef).toEqual({ name: selfSigned?.metadata.name, kind: 'Issuer', group: 'cert-manager.io' });
    expect(caIssuer?.spec).toEqual({ ca: { secretName: ca.spec.secretName } });
    expect(serving.spec.issuerRef).toEqual({ name: caIssuer?.metadata.name, kind: 'Issuer', group: 'cert-manager.io' });
    expect(serving.spec.isCA).toBeUndefined();
    expect(serving.spec.dnsNames).toEqual(['canopy.canopy-system.svc', 'canopy.canopy-system.svc.cluster.local']);
    expect(serving.spec).toMatchObject({ duration: '720h', renewBefore: '168h' });
    for (const object of [...certificates, ...issuers]) expect(object.metadata.namespace).toBe('canopy-system');

    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      const annotation = find(objects, kind).metadata.annotations?.['cert-manager.io/inject-ca-from'];
      expect(annotation).toBe(`${serving.metadata.namespace}/${serving.metadata.name}`);
      expect(webhookOf(objects, kind).clientConfig).not.toHaveProperty('caBundle');
    }
    const mount = container(objects).volumeMounts.find((m) => m.mountPath === '/etc/canopy/tls');
    expect(podSpec(objects).volumes.find((v) => v.name === mount?.name)?.secret?.secretName).toBe(serving.spec.secretName);
    expect(canopyConfig(objects).tls).toEqual({ certFile: '/etc/canopy/tls/tls.crt', keyFile: '/etc/canopy/tls/tls.key', reloadIntervalSeconds: 5 });
    expect(has(objects, 'Role')).toBe(false);
    expect(has(objects, 'ClusterRole', 'canopy-bootstrap')).toBe(false);
  });

  it('uses a given issuer instead of making a CA', async () => {
    const objects = await render(['-f', CERT_MANAGER, '--set', 'tls.certManager.issuerRef.name=corp-ca', '--set', 'tls.certManager.issuerRef.kind=ClusterIssuer']);
    expect(has(objects, 'Issuer')).toBe(false);
    const serving = find<Certificate>(objects, 'Certificate');
    expect(serving.spec.issuerRef).toEqual({ name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
    expect(find(objects, 'ValidatingWebhookConfiguration').metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(`canopy-system/${serving.metadata.name}`);
  });
});

describe('optional parts can be switched off', () => {
  it('renders neither webhook configuration nor the PodDisruptionBudget when disabled', async () => {
    const objects = await render([
      '--set', 'webhooks.validating.enabled=false',
      '--set', 'webhooks.mutating.enabled=false',
      '--set', 'podDisruptionBudget.enabled=false',
      '--set', 'podAntiAffinity=none',
    ]);
    expect(has(objects, 'ValidatingWebhookConfiguration')).toBe(false);
    expect(has(objects, 'MutatingWebhookConfiguration')).toBe(false);
    expect(has(objects, 'PodDisruptionBudget')).toBe(false);
    expect(podSpec(objects).affinity).toBeUndefined();
  });
});

describe('bad values are refused before anything is applied', () => {
  const template = (...sets: string[]) => helm(['template', 'canopy', CHART, '--namespace', 'canopy-system', '--kube-version', KUBE_VERSION, ...sets.flatMap((s) => ['--set', s])]);

  it.each([
    ['webhooks.failurePolicy=Maybe', 'webhooks.failurePolicy must be one of the following: "Fail", "Ignore"'],
    ['webhooks.timeoutSeconds=60', 'webhooks.timeoutSeconds: Must be less than or equal to 30'],
    ['webhooks.timeoutSeconds=0', 'webhooks.timeoutSeconds: Must be greater than or equal to 1'],
    ['replicaCount=0', 'replicaCount: Must be greater than or equal to 1'],
    ['tls.mode=selfsigned', 'tls.mode must be one of the following: "bootstrap", "secret", "certManager"'],
    ['podAntiAffinity=sometimes', 'podAntiAffinity must be one of the following: "soft", "hard", "none"'],
    ['bogus=1', 'Additional property bogus is not allowed'],
    ['webhooks.failurPolicy=Fail', 'Additional property failurPolicy is not allowed'],
  ])('refuses --set %s, naming the field', async (set, message) => {
    const result = await template(set);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('refuses tls.mode secret without the Secret or without the caBundle', async () => {
    const noSecret = await template('tls.mode=secret', `tls.caBundle=${allOptions.tls.caBundle}`);
    expect(noSecret.code).not.toBe(0);
    expect(noSecret.stderr).toContain('tls.mode secret needs tls.secretName');
    const noCa = await template('tls.mode=secret', 'tls.secretName=canopy-serving-cert');
    expect(noCa.code).not.toBe(0);
    expect(noCa.stderr).toContain('tls.mode secret needs tls.caBundle');
  });

  it('refuses a shutdown longer than the termination grace period', async () => {
    const result = await template('shutdown.drainSeconds=25');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('shutdown.delaySeconds + shutdown.drainSeconds (30) must be below terminationGracePeriodSeconds (30)');
    expect((await template('shutdown.drainSeconds=25', 'terminationGracePeriodSeconds=31')).code).toBe(0);
  });

  it('refuses a bundle store without a trusted key', async () => {
    const result = await template('bundle.url=https://bundles.example.com/policies.tar.gz');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('bundle.url needs bundle.publicKeys');
  });

  it('refuses clusters older than Kubernetes 1.25', async () => {
    const result = await helm(['template', 'canopy', CHART, '--kube-version', '1.24.0']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`chart requires kubeVersion: ${chartYaml.kubeVersion}`);
  });
});

describe('webhooks/*.yaml, the plain manifests, match the chart', () => {
  let rendered: K8sObject[];
  beforeAll(async () => {
    rendered = await render();
  });

  it.each([
    ['validating.yaml', 'ValidatingWebhookConfiguration'],
    ['mutating.yaml', 'MutatingWebhookConfiguration'],
  ])('%s is the chart default render of its %s, caBundle aside', (file, kind) => {
    const plain = parse(readFileSync(`${REPO_ROOT}webhooks/${file}`, 'utf8')) as WebhookConfiguration;
    const chart = find<WebhookConfiguration>(rendered, kind);
    expect(plain.kind).toBe(kind);
    expect(plain.apiVersion).toBe(chart.apiVersion);
    expect(plain.metadata.name).toBe(chart.metadata.name);
    const comparable = ({ clientConfig, ...webhook }: AdmissionWebhook) => ({ ...webhook, service: clientConfig.service });
    expect(plain.webhooks.map(comparable)).toEqual(chart.webhooks.map(comparable));
  });
});

const DASHBOARD_METRICS = new Set([
  'canopy_admission_requests_total',
  'canopy_admission_request_duration_seconds_bucket',
  'canopy_admission_request_duration_seconds_sum',
  'canopy_admission_request_duration_seconds_count',
  'canopy_policy_denials_total',
  'canopy_policy_evaluation_errors_total',
  'canopy_mutations_applied_total',
  'canopy_enricher_lookups_total',
  'canopy_bundle_info',
  'canopy_bundle_staleness_seconds',
  'nodejs_eventloop_lag_p99_seconds',
  'process_resident_memory_bytes',
]);

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string }[];
  panels?: Panel[];
}

describe('the Grafana dashboard (charts/canopy/dashboards/canopy.json)', () => {
  const dashboard = JSON.parse(readFileSync(`${CHART}/dashboards/canopy.json`, 'utf8')) as {
    uid: string;
    schemaVersion: number;
    templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
    panels: Panel[];
  };
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
  const queries = [
    ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
    ...dashboard.templating.list.filter((v) => v.type === 'query').map((v) => ({ where: `$${v.name}`, expr: v.definition ?? '' })),
  ];
  /** Identifiers in a PromQL expression that look like Canopy's or the Node.js process metrics. */
  const metricsIn = (expr: string) => [...expr.replace(/"[^"]*"/g, '""').matchAll(/\b(canopy_|nodejs_|process_)[a-z0-9_]*/g)].map((m) => m[0]);

  it('is a Prometheus dashboard with uid canopy and a datasource variable', () => {
    expect(dashboard.uid).toBe('canopy');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
    for (const panel of panels) expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
  });

  it('queries only metrics Canopy exposes, every query at least one', () => {
    expect(queries.length).toBeGreaterThan(10);
    for (const { where, expr } of queries) {
      const metrics = metricsIn(expr);
      expect(metrics.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const metric of metrics) expect(DASHBOARD_METRICS.has(metric), `${where}: unknown metric ${metric}`).toBe(true);
    }
  });

  it('shows every metric Canopy exposes, latency as p50 and p99, and the enricher cache hit ratio', () => {
    const used = new Set(queries.flatMap(({ expr }) => metricsIn(expr)));
    expect([...DASHBOARD_METRICS].filter((m) => !used.has(m))).toEqual([]);
    const exprs = queries.map((q) => q.expr.replace(/\s+/g, ' '));
    expect(exprs.some((e) => e.includes('histogram_quantile(0.5,') && e.includes('canopy_admission_request_duration_seconds_bucket'))).toBe(true);
    expect(exprs.some((e) => e.includes('histogram_quantile(0.99,') && e.includes('canopy_admission_request_duration_seconds_bucket'))).toBe(true);
    expect(exprs.some((e) => /sum by \(enricher\) \(rate\(canopy_enricher_lookups_total\{[^}]*result="hit"[^}]*\}\[5m\]\)\) \/ sum by \(enricher\) \(rate\(canopy_enricher_lookups_total/.test(e))).toBe(true);
  });
});

/**
 * Just enough of a Kubernetes API server for `helm upgrade --install`: discovery, GET of named
 * objects, create, patch, and Helm's release Secrets. Records every write.
 */
class FakeApiServer {
  readonly objects = new Map<string, Json>();
  readonly writes: { method: string; path: string; body: Json }[] = [];
  private readonly server = createServer((req, res) => this.handle(req, res));
  private static readonly RESOURCES: Record<string, [string, string, boolean][]> = {
    v1: [['configmaps', 'ConfigMap', true], ['secrets', 'Secret', true], ['services', 'Service', true], ['serviceaccounts', 'ServiceAccount', true]],
    'admissionregistration.k8s.io/v1': [['validatingwebhookconfigurations', 'ValidatingWebhookConfiguration', false], ['mutatingwebhookconfigurations', 'MutatingWebhookConfiguration', false]],
    'apps/v1': [['deployments', 'Deployment', true]],
    'policy/v1': [['poddisruptionbudgets', 'PodDisruptionBudget', true]],
    'rbac.authorization.k8s.io/v1': [['clusterroles', 'ClusterRole', false], ['clusterrolebindings', 'ClusterRoleBinding', false], ['roles', 'Role', true], ['rolebindings', 'RoleBinding', true]],
  };

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = url.pathname;
      const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json) : {};
      const resources = FakeApiServer.RESOURCES;
      if (route === '/version') return this.send(res, 200, { major: '1', minor: '28', gitVersion: 'v1.28.0', platform: 'linux/amd64' });
      if (route === '/api') return this.send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
      if (route === '/apis') {
        const groups = Object.keys(resources).filter((gv) => gv.includes('/')).map((groupVersion) => {
          const [name, version] = groupVersion.split('/');
          return { name, versions: [{ groupVersion, version }], preferredVersion: { groupVersion, version } };
        });
        return this.send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
      }
      const groupVersion = route === '/api/v1' ? 'v1' : route.replace(/^\/apis\//, '');
      const list = resources[groupVersion];
      if (list) {
        const apiResources = list.map(([name, kind, namespaced]) => ({ name, singularName: '', namespaced, kind, verbs: ['create', 'get', 'list', 'patch', 'update'] }));
        return this.send(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources: apiResources });
      }
      if (req.method === 'GET' && url.searchParams.has('labelSelector')) return this.send(res, 200, { kind: 'List', apiVersion: 'v1', metadata: {}, items: [] });
      if (req.method !== 'GET') this.writes.push({ method: req.method ?? '', path: route, body });
      if (req.method === 'GET') {
        const found = this.objects.get(route);
        if (found) return this.send(res, 200, found);
        return this.send(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${route} not found`, details: {} });
      }
      if (req.method === 'POST') {
        const name = (body['metadata'] as { name: string }).name;
        this.objects.set(`${route}/${name}`, body);
        return this.send(res, 201, body);
      }
      if (req.method === 'PUT') {
        this.objects.set(route, body);
        return this.send(res, 200, body);
      }
      if (req.method === 'PATCH') return this.send(res, 200, this.objects.get(route) ?? {});
      return this.send(res, 405, {});
    });
  }
}

describe('helm upgrade in tls.mode bootstrap', () => {
  it('keeps the caBundle Canopy patched into the live webhook configuration', async () => {
    const api = new FakeApiServer();
    const url = await api.start();
    try {
      const liveCa = Buffer.from('-----BEGIN CERTIFICATE-----\nlive CA\n-----END CERTIFICATE-----\n').toString('base64');
      // What Canopy's bootstrap left behind: the validating webhook (owned by the release) carries its CA.
      api.objects.set('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/canopy', {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: {
          name: 'canopy',
          resourceVersion: '7',
          labels: { 'app.kubernetes.io/managed-by': 'Helm' },
          annotations: { 'meta.helm.sh/release-name': 'canopy', 'meta.helm.sh/release-namespace': 'canopy-system' },
        },
        webhooks: [{ name: 'validate.canopy.io', clientConfig: { caBundle: liveCa, service: { name: 'canopy', namespace: 'canopy-system', path: '/validate' } } }],
      });
      const kubeconfig = path.join(mkdtempSync(path.join(tmpdir(), 'canopy-helm-kube-')), 'config');
      writeFileSync(kubeconfig, [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: fake, cluster: {server: "${url}"}}]`,
        'users: [{name: helm, user: {token: test}}]',
        'contexts: [{name: fake, context: {cluster: fake, user: helm, namespace: canopy-system}}]',
        'current-context: fake',
      ].join('\n'));
      chmodSync(kubeconfig, 0o600);
      const result = await helm(
        ['upgrade', '--install', 'canopy', CHART, '--namespace', 'canopy-system', '--disable-openapi-validation'],
        { KUBECONFIG: kubeconfig },
      );
      expect(result.stderr).not.toContain('Error');
      expect(result.code).toBe(0);
      // NOTES.txt: how to check readiness, and what the TLS mode does.
      expect(result.stdout).toContain('kubectl -n canopy-system rollout status deployment/canopy');
      expect(result.stdout).toContain('patches the CA into the webhooks\' caBundle itself');
      expect(result.stdout).toContain('Never sent to Canopy: namespaces kube-system, canopy-system.');

      // The manifest Helm applied and stored in its release Secret.
      const release = [...api.writes].reverse().find((w) => w.path.startsWith('/api/v1/namespaces/canopy-system/secrets'));
      const data = (release?.body['data'] as { release: string } | undefined)?.release ?? '';
      const stored = JSON.parse(gunzipSync(Buffer.from(Buffer.from(data, 'base64').toString('utf8'), 'base64')).toString('utf8')) as { manifest: string };
      const applied = parseObjects(stored.manifest);
      expect(webhookOf(applied, 'ValidatingWebhookConfiguration').clientConfig.caBundle).toBe(liveCa);
      // No live mutating configuration yet: nothing to carry over.
      expect(webhookOf(applied, 'MutatingWebhookConfiguration').clientConfig).not.toHaveProperty('caBundle');

      // And the patch sent to the live object leaves its caBundle alone.
      const patch = api.writes.find((w) => w.method === 'PATCH' && w.path.endsWith('/validatingwebhookconfigurations/canopy'));
      expect(patch).toBeDefined();
      expect(JSON.stringify(patch?.body)).not.toContain('"caBundle":null');
    } finally {
      await api.stop();
    }
  });
});
