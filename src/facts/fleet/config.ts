// The fleet part of Canopy's config (see src/operations/config): the cluster's identity, how to reach its API server, and the kcp
// workspace mapping. YAML; every field is optional, and an unknown one is an error, not a silent no-op.
import type { RegistryAccess } from '../../sources/oci/index.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import { CanopyError } from '../../operations/errors/index.js';

export interface FleetConfig {
  cluster: {
    name?: string;
    region?: string;
    jurisdiction?: string;
    provider?: string;
    environment?: string;
    labels: Record<string, string>;
    /** Read about.k8s.io ClusterProperty objects (default: true when connected to a cluster). */
    clusterProperties: boolean;
    /** A SIG-Multicluster ClusterProfile whose status.properties describe this cluster. */
    clusterProfile?: { namespace: string; name: string };
  };
  kubernetes?: { kubeconfig?: string; context?: string; namespaceLookupTimeoutMs: number };
  /** How to reach image registries (plain HTTP, credentials); anonymous HTTPS otherwise. */
  registries: RegistryAccess[];
  /** How long one request may wait for registries. */
  imageLookupTimeoutMs: number;
  kcp?: {
    /** Logical cluster name → workspace path ("2x8h3k" → "root:org-eu:payments"). */
    logicalClusters: Record<string, string>;
    /** Labels of workspaces, by path. */
    workspaces: Record<string, Record<string, string>>;
    /** Ask the API server for logical clusters not in the mapping (kcp's LogicalCluster objects). */
    discover: boolean;
  };
}

export class ConfigError extends CanopyError {
  constructor(file: string, message: string) {
    super('fleet-config', `${file}: ${message}`);
  }
}

type Json = Record<string, unknown>;

function only(value: Json, where: string, keys: string[], fail: (message: string) => never): void {
  const unknown = Object.keys(value).filter((key) => !keys.includes(key));
  if (unknown.length > 0) fail(`${where} has unknown field ${unknown.join(', ')} (it takes ${keys.join(', ')})`);
}

function stringMap(value: unknown, where: string, fail: (message: string) => never): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value) || !Object.values(value).every((v) => typeof v === 'string')) fail(`${where} must be a map of strings`);
  return value as Record<string, string>;
}

function optionalString(value: Json, key: string, where: string, fail: (message: string) => never): string | undefined {
  const found = value[key];
  if (found === undefined) return undefined;
  if (typeof found !== 'string') fail(`${where}.${key} must be a string`);
  return found;
}

export const DEFAULT_NAMESPACE_LOOKUP_MS = 1000;
export const DEFAULT_IMAGE_LOOKUP_MS = 2000;

