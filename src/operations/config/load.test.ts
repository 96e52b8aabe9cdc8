import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../facts/fleet/index.js';
import { loadCanopyConfig, type FlagValue } from './load.js';
import { envNameOf, SETTINGS, type Setting } from './settings.js';

function configFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'canopy-config-')), 'canopy.yaml');
  writeFileSync(file, text);
  return file;
}

/** A valid value for each setting, as text (environment, flag) and as the parsed config holds it. */
const SAMPLES: Record<string, { text: string; value: unknown; raw?: unknown }> = {
  port: { text: '9443', value: 9443 },
  host: { text: '::', value: '::' },
  policies: { text: '/p', value: '/p' },
  stateDir: { text: '/s', value: '/s' },
  logLevel: { text: 'debug', value: 'debug' },
  bodyLimit: { text: '2048', value: 2048 },
  recordRequests: { text: '/r', value: '/r' },
  deadlineMs: { text: '2500', value: 2500 },
  'tls.clientCaFile': { text: '/client-ca.pem', value: '/client-ca.pem' },
  'limits.maxInFlight': { text: '64', value: 64 },
  'limits.perClientPerSecond': { text: '100', value: 100 },
  'admin.token': { text: 'adm1n', value: 'adm1n' },
  'tls.certFile': { text: '/t.crt', value: '/t.crt' },
  'tls.keyFile': { text: '/t.key', value: '/t.key' },
  'tls.dnsNames': { text: 'a.example,b.example', value: ['a.example', 'b.example'] },
  'tls.reloadIntervalSeconds': { text: '5', value: 5 },
  'tls.bootstrap.enabled': { text: 'true', value: true },
  'tls.bootstrap.secretName': { text: 'webhook-tls', value: 'webhook-tls' },
  'tls.bootstrap.namespace': { text: 'policy', value: 'policy' },
  'tls.bootstrap.service': { text: 'webhook', value: 'webhook' },
  'tls.bootstrap.validatingWebhook': { text: 'v', value: 'v' },
  'tls.bootstrap.mutatingWebhook': { text: '', value: '' },
  'engine.workers': { text: '3', value: 3 },
  'engine.decisionCacheSize': { text: '0', value: 0 },
  'engine.heapGrowthPercent': { text: '0', value: 0 },
  'shutdown.delaySeconds': { text: '7', value: 7 },
  'shutdown.drainSeconds': { text: '9', value: 9 },
  'bundle.url': { text: 'oci://registry.local/policies:prod', value: 'oci://registry.local/policies:prod' },
  'fleetBudgets.kubeconfig': { text: '/etc/canopy/fleet/kubeconfig', value: '/etc/canopy/fleet/kubeconfig' },
  'fleetBudgets.context': { text: 'fleet-store', value: 'fleet-store' },
  'fleetBudgets.inCluster': { text: 'true', value: true },
  'fleetBudgets.namespace': { text: 'budgets', value: 'budgets' },
  'fleetBudgets.leaseSeconds': { text: '600', value: 600 },
  'fleetBudgets.timeoutMs': { text: '500', value: 500 },
  'bundle.publicKeyFiles': { text: '/k.pem', value: ['/k.pem'] },
  'bundle.publicKeys': { text: '[PEM]', value: ['PEM'] },
  'bundle.token': { text: 's3cret', value: 's3cret' },
  'bundle.caFile': { text: '/ca.pem', value: '/ca.pem' },
  'bundle.intervalSeconds': { text: '60', value: 60 },
  'bundle.longPollSeconds': { text: '20', value: 20 },
  'bundle.channel': { text: 'prod', value: 'prod' },
  'bundle.maxClockSkewSeconds': { text: '60', value: 60 },
  'bundle.canaries': {
    text: '[{apiVersion: v1, kind: ConfigMap, metadata: {name: c}}]',
    value: [{ object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } } }],
    raw: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }],
  },
  'cluster.name': { text: 'de-1', value: 'de-1' },
  'cluster.region': { text: 'eu-central-1', value: 'eu-central-1' },
  'cluster.jurisdiction': { text: 'de', value: 'DE' },
  'cluster.provider': { text: 'aws', value: 'aws' },
  'cluster.environment': { text: 'prod', value: 'prod' },
  'cluster.labels': { text: '{tier: gold}', value: { tier: 'gold' } },
  'cluster.clusterProperties': { text: 'false', value: false },
  'cluster.clusterProfile': { text: '{namespace: fleet, name: de-1}', value: { namespace: 'fleet', name: 'de-1' } },
  'kubernetes.kubeconfig': { text: '/kc', value: '/kc' },
  'kubernetes.context': { text: 'ctx', value: 'ctx' },
  'kubernetes.namespaceLookupTimeoutMs': { text: '300', value: 300 },
  registries: { text: '[{host: registry.local:5000, insecure: true}]', value: [{ host: 'registry.local:5000', insecure: true }] },
  imageLookupTimeoutMs: { text: '900', value: 900 },
  'supplyChain.maxLookupsPerRequest': { text: '10', value: 10 },
  'supplyChain.maxConcurrentLookups': { text: '4', value: 4 },
  'supplyChain.maxLookupsPerTenant': { text: '2', value: 2 },
  'supplyChain.maxConnectionsPerRegistry': { text: '3', value: 3 },
  'kcp.logicalClusters': { text: '{abc: "root:org"}', value: { abc: 'root:org' } },
  'kcp.workspaces': { text: '{"root:org": {labels: {a: b}}}', value: { 'root:org': { a: 'b' } }, raw: { 'root:org': { labels: { a: 'b' } } } },
  'kcp.discover': { text: 'true', value: true },
};

