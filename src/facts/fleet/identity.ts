// The cluster's identity, merged from its sources in order, each later one overriding the fields it
// sets: the config file / flags; about.k8s.io ClusterProperty objects (KEP-2149); the status.properties
// of a SIG-Multicluster ClusterProfile when one is configured.
import type { Logger } from '../../operations/decision-log/index.js';
import type { KubeClient } from '../../sources/kube/index.js';
import type { ClusterIdentity } from '../../kubernetes/objects/index.js';
import type { FleetConfig } from './config.js';
import { messageOf } from '../../operations/errors/index.js';

/**
 * The property names Canopy reads, and the identity field each one sets. Others become labels. A
 * ClusterProperty's name is its object name, a DNS subdomain without '/': the dotted forms
 * (`jurisdiction.canopy.io`) are the ones a real cluster can hold; the slashed forms serve
 * ClusterProfile properties and configs written before.
 */
export const IDENTITY_PROPERTIES: Record<string, keyof Omit<ClusterIdentity, 'labels'>> = {
  'cluster.clusterset.k8s.io': 'name',
  'cluster-name.canopy.io': 'name',
  'canopy.io/cluster-name': 'name',
  'region.canopy.io': 'region',
  'canopy.io/region': 'region',
  'topology.kubernetes.io/region': 'region',
  'jurisdiction.canopy.io': 'jurisdiction',
  'canopy.io/jurisdiction': 'jurisdiction',
  'provider.canopy.io': 'provider',
  'canopy.io/provider': 'provider',
  'environment.canopy.io': 'environment',
  'canopy.io/environment': 'environment',
};

export type IdentitySource = 'config' | 'ClusterProperty' | 'ClusterProfile';
export type IdentityField = keyof Omit<ClusterIdentity, 'labels'>;
export const IDENTITY_FIELDS: readonly IdentityField[] = ['name', 'region', 'jurisdiction', 'provider', 'environment'];

/** Where one field or label came from: `ClusterProperty jurisdiction.canopy.io`, `ClusterProfile fleet/de-1`, the config. */
export interface IdentityOrigin {
  source: IdentitySource;
  /** The ClusterProfile, as namespace/name. */
  object?: string;
  /** The property that set it: a ClusterProperty's name, or a ClusterProfile property's. */
  property?: string;
}

export interface DiscoveredIdentity {
  identity: ClusterIdentity;
  /** Which source set each field (for labels: the last one that set any), for the start-up line. */
  sources: Partial<Record<keyof ClusterIdentity, IdentitySource>>;
  /** Where each field and each label came from; a field absent here has its default. */
  origins: Partial<Record<IdentityField, IdentityOrigin>> & { labels: Record<string, IdentityOrigin> };
  problems: string[];
}

/** Properties of one source, in the order they apply (a later one overrides an earlier one for the same field). */
export interface SourceProperties {
  source: Exclude<IdentitySource, 'config'>;
  /** The ClusterProfile, as namespace/name. */
  object?: string;
  properties: [string, string][];
}

function apply(result: DiscoveredIdentity, { source, object, properties }: SourceProperties): void {
  for (const [name, value] of properties) {
    const origin: IdentityOrigin = { source, ...(object ? { object } : {}), property: name };
    const field = IDENTITY_PROPERTIES[name];
    if (field) {
      result.identity[field] = field === 'jurisdiction' ? value.toUpperCase() : value;
      result.sources[field] = source;
      result.origins[field] = origin;
    } else {
      result.identity.labels[name] = value;
      result.sources.labels = source;
      result.origins.labels[name] = origin;
    }
  }
}

export function identityFromConfig(config: FleetConfig): DiscoveredIdentity {
  const { cluster } = config;
  const identity: ClusterIdentity = {
    name: cluster.name ?? 'local',
    region: cluster.region ?? '',
    jurisdiction: cluster.jurisdiction ?? '',
    provider: cluster.provider ?? '',
    environment: cluster.environment ?? '',
    labels: { ...cluster.labels },
  };
  const sources: DiscoveredIdentity['sources'] = {};
  const origins: DiscoveredIdentity['origins'] = { labels: {} };
  for (const key of IDENTITY_FIELDS) {
    if (cluster[key] === undefined) continue;
    sources[key] = 'config';
    origins[key] = { source: 'config' };
  }
  for (const label of Object.keys(cluster.labels)) origins.labels[label] = { source: 'config' };
  if (Object.keys(cluster.labels).length > 0) sources.labels = 'config';
  return { identity, sources, origins, problems: [] };
}

/** The config, then each source's properties in the order given: ClusterProperty objects, then the ClusterProfile. */
export function mergeIdentity(config: FleetConfig, sources: SourceProperties[], problems: string[] = []): DiscoveredIdentity {
  const result = identityFromConfig(config);
  for (const source of sources) apply(result, { ...source, properties: source.properties.filter(([name, value]) => name && value) });
  result.problems = problems;
  return result;
}