export function parseFleetConfig(value: unknown, file = 'config'): FleetConfig {
  const fail = (message: string): never => {
    throw new ConfigError(file, message);
  };
  if (value === null || value === undefined) value = {};
  if (!isRecord(value)) fail('the config must be a map');
  const root = value as Json;
  only(root, 'the config', ['cluster', 'kubernetes', 'kcp', 'registries', 'imageLookupTimeoutMs'], fail);

  const cluster = root['cluster'] ?? {};
  if (!isRecord(cluster)) fail('cluster must be a map');
  const c = cluster as Json;
  only(c, 'cluster', ['name', 'region', 'jurisdiction', 'provider', 'environment', 'labels', 'clusterProperties', 'clusterProfile'], fail);
  const jurisdiction = optionalString(c, 'jurisdiction', 'cluster', fail);
  if (jurisdiction !== undefined && !/^([A-Za-z]{2}|EU)$/.test(jurisdiction)) fail('cluster.jurisdiction must be an ISO 3166-1 alpha-2 code (DE, FR, US) or EU');
  const profile = c['clusterProfile'];
  if (profile !== undefined && !(isRecord(profile) && typeof profile['namespace'] === 'string' && typeof profile['name'] === 'string')) {
    fail('cluster.clusterProfile must be {namespace, name}');
  }
  if (c['clusterProperties'] !== undefined && typeof c['clusterProperties'] !== 'boolean') fail('cluster.clusterProperties must be true or false');

  const registries: RegistryAccess[] = [];
  const rawRegistries = root['registries'] ?? [];
  if (!Array.isArray(rawRegistries)) fail('registries must be a list of {host, insecure, username, password}');
  (rawRegistries as unknown[]).forEach((entry, index) => {
    const where = `registries[${index}]`;
    if (!isRecord(entry) || typeof entry['host'] !== 'string') fail(`${where} must be {host, insecure, username, password}`);
    const e = entry as Json;
    only(e, where, ['host', 'insecure', 'username', 'password'], fail);
    if (e['insecure'] !== undefined && typeof e['insecure'] !== 'boolean') fail(`${where}.insecure must be true or false`);
    const username = optionalString(e, 'username', where, fail);
    const password = optionalString(e, 'password', where, fail);
    registries.push({
      host: (e['host'] as string).toLowerCase(),
      ...(e['insecure'] === true ? { insecure: true } : {}),
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
    });
  });
  const lookupTimeout = root['imageLookupTimeoutMs'] ?? DEFAULT_IMAGE_LOOKUP_MS;
  if (typeof lookupTimeout !== 'number' || !Number.isInteger(lookupTimeout) || lookupTimeout < 1) fail('imageLookupTimeoutMs must be a positive whole number');

  const config: FleetConfig = {
    cluster: {
      labels: stringMap(c['labels'], 'cluster.labels', fail),
      clusterProperties: (c['clusterProperties'] as boolean | undefined) ?? true,
    },
    registries,
    imageLookupTimeoutMs: lookupTimeout as number,
  };
  for (const key of ['name', 'region', 'provider', 'environment'] as const) {
    const found = optionalString(c, key, 'cluster', fail);
    if (found !== undefined) config.cluster[key] = found;
  }
  if (jurisdiction !== undefined) config.cluster.jurisdiction = jurisdiction.toUpperCase();
  if (isRecord(profile)) config.cluster.clusterProfile = { namespace: profile['namespace'] as string, name: profile['name'] as string };

  const kubernetes = root['kubernetes'];
  if (kubernetes !== undefined) {
    if (!isRecord(kubernetes)) fail('kubernetes must be a map');
    const k = kubernetes as Json;
    only(k, 'kubernetes', ['kubeconfig', 'context', 'namespaceLookupTimeoutMs'], fail);
    const timeout = k['namespaceLookupTimeoutMs'] ?? DEFAULT_NAMESPACE_LOOKUP_MS;
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1) fail('kubernetes.namespaceLookupTimeoutMs must be a positive whole number');
    config.kubernetes = { namespaceLookupTimeoutMs: timeout as number };
    const kubeconfig = optionalString(k, 'kubeconfig', 'kubernetes', fail);
    const context = optionalString(k, 'context', 'kubernetes', fail);
    if (kubeconfig !== undefined) config.kubernetes.kubeconfig = kubeconfig;
    if (context !== undefined) config.kubernetes.context = context;
  }

  const kcp = root['kcp'];
  if (kcp !== undefined) {
    if (!isRecord(kcp)) fail('kcp must be a map');
    const k = kcp as Json;
    only(k, 'kcp', ['logicalClusters', 'workspaces', 'discover'], fail);
    const logicalClusters = stringMap(k['logicalClusters'], 'kcp.logicalClusters', fail);
    for (const [name, path] of Object.entries(logicalClusters)) {
      if (!/^[a-z0-9-]+(:[a-z0-9-]+)*$/.test(path)) fail(`kcp.logicalClusters.${name}: "${path}" is not a workspace path such as root:org:team`);
    }
    const workspaces: Record<string, Record<string, string>> = {};
    const rawWorkspaces = k['workspaces'] ?? {};
    if (!isRecord(rawWorkspaces)) fail('kcp.workspaces must be a map of workspace paths to {labels}');
    for (const [path, entry] of Object.entries(rawWorkspaces as Json)) {
      if (!isRecord(entry)) fail(`kcp.workspaces.${path} must be {labels: {...}}`);
      only(entry as Json, `kcp.workspaces.${path}`, ['labels'], fail);
      workspaces[path] = stringMap((entry as Json)['labels'], `kcp.workspaces.${path}.labels`, fail);
    }
    if (k['discover'] !== undefined && typeof k['discover'] !== 'boolean') fail('kcp.discover must be true or false');
    config.kcp = { logicalClusters, workspaces, discover: (k['discover'] as boolean | undefined) ?? false };
  }
  return config;
}
