// The cluster's identity, merged from its sources in order, each later one overriding the fields it
// sets: the config file / flags; about.k8s.io ClusterProperty objects (KEP-2149); the status.properties
// of a SIG-Multicluster ClusterProfile when one is configured.
import type { Logger } from '../decision-log/index.js';
import type { KubeClient } from '../kube/index.js';
import type { ClusterIdentity } from '../translate/index.js';
import type { FleetConfig } from './config.js';

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

export interface DiscoveredIdentity {
  identity: ClusterIdentity;
  /** Which source set each field, for the start-up log. */
  sources: Partial<Record<keyof ClusterIdentity, IdentitySource>>;
  problems: string[];
}

function apply(identity: ClusterIdentity, sources: DiscoveredIdentity['sources'], properties: [string, string][], source: IdentitySource): void {
  for (const [name, value] of properties) {
    const field = IDENTITY_PROPERTIES[name];
    if (field) {
      identity[field] = field === 'jurisdiction' ? value.toUpperCase() : value;
      sources[field] = source;
    } else {
      identity.labels[name] = value;
      sources.labels = source;
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
  for (const key of ['name', 'region', 'jurisdiction', 'provider', 'environment'] as const) if (cluster[key] !== undefined) sources[key] = 'config';
  if (Object.keys(cluster.labels).length > 0) sources.labels = 'config';
  return { identity, sources, problems: [] };
}

interface Property {
  metadata?: { name?: string };
  spec?: { value?: unknown };
}

/** Reads the cluster's own sources on top of the config; what cannot be read is reported, not fatal. */
export async function discoverIdentity(config: FleetConfig, client: KubeClient, logger: Logger): Promise<DiscoveredIdentity> {
  const result = identityFromConfig(config);
  if (config.cluster.clusterProperties) {
    try {
      const list = await client.list<Property>('/apis/about.k8s.io/v1alpha1/clusterproperties');
      const properties = list.items
        .map((item): [string, string] => [item.metadata?.name ?? '', typeof item.spec?.value === 'string' ? item.spec.value : ''])
        .filter(([name, value]) => name && value);
      apply(result.identity, result.sources, properties, 'ClusterProperty');
    } catch (error) {
      // A cluster without the ClusterProperty CRD answers 404: that is not a problem, just no source.
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 404) result.problems.push(`ClusterProperty objects could not be read: ${(error as Error).message}`);
    }
  }
  const profile = config.cluster.clusterProfile;
  if (profile) {
    try {
      const found = await client.getJson<{ status?: { properties?: { name?: string; value?: string }[] } }>(
        `/apis/multicluster.x-k8s.io/v1alpha1/namespaces/${encodeURIComponent(profile.namespace)}/clusterprofiles/${encodeURIComponent(profile.name)}`,
      );
      const properties = (found.status?.properties ?? [])
        .filter((p): p is { name: string; value: string } => typeof p.name === 'string' && typeof p.value === 'string')
        .map((p): [string, string] => [p.name, p.value]);
      apply(result.identity, result.sources, properties, 'ClusterProfile');
    } catch (error) {
      result.problems.push(`ClusterProfile ${profile.namespace}/${profile.name} could not be read: ${(error as Error).message}`);
    }
  }
  for (const problem of result.problems) logger.warn({ problem }, 'cluster identity source unavailable; using the others');
  return result;
}
