// The cluster, kcp workspace and storage a request lands on, as Canopy knows them from the fleet:
// plain shapes every fact source and the Cedar translation share.

export interface ClusterIdentity {
  name: string;
  region: string;
  /** ISO 3166-1 alpha-2 ("DE") or "EU"; "" when unknown. */
  jurisdiction: string;
  provider: string;
  environment: string;
  labels: Record<string, string>;
}

export const UNKNOWN_CLUSTER: ClusterIdentity = {
  name: 'local',
  region: '',
  jurisdiction: '',
  provider: '',
  environment: '',
  labels: {},
};

export interface WorkspaceInfo {
  /** "root:org-eu:payments" */
  path: string;
  logicalCluster: string;
  /** Labels of each workspace on the path, by path, where known. */
  labels: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface StorageClassInfo {
  name: string;
  /** Regions in its allowedTopologies (topology.kubernetes.io/region); empty when it names none. */
  regions: string[];
  waitForFirstConsumer: boolean;
  isDefault: boolean;
}

/** Where a request lands, as every fact source may read it: its cluster, its namespace's labels, its kcp workspace. */
export interface FleetFacts {
  cluster?: ClusterIdentity;
  namespaceLabels?: Readonly<Record<string, string>>;
  workspace?: WorkspaceInfo;
}

export const REGION_LABEL = 'topology.kubernetes.io/region';

/** Member states of the European Union, by ISO 3166-1 alpha-2 code. */
export const EU_MEMBERS: ReadonlySet<string> = new Set([
  'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE',
  'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE',
]);

/** A jurisdiction and what it belongs to: "DE" → ["DE", "EU"]; "EU" → ["EU"]; "" → []. */
export function jurisdictionsOf(code: string): string[] {
  const upper = code.toUpperCase();
  if (!upper) return [];
  return EU_MEMBERS.has(upper) ? [upper, 'EU'] : [upper];
}