/** ClusterProperty objects in the order the API server lists them (by name), as [name, value]. */
export function clusterProperties(byName: Iterable<[string, string]>): [string, string][] {
  return [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export const propertyValue = (object: Record<string, unknown>): string => {
  const spec = object['spec'] as { value?: unknown } | undefined;
  return typeof spec?.value === 'string' ? spec.value : '';
};

export const profileProperties = (object: Record<string, unknown>): [string, string][] => {
  const status = object['status'] as { properties?: unknown } | undefined;
  const properties = Array.isArray(status?.properties) ? (status.properties as { name?: unknown; value?: unknown }[]) : [];
  return properties.filter((p): p is { name: string; value: string } => typeof p?.name === 'string' && typeof p.value === 'string').map((p): [string, string] => [p.name, p.value]);
};

export const clusterPropertiesPath = '/apis/about.k8s.io/v1alpha1/clusterproperties';
export const clusterProfilesPath = (namespace: string): string => `/apis/multicluster.x-k8s.io/v1alpha1/namespaces/${encodeURIComponent(namespace)}/clusterprofiles`;

interface Property {
  metadata?: { name?: string };
  spec?: { value?: unknown };
}

/** Reads the cluster's own sources once, on top of the config; what cannot be read is reported, not fatal. */
export async function discoverIdentity(config: FleetConfig, client: KubeClient, logger: Logger): Promise<DiscoveredIdentity> {
  const sources: SourceProperties[] = [];
  const problems: string[] = [];
  if (config.cluster.clusterProperties) {
    try {
      const list = await client.list<Property>(clusterPropertiesPath);
      sources.push({ source: 'ClusterProperty', properties: list.items.map((item): [string, string] => [item.metadata?.name ?? '', propertyValue(item as Record<string, unknown>)]) });
    } catch (error) {
      // A cluster without the ClusterProperty CRD answers 404: that is not a problem, just no source.
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 404) problems.push(`ClusterProperty objects could not be read: ${messageOf(error)}`);
    }
  }
  const profile = config.cluster.clusterProfile;
  if (profile) {
    try {
      const found = await client.getJson<Record<string, unknown>>(`${clusterProfilesPath(profile.namespace)}/${encodeURIComponent(profile.name)}`);
      sources.push({ source: 'ClusterProfile', object: `${profile.namespace}/${profile.name}`, properties: profileProperties(found) });
    } catch (error) {
      problems.push(`ClusterProfile ${profile.namespace}/${profile.name} could not be read: ${messageOf(error)}`);
    }
  }
  for (const problem of problems) logger.warn({ problem }, 'cluster identity source unavailable; using the others');
  return mergeIdentity(config, sources, problems);
}

/** `config`, `ClusterProperty jurisdiction.canopy.io`, `ClusterProfile fleet/de-1 property canopy.io/jurisdiction`. */
export function describeOrigin(origin: IdentityOrigin | undefined): string {
  if (!origin) return 'default';
  if (origin.source === 'ClusterProfile') return `ClusterProfile ${origin.object ?? ''}${origin.property ? ` property ${origin.property}` : ''}`;
  return origin.property ? `${origin.source} ${origin.property}` : origin.source;
}

const shown = (value: string | undefined): string => (value === undefined || value === '' ? '(unset)' : value);

/** One change of one field or label, for the log and /status. */
export interface IdentityChange {
  /** A field (`jurisdiction`) or `label <key>`. */
  field: string;
  before: string;
  after: string;
  /** Where the new value comes from (describeOrigin); `default` when no source sets it any more. */
  from: string;
}

/** What differs between two readings: values, and fields whose value stayed but whose source changed. */
export function identityChanges(before: DiscoveredIdentity, after: DiscoveredIdentity): IdentityChange[] {
  const changes: IdentityChange[] = [];
  const compare = (field: string, a: string | undefined, b: string | undefined, from: IdentityOrigin | undefined, was: IdentityOrigin | undefined) => {
    if ((a ?? '') !== (b ?? '') || describeOrigin(from) !== describeOrigin(was)) changes.push({ field, before: a ?? '', after: b ?? '', from: describeOrigin(from) });
  };
  for (const field of IDENTITY_FIELDS) compare(field, before.identity[field], after.identity[field], after.origins[field], before.origins[field]);
  const labels = [...new Set([...Object.keys(before.identity.labels), ...Object.keys(after.identity.labels)])].sort();
  for (const label of labels) compare(`label ${label}`, before.identity.labels[label], after.identity.labels[label], after.origins.labels[label], before.origins.labels[label]);
  return changes;
}

/** `jurisdiction DE → FR (from ClusterProperty jurisdiction.canopy.io)`; `region eu-west-3 (now from config)` when only the source changed. */
export function describeChange(change: IdentityChange): string {
  const from = change.from === 'default' ? 'no source sets it now' : `from ${change.from}`;
  if (change.before === change.after) return `${change.field} ${shown(change.after)} (now ${from})`;
  return `${change.field} ${shown(change.before)} → ${shown(change.after)} (${from})`;
}

/**
 * The start-up line's identity, each part with its source:
 * `cluster de-1 (from ClusterProperty): region eu-central-1 (from config), labels tier=gold (from config)`.
 */
export function describeIdentity({ identity, origins }: DiscoveredIdentity): string {
  const from = (origin: IdentityOrigin | undefined) => `(from ${origin ? origin.source : 'default'})`;
  const fields = IDENTITY_FIELDS.filter((key) => key !== 'name' && identity[key]).map((key) => `${key} ${identity[key]} ${from(origins[key])}`);
  // Labels of one source together: `labels tier=gold, team=a (from config), zone=b (from ClusterProfile)`.
  const groups: { source: string; labels: string[] }[] = [];
  for (const [key, value] of Object.entries(identity.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const source = from(origins.labels[key]);
    const last = groups.at(-1);
    if (last?.source === source) last.labels.push(`${key}=${value}`);
    else groups.push({ source, labels: [`${key}=${value}`] });
  }
  if (groups.length > 0) fields.push(`labels ${groups.map((group) => `${group.labels.join(', ')} ${group.source}`).join(', ')}`);
  return `cluster ${identity.name} ${from(origins.name)}${fields.length > 0 ? `: ${fields.join(', ')}` : ''}`;
}
