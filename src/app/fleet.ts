// The cluster's API client and the fleet context: connected when a kubeconfig is given, configured, or Canopy runs in a pod.
import type { CanopyConfig } from '../operations/config/index.js';
import type { Logger } from '../operations/decision-log/index.js';
import type { CanopyMetrics } from '../operations/metrics/index.js';
import { describeIdentity, FleetContext } from '../facts/fleet/index.js';
import { KubeClient, loadKubeConfig } from '../sources/kube/index.js';

/**
 * The cluster's API client, when anything needs one: the fleet context (a kubeconfig is configured, or
 * Canopy runs in a pod) or the TLS bootstrap. One kubeconfig read, one connection pool for both.
 */
export function clusterClient(config: CanopyConfig): { client: KubeClient | undefined; fleetConnects: boolean } {
  const kubernetes = config.fleet.kubernetes;
  const fleetConnects = kubernetes !== undefined || process.env['KUBERNETES_SERVICE_HOST'] !== undefined;
  if (!fleetConnects && !config.tls.bootstrap.enabled) return { client: undefined, fleetConnects };
  const connection = { ...(kubernetes?.kubeconfig ? { kubeconfig: kubernetes.kubeconfig } : {}), ...(kubernetes?.context ? { context: kubernetes.context } : {}) };
  return { client: new KubeClient(loadKubeConfig(connection)), fleetConnects };
}

/** The fleet context, reading the cluster through `client` (none: not connected, the configured identity only). */
export async function fleetContext(config: CanopyConfig, logger: Logger, metrics: CanopyMetrics, client: KubeClient | undefined): Promise<FleetContext> {
  const fleet = new FleetContext(config.fleet, logger, client, metrics.lookup);
  await fleet.start();
  return fleet;
}

/** `cluster de-1 (from config): jurisdiction DE (from ClusterProperty), ...; reading ...; watching ... for identity changes`. */
export function describeCluster(fleet: FleetContext): string {
  const status = fleet.status();
  const connection = status.connected ? 'reading namespaces, nodes and storage classes from the API server' : 'not connected to a cluster';
  const watched = Object.keys(status.identity.watching ?? {});
  return `${describeIdentity(status.identity)}; ${connection}${watched.length > 0 ? `; watching ${watched.join(' and ')} for identity changes` : ''}`;
}