/** Where a setting lands in the parsed config (the fleet keys sit under `fleet`). */
function valueAt(config: unknown, setting: Setting): unknown {
  const fleet = ['cluster', 'kubernetes', 'kcp', 'registries', 'imageLookupTimeoutMs'].includes(setting.key.split('.')[0] ?? '');
  const parts = [...(fleet ? ['fleet'] : []), ...setting.key.split('.')];
  return parts.reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], config);
}

/** Settings that need a companion to be accepted on their own in a full load. */
function companions(setting: Setting): Record<string, FlagValue> {
  if (setting.key.startsWith('bundle.') && setting.key !== 'bundle.url') return { 'bundle.url': 'https://store.local/b', 'bundle.publicKeys': ['PEM'] };
  if (setting.key === 'bundle.url') return { 'bundle.publicKeys': ['PEM'] };
  if (setting.key.startsWith('fleetBudgets.') && !['fleetBudgets.kubeconfig', 'fleetBudgets.inCluster'].includes(setting.key)) return { 'fleetBudgets.kubeconfig': '/fleet' };
  if (setting.key === 'tls.certFile') return { 'tls.keyFile': '/k' };
  if (setting.key === 'tls.keyFile') return { 'tls.certFile': '/c' };
  return {};
}

describe('canopy serve config', () => {
  it('has a sample for every setting, and no two settings share a flag or a variable', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual(SETTINGS.map((setting) => setting.key).sort());
    expect(new Set(SETTINGS.map((setting) => setting.flag)).size).toBe(SETTINGS.length);
    expect(new Set(SETTINGS.map((setting) => envNameOf(setting.key))).size).toBe(SETTINGS.length);
  });

  it.each(SETTINGS.map((setting) => [setting.key, setting] as const))('takes %s from the file, the environment and a flag', async (_key, setting) => {
    const sample = SAMPLES[setting.key];
    if (!sample) throw new Error(`no sample for ${setting.key}`);
    const yamlText = `${setting.key.split('.').map((part, depth) => `${'  '.repeat(depth)}${part}:`).join('\n')} ${JSON.stringify(sample.raw ?? sample.value)}\n`;
    const extra = companions(setting);
    const fromFile = await loadCanopyConfig({ file: configFile(yamlText), flags: extra });
    expect(valueAt(fromFile, setting)).toEqual(sample.value);
    const fromEnv = await loadCanopyConfig({ env: { [envNameOf(setting.key)]: sample.text }, flags: extra });
    expect(valueAt(fromEnv, setting)).toEqual(sample.value);
    const flag: FlagValue = setting.kind === 'list' && !sample.text.startsWith('[') ? sample.text.split(',') : sample.text;
    const fromFlag = await loadCanopyConfig({ flags: { ...extra, [setting.key]: flag } });
    expect(valueAt(fromFlag, setting)).toEqual(sample.value);
  });

  it('lets a flag override the environment, and the environment the file, key by key', async () => {
    const file = configFile('port: 1000\nhost: 10.0.0.1\ncluster:\n  name: from-file\n  region: eu-west-3\n');
    const config = await loadCanopyConfig({ file, env: { CANOPY_PORT: '2000', CANOPY_CLUSTER_NAME: 'from-env' }, flags: { port: '3000' } });
    expect(config.port).toBe(3000);
    expect(config.host).toBe('10.0.0.1');
    expect(config.fleet.cluster).toMatchObject({ name: 'from-env', region: 'eu-west-3' });
  });

  it('fills in defaults, and takes the bootstrap namespace from the pod', async () => {
    const config = await loadCanopyConfig({ podNamespace: 'policy-system' });
    expect(config).toMatchObject({ port: 8443, host: '0.0.0.0', policies: './policies', stateDir: '.canopy', logLevel: 'info', shutdown: { delaySeconds: 0, drainSeconds: 25 } });
    expect(config.tls.bootstrap).toEqual({ enabled: false, secretName: 'canopy-tls', namespace: 'policy-system', service: 'canopy', validatingWebhook: 'canopy', mutatingWebhook: 'canopy' });
    expect(config.bundle).toBeUndefined();
    expect(config.fleetBudgets).toBeUndefined();
    // Fewer, later full collections: V8 alone picks 10% under a webhook's load (app/heap-growth.ts).
    expect(config.engine.heapGrowthPercent).toBe(300);
  });

  it('connects to a fleet store only with a kubeconfig or inCluster, and not with both', async () => {
    expect((await loadCanopyConfig({ flags: { 'fleetBudgets.namespace': 'budgets' } })).fleetBudgets).toBeUndefined();
    expect((await loadCanopyConfig({ flags: { 'fleetBudgets.kubeconfig': '/fleet' } })).fleetBudgets).toEqual({
      kubeconfig: '/fleet',
      inCluster: false,
      namespace: 'canopy-fleet',
      leaseSeconds: 300,
      timeoutMs: 1000,
    });
    await expect(loadCanopyConfig({ flags: { 'fleetBudgets.kubeconfig': '/fleet', 'fleetBudgets.inCluster': 'true' } })).rejects.toThrow(/exclude each other/);
  });

  it.each([
    ['an unknown key in the file', { file: 'prot: 8443\n' }, /canopy\.yaml: prot: unknown key \(the config takes port, host/],
    ['an unknown nested key', { file: 'tls:\n  bootstrap:\n    enable: true\n' }, /tls\.bootstrap\.enable: unknown key \(tls\.bootstrap takes enabled,/],
    ['a wrong type in the file', { file: 'shutdown:\n  drainSeconds: soon\n' }, /canopy\.yaml: shutdown\.drainSeconds must be a whole number from 0 to 3600 \(got "soon"\)/],
    ['a fleet key of the wrong type', { file: 'cluster:\n  jurisdiction: Germany\n' }, /canopy\.yaml: cluster\.jurisdiction must be an ISO 3166-1 alpha-2 code/],
    ['a wrong type in the environment', { env: { CANOPY_PORT: 'tcp://10.96.0.12:443' } }, /^CANOPY_PORT: port must be a whole number from 0 to 65535 \(got "tcp:\/\/10\.96\.0\.12:443"\)/],
    ['a boolean that is not one', { env: { CANOPY_KCP_DISCOVER: 'yes' } }, /^CANOPY_KCP_DISCOVER: kcp\.discover: must be true or false/],
    ['invalid YAML in the environment', { env: { CANOPY_REGISTRIES: '[{host: ' } }, /^CANOPY_REGISTRIES: registries: not valid YAML/],
    ['a wrong type in a flag', { flags: { 'bundle.intervalSeconds': '0' } }, /^--bundle-interval: bundle\.intervalSeconds must be a whole number from 1 to 86400/],
    ['a misspelt variable', { env: { CANOPY_BUNDLE_TOKN: 'x' } }, /^environment: CANOPY_BUNDLE_TOKN: unknown CANOPY_\* variable/],
    ['Kubernetes service links', { env: { CANOPY_SERVICE_HOST: '10.96.0.12', CANOPY_PORT_443_TCP: 'tcp://10.96.0.12:443' } }, /set enableServiceLinks: false/],
    ['a certificate without its key', { flags: { 'tls.certFile': '/c' } }, /tls\.certFile \(--tls-cert\) and tls\.keyFile \(--tls-key\) go together/],
    ['a bundle without a trusted key', { env: { CANOPY_BUNDLE_URL: 'https://store.local/b' } }, /bundle\.url \(--bundle\) needs a trusted key/],
    ['a bundle url that is no URL', { flags: { 'bundle.url': 'store.local/b' } }, /bundle\.url must start with https:\/\/, http:\/\/ or oci:\/\//],
    ['two certificate sources', { flags: { 'tls.bootstrap.enabled': true, 'tls.certFile': '/c', 'tls.keyFile': '/k' } }, /exclude each other/],
  ])('refuses %s, naming the key and where it came from', async (_what, given, message) => {
    const sources = {
      ...('file' in given ? { file: configFile(given.file) } : {}),
      ...('env' in given ? { env: given.env } : {}),
      ...('flags' in given ? { flags: given.flags as Record<string, FlagValue> } : {}),
    };
    const attempt = loadCanopyConfig(sources);
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(message);
  });
});
