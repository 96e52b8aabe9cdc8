// The fleet context of each request: the cluster's identity, its namespace's labels, its kcp workspace,
// and the storage classes and nodes it refers to, from in-memory caches that informers keep current.
import { judgedObject, type AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { Logger } from '../../operations/decision-log/index.js';
import { KubeApiError, Reflector, type Informer, type KubeClient } from '../../sources/kube/index.js';
import { asArray, asRecord, asString, asStringMap, own, REGION_LABEL, type ClusterIdentity, type RequestFacts, type StorageClassInfo, type WorkspaceInfo } from '../../policy/translate/index.js';
import { claimDevices, podUsage, QuantityError, QuotaLedger, tenantOf, ZERO, type ObservedClaim, type ObservedPod, type ScaleTemplate } from '../quota/index.js';
import type { LookupObserver } from '../lookups.js';
import { DEFAULT_NAMESPACE_LOOKUP_MS, type FleetConfig } from './config.js';
import { identityFromConfig, type DiscoveredIdentity } from './identity.js';
import { IdentityWatch, type IdentityStatus, type IdentityWatchOptions } from './identity-watch.js';
import { IngressInventory } from './ingresses.js';
import { messageOf } from '../../operations/errors/index.js';

export const LOGICAL_CLUSTER_ANNOTATION = 'kcp.io/cluster';
const KCP_PATH_ANNOTATION = 'kcp.io/path';
const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

type Labels = Record<string, string>;

const labelsOf = (object: Record<string, unknown>): Labels => asStringMap(asRecord(object['metadata'])['labels']);

/** Only what sovereignty rules read of a StorageClass. */
function storageClassOf(object: Record<string, unknown>): StorageClassInfo {
  const metadata = asRecord(object['metadata']);
  const regions = new Set<string>();
  for (const topology of asArray(object['allowedTopologies'])) {
    for (const expression of asArray(asRecord(topology)['matchLabelExpressions'])) {
      const requirement = asRecord(expression);
      if (requirement['key'] === REGION_LABEL) asArray(requirement['values']).forEach((v) => typeof v === 'string' && regions.add(v));
    }
  }
  return {
    name: asString(metadata['name']),
    regions: [...regions],
    waitForFirstConsumer: object['volumeBindingMode'] === 'WaitForFirstConsumer',
    isDefault: asRecord(metadata['annotations'])[DEFAULT_CLASS_ANNOTATION] === 'true',
  };
}

/** Only what quotas read of a Pod: where it is, whether it still holds resources, and what it asks for. */
/** Where an observed object is: its namespace, name and (under kcp) logical cluster. */
function placeOf(metadata: Record<string, unknown>): { namespace: string; name: string; logicalCluster: string } {
  return {
    namespace: asString(metadata['namespace']),
    name: asString(metadata['name']),
    logicalCluster: asString(asRecord(metadata['annotations'])[LOGICAL_CLUSTER_ANNOTATION]),
  };
}

function observedPod(object: Record<string, unknown>): ObservedPod {
  const metadata = asRecord(object['metadata']);
  const phase = asString(asRecord(object['status'])['phase']);
  let usage = ZERO;
  try {
    usage = podUsage(asRecord(object['spec']));
  } catch (error) {
    // The API server accepted it, so this cannot happen; count nothing rather than crash the informer.
    if (!(error instanceof QuantityError)) throw error;
  }
  return { ...placeOf(metadata), usage, active: phase !== 'Succeeded' && phase !== 'Failed' };
}

/** Only what quotas read of a DRA ResourceClaim: where it is and the devices it asks for or holds. */
function observedClaim(object: Record<string, unknown>): ObservedClaim {
  const metadata = asRecord(object['metadata']);
  const results = asArray(asRecord(asRecord(asRecord(object['status'])['allocation'])['devices'])['results']).map((r) => asString(asRecord(r)['request']));
  const allocated = (request: string) => BigInt(results.filter((r) => r === request || r.startsWith(`${request}/`)).length);
  let devices: Record<string, bigint> = {};
  try {
    devices = claimDevices(asRecord(object['spec']), 'spec', () => true, allocated);
  } catch (error) {
    if (!(error instanceof QuantityError)) throw error;
  }
  return { ...placeOf(metadata), devices };
}

/** DRA's ResourceClaims (resource.k8s.io/v1, Kubernetes 1.34+); a cluster that does not serve them has none. */
const RESOURCE_CLAIMS = '/apis/resource.k8s.io/v1/resourceclaims';
const CLAIMS_RECHECK_MS = 5 * 60_000;

export interface FleetStatus {
  connected: boolean;
  /** The identity now, where each field came from, what cannot be read, and the last change. */
  identity: IdentityStatus;
  caches: Record<string, { synced: boolean; objects: number; lastError?: string }>;
}

export class FleetContext {
  /** The identity from the config alone, when not connected to a cluster. */
  private readonly configIdentity: DiscoveredIdentity;
  /** Follows the cluster's identity sources (identity-watch.ts) when connected. */
  private readonly identityWatch?: IdentityWatch;
  private readonly namespaces?: Reflector<Labels>;
  private readonly storageClasses?: Reflector<StorageClassInfo>;
  private readonly nodes?: Reflector<Labels>;
  private readonly pods?: Reflector<ObservedPod>;
  /**
   * DRA ResourceClaims, for GPU budgets. Not waited for: a cluster without DRA answers 404 (empty),
   * and one that refuses the list (RBAC) must not keep Canopy unready; claims then count only while
   * their admission reservation is held.
   */
  private readonly claims?: Reflector<ObservedClaim>;
  /**
   * The cluster's Ingresses, for facts that read `inventory.ingresses`. Not waited for either: until
   * it has synced, those facts cannot be computed and their policies fail closed.
   */
  private readonly ingresses?: IngressInventory;
  /** Tenants' usage from the pod informer, plus reservations. */
  readonly ledger?: QuotaLedger;
  private readonly pendingNamespaces = new Map<string, Promise<Labels | string>>();
  /** Discovered workspaces, and misses with the time they expire (a logical cluster may appear later). */
  private readonly workspacePaths = new Map<string, { path: string; labels: Labels } | number>();

  constructor(
    readonly config: FleetConfig,
    logger: Logger,
    private readonly client?: KubeClient,
    /** Told of every namespace and workspace look-up: from a cache (hit), fetched (miss), or failed. */
    private readonly onLookup: LookupObserver = () => undefined,
    identityOptions: IdentityWatchOptions = {},
    /** How long an admitted request's reservation is held at most (DEFAULT_RESERVATION_TTL_MS). */
    quotaOptions: { reservationTtlMs?: number } = {},
  ) {
    this.configIdentity = identityFromConfig(config);
    if (client) {
      this.identityWatch = new IdentityWatch(config, client, logger, identityOptions);
      this.namespaces = new Reflector(client, { path: '/api/v1/namespaces', name: 'namespaces', project: labelsOf }, logger);
      this.storageClasses = new Reflector(client, { path: '/apis/storage.k8s.io/v1/storageclasses', name: 'storageclasses', project: storageClassOf }, logger);
      this.nodes = new Reflector(client, { path: '/api/v1/nodes', name: 'nodes', project: labelsOf }, logger);
      const ledger = new QuotaLedger((namespace, logicalCluster) => this.tenantOfNamespace(namespace, logicalCluster), quotaOptions.reservationTtlMs);
      this.ledger = ledger;
      this.pods = new Reflector(client, { path: '/api/v1/pods', name: 'pods', project: observedPod, onChange: (key, before, after) => ledger.observe(key, before, after) }, logger);
      this.claims = new Reflector(
        client,
        { path: RESOURCE_CLAIMS, name: 'resourceclaims', project: observedClaim, notFoundRecheckMs: CLAIMS_RECHECK_MS, onChange: (key, _before, after) => ledger.observeClaim(key, after) },
        logger,
      );
      this.ingresses = new IngressInventory({ client, logger });
    }
  }

  /** The cluster's identity now: each request reads it afresh, so a change applies to the next one. */
  get cluster(): ClusterIdentity {
    return (this.identityWatch?.identity ?? this.configIdentity).identity;
  }

  /**
   * Starts following the cluster's identity sources and the informers; resolves once each identity
   * source has been read or has failed once. Sources that could not be read (the API server not up yet)
   * are retried with backoff, and every source is watched: a change applies without a restart.
   */
  async start(): Promise<void> {
    if (!this.client) return;
    const identity = this.identityWatch?.start();
    for (const reflector of this.reflectors()) reflector.start();
    this.claims?.start();
    this.ingresses?.informer?.start();
    await identity;
  }

  stop(): void {
    this.identityWatch?.stop();
    for (const reflector of this.reflectors()) reflector.stop();
    this.claims?.stop();
    this.ingresses?.informer?.stop();
  }

  /** Ready once every cache has listed its kind at least once. */
  get ready(): boolean {
    return this.reflectors().every((reflector) => reflector.synced);
  }

  get notReadyReason(): string | undefined {
    const waiting = this.reflectors().filter((r) => !r.synced);
    return waiting.length === 0 ? undefined : `waiting for the ${waiting.map((r) => r.lastError ? `${r.name} cache (${r.lastError})` : `${r.name} cache`).join(', ')} to sync`;
  }

  async waitUntilReady(): Promise<void> {
    await Promise.all(this.reflectors().map((r) => r.waitForSync()));
  }

  status(): FleetStatus {
    const caches: FleetStatus['caches'] = {};
    for (const reflector of [...this.reflectors(), ...(this.claims ? [this.claims] : []), ...(this.ingresses?.informer ? [this.ingresses.informer] : [])]) {
      caches[reflector.name] = { synced: reflector.synced, objects: reflector.size, ...(reflector.lastError ? { lastError: reflector.lastError } : {}) };
    }
    return { connected: this.client !== undefined, identity: this.identityWatch?.status() ?? this.configIdentity, caches };
  }

  private reflectors(): Informer[] {
    const all: (Informer | undefined)[] = [this.namespaces, this.storageClasses, this.nodes, this.pods];
    return all.filter((r): r is Informer => r !== undefined);
  }

  /** Everything Canopy knows about the request's surroundings. Never throws. */
  async factsFor(request: AdmissionRequest): Promise<RequestFacts> {
    const facts: RequestFacts = { cluster: this.cluster };
    const problems: string[] = [];
    if (request.namespace && !(request.kind.group === '' && request.kind.kind === 'Namespace')) {
      const labels = await this.namespaceLabels(request.namespace);
      if (typeof labels === 'string') problems.push(labels);
      else facts.namespaceLabels = labels;
    }
    const workspace = await this.workspaceOf(request);
    if (typeof workspace === 'string') problems.push(workspace);
    else if (workspace) facts.workspace = workspace;
    if (this.storageClasses) {
      const classes = this.storageClasses;
      facts.storageClass = (name) => classes.get(name);
      facts.defaultStorageClass = () => [...classes.values()].find((c) => c.isDefault);
    }
    if (this.nodes) {
      const nodes = this.nodes;
      facts.nodeLabels = (name) => nodes.get(name);
      facts.nodeCount = nodes.size;
    }
    if (this.ledger) facts.quotaLedger = this.ledger;
    if (this.ingresses) facts.inventory = this.ingresses;
    if (request.subResource === 'scale' && request.operation === 'UPDATE') facts.scaleTemplate = await this.scaleTemplate(request);
    if (problems.length > 0) facts.unavailable = `${problems.join('; ')}, so Canopy fails closed`;
    return facts;
  }

  /** A pod's tenant, as quotas count it: its namespace's tenant label, else its kcp workspace. */
  private tenantOfNamespace(namespace: string, logicalCluster: string): string | undefined {
    const discovered = logicalCluster ? this.workspacePaths.get(logicalCluster) : undefined;
    const workspace = logicalCluster ? (own(this.config.kcp?.logicalClusters, logicalCluster) ?? (typeof discovered === 'object' ? discovered.path : undefined)) : undefined;
    return tenantOf(this.namespaces?.get(namespace), workspace);
  }

  /** What one replica of a scaled object asks for: its pod template, read from the API server. */
  private async scaleTemplate(request: AdmissionRequest): Promise<ScaleTemplate | undefined> {
    if (!this.client) return undefined;
    const { group, version, resource } = request.resource;
    const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
    const path = `${base}/namespaces/${encodeURIComponent(request.namespace)}/${resource}/${encodeURIComponent(request.name)}`;
    try {
      const object = await this.client.getJson<Record<string, unknown>>(path, this.config.kubernetes?.namespaceLookupTimeoutMs ?? DEFAULT_NAMESPACE_LOOKUP_MS);
      const spec = asRecord(asRecord(asRecord(object['spec'])['template'])['spec']);
      return { perReplica: podUsage(spec) };
    } catch (error) {
      return { error: `the pod template of ${resource}/${request.name} could not be read (${messageOf(error)})` };
    }
  }

  /** Labels from the cache; a namespace not there yet is fetched once, with a deadline. */
  private async namespaceLabels(name: string): Promise<Labels | string | undefined> {
    const reflector = this.namespaces;
    if (!reflector || !this.client) return undefined;
    const cached = reflector.get(name);
    if (cached) {
      this.onLookup('namespace', 'hit');
      return cached;
    }
    let pending = this.pendingNamespaces.get(name);
    if (!pending) {
      const timeout = this.config.kubernetes?.namespaceLookupTimeoutMs ?? DEFAULT_NAMESPACE_LOOKUP_MS;
      pending = this.client
        .getJson<Record<string, unknown>>(`/api/v1/namespaces/${encodeURIComponent(name)}`, timeout)
        .then((object) => {
          const labels = labelsOf(object);
          reflector.remember(name, labels);
          this.onLookup('namespace', 'miss');
          return labels;
        })
        .catch((error: unknown) => {
          // A namespace that does not exist has no labels; the API server refuses the object anyway.
          if (error instanceof KubeApiError && error.statusCode === 404) {
            this.onLookup('namespace', 'miss');
            return {};
          }
          this.onLookup('namespace', 'error');
          return `the labels of namespace ${name} could not be read (${messageOf(error)})`;
        })
        .finally(() => this.pendingNamespaces.delete(name));
      this.pendingNamespaces.set(name, pending);
    }
    return pending;
  }

  /** The request's kcp workspace, from the object's logical cluster annotation. */
  private async workspaceOf(request: AdmissionRequest): Promise<WorkspaceInfo | string | undefined> {
    const kcp = this.config.kcp;
    if (!kcp) return undefined;
    const object = judgedObject(request);
    const logicalCluster = asString(asRecord(asRecord(asRecord(object)['metadata'])['annotations'])[LOGICAL_CLUSTER_ANNOTATION]);
    if (!logicalCluster) return undefined;
    const resolved = own(kcp.logicalClusters, logicalCluster) ?? (await this.discoverWorkspace(logicalCluster));
    if (resolved === undefined) return `the workspace of logical cluster ${logicalCluster} is unknown (not in kcp.logicalClusters${kcp.discover ? ', and discovery found nothing' : ''})`;
    if (typeof resolved === 'object' && 'problem' in resolved) return resolved.problem;
    const path = typeof resolved === 'string' ? resolved : resolved.path;
    const labels: Record<string, Labels> = { ...kcp.workspaces };
    if (typeof resolved === 'object') labels[path] = { ...resolved.labels, ...own(kcp.workspaces, path) };
    return { path, logicalCluster, labels };
  }

  /** kcp's LogicalCluster object names its workspace path in the kcp.io/path annotation. */
  private async discoverWorkspace(logicalCluster: string): Promise<{ path: string; labels: Labels } | { problem: string } | undefined> {
    if (!this.config.kcp?.discover || !this.client) return undefined;
    const cached = this.workspacePaths.get(logicalCluster);
    if (typeof cached === 'object' || (typeof cached === 'number' && cached > Date.now())) {
      this.onLookup('workspace', 'hit');
      return typeof cached === 'object' ? cached : undefined;
    }
    try {
      const object = await this.client.getJson<Record<string, unknown>>(
        `/clusters/${encodeURIComponent(logicalCluster)}/apis/core.kcp.io/v1alpha1/logicalclusters/cluster`,
        this.config.kubernetes?.namespaceLookupTimeoutMs ?? DEFAULT_NAMESPACE_LOOKUP_MS,
      );
      const path = asString(asRecord(asRecord(object['metadata'])['annotations'])[KCP_PATH_ANNOTATION]);
      if (!path) return { problem: `logical cluster ${logicalCluster} has no ${KCP_PATH_ANNOTATION} annotation` };
      const found = { path, labels: labelsOf(object) };
      this.workspacePaths.set(logicalCluster, found);
      this.onLookup('workspace', 'miss');
      return found;
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 404) {
        this.onLookup('workspace', 'miss');
        if (this.workspacePaths.size >= 10_000) this.workspacePaths.delete(this.workspacePaths.keys().next().value ?? '');
        this.workspacePaths.set(logicalCluster, Date.now() + 60_000);
        return undefined;
      }
      this.onLookup('workspace', 'error');
      return { problem: `the workspace of logical cluster ${logicalCluster} could not be discovered (${messageOf(error)})` };
    }
  }
}
