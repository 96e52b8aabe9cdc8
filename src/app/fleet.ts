// The fleet context: connected to the cluster when a kubeconfig is given, configured, or Canopy runs in a pod.
import type { CanopyConfig } from '../operations/config/index.js';
import type { Logger } from '../operations/decision-log/index.js';
import type { CanopyMetrics } from '../operations/metrics/index.js';
import { describeIdentity, FleetContext } from '../facts/fleet/index.js';
import { KubeClient, loadKubeConfig } from '../sources/kube/index.js';

/** The fleet context, and its API client to close when Canopy stops (none when not connected). */
export async function fleetContext(config: CanopyConfig, logger: Logger, metrics: CanopyMetrics): Promise<{ fleet: FleetContext; client: KubeClient | undefined }> {
  const fleet = config.fleet;
  const kubeconfig = fleet.kubernetes?.kubeconfig;
  const connect = fleet.kubernetes !== undefined || process.env['KUBERNETES_SERVICE_HOST'] !== undefined;
  const context = fleet.kubernetes?.context;
  const client = connect
    ? new KubeClient(loadKubeConfig({ ...(kubeconfig ? { kubeconfig } : {}), ...(context ? { context } : {}) }))
    : undefined;
  const fleetContext = new FleetContext(fleet, logger, client, metrics.lookup);
  await fleetContext.start();
  return { fleet: fleetContext, client };
}

/** `cluster de-1 (from config): jurisdiction DE (from ClusterProperty), ...; reading ...; watching ... for identity changes`. */
export function describeCluster(fleet: FleetContext): string {
  const status = fleet.status();
  const connection = status.connected ? 'reading namespaces, nodes and storage classes from the API server' : 'not connected to a cluster';
  const watched = Object.keys(status.identity.watching ?? {});
  return `${describeIdentity(status.identity)}; ${connection}${watched.length > 0 ? `; watching ${watched.join(' and ')} for identity changes` : ''}`;
}
