import type { CedarValueJson } from '../cedar/index.js';
import type { QuotaFacts, ScaleTemplate, UsageLedger } from '../quota/index.js';
import type { ImageLookup, SupplyChainFacts } from '../supply-chain/index.js';

// What Canopy knows about a request beyond the AdmissionReview itself: its cluster, its namespace's
// labels, its kcp workspace, the storage classes and nodes it refers to, and where its data may live.
// The webhook fills this from the cluster (informers); `canopy test` cases give it directly.

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

export interface SovereigntyFacts {
  dataClass: string;
  residency: string;
  anyJurisdiction: boolean;
  jurisdictions: string[];
  anyRegion: boolean;
  regions: string[];
}

/** The declared facts (policies/facts/*.yaml) of the object under admission, as Cedar values. */
export interface DeclaredFactValues {
  /** `resource.facts`: the facts this request needs that could be computed. */
  current: Record<string, CedarValueJson>;
  /** `resource.old.facts`, on UPDATE. */
  old?: Record<string, CedarValueJson>;
  /** Fact name → why it could not be computed; the policies that read it fail closed. */
  failures: Record<string, string>;
}

export interface RequestFacts {
  /**
   * Why facts the policies rely on could not be gathered (a namespace lookup past its deadline, an
   * unknown kcp workspace): the request is denied with this reason rather than judged without them.
   */
  unavailable?: string;
  cluster?: ClusterIdentity;
  /** Labels of the request's namespace; without them the namespace entity carries only its name. */
  namespaceLabels?: Readonly<Record<string, string>>;
  workspace?: WorkspaceInfo;
  storageClass?: (name: string) => StorageClassInfo | undefined;
  /** The class a claim without storageClassName gets. */
  defaultStorageClass?: () => StorageClassInfo | undefined;
  nodeLabels?: (name: string) => Readonly<Record<string, string>> | undefined;
  /** How many nodes the cluster has: a DaemonSet asks for one pod on each. */
  nodeCount?: number;
  /** Tenants' usage (observed pods and reservations). */
  quotaLedger?: UsageLedger;
  /** For a scale request: what one replica of the scaled object asks for. */
  scaleTemplate?: ScaleTemplate;
  sovereignty?: SovereigntyFacts;
  /** Derived from the budgets in the policy data, the ledger and the request. */
  quota?: QuotaFacts;
  /** What registries said about the request's images, by normalised reference. */
  imageLookups?: ReadonlyMap<string, ImageLookup>;
  /** Derived from the supply-chain data and the image look-ups. */
  supplyChain?: SupplyChainFacts;
  /** Computed from the declared facts' CEL expressions. */
  declared?: DeclaredFactValues;
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
