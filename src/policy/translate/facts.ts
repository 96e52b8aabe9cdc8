import type { FleetShares, QuotaFacts, ScaleTemplate, UsageLedger } from '../../facts/quota/index.js';
import type { ImageLookup, SupplyChainFacts } from '../../facts/supply-chain/index.js';
import type { SovereigntyFacts } from '../../facts/sovereignty/index.js';
import type { PodSecurityFacts } from '../../facts/pod-security/index.js';
import type { ClusterInventory, DeclaredFactValues } from '../../facts/declared/index.js';
import type { ClusterIdentity, StorageClassInfo, WorkspaceInfo } from '../../kubernetes/objects/fleet.js';

// What Canopy knows about a request beyond the AdmissionReview itself: its cluster, its namespace's
// labels, its kcp workspace, the storage classes and nodes it refers to, and what each fact source
// derived from them. The webhook fills this from the cluster (informers) and the providers;
// `canopy test` cases give it directly.

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
  /** This cluster's shares of fleet-wide budgets; without it a fleet tenant holds none. */
  fleetShares?: FleetShares;
  /** For a scale request: what one replica of the scaled object asks for. */
  scaleTemplate?: ScaleTemplate;
  sovereignty?: SovereigntyFacts;
  /** Derived from the budgets in the policy data, the ledger and the request. */
  quota?: QuotaFacts;
  /** What registries said about the request's images, by normalised reference. */
  imageLookups?: ReadonlyMap<string, ImageLookup>;
  /** Derived from the supply-chain data and the image look-ups. */
  supplyChain?: SupplyChainFacts;
  /** The Pod Security levels, exemption and exceptions for a Pod or pod template. */
  podSecurity?: PodSecurityFacts;
  /** Computed from the declared facts' CEL expressions. */
  declared?: DeclaredFactValues;
  /** The cluster's other objects (Ingresses), for declared facts that read `inventory`. */
  inventory?: ClusterInventory;
}
