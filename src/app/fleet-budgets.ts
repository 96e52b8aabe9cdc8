// Fleet-wide budgets, when a fleet store is configured: this cluster's shares of the FleetBudgets there,
// for the tenants the active policy set names (budgets.yaml `fleet`), counted with the cluster's ledger.
import type { CanopyConfig } from '../operations/config/index.js';
import type { Logger } from '../operations/decision-log/index.js';
import type { FleetContext } from '../facts/fleet/index.js';
import { FleetBudgetLeases } from '../facts/fleet-budgets/index.js';
import { tenantUsage, type FleetShares } from '../facts/quota/index.js';
import type { AdmissionPipeline, PipelineOptions } from '../pipeline/index.js';
import { KubeApiError, KubeClient, loadKubeConfig } from '../sources/kube/index.js';
import { NO_AMOUNTS } from '../kubernetes/objects/fleet-budget.js';

export interface FleetBudgets {
  leases: FleetBudgetLeases;
  /** The fleet store's client, to close when Canopy stops. */
  client: KubeClient;
  summary: string;
}

export function fleetBudgets(config: CanopyConfig, fleet: FleetContext, pipeline: () => AdmissionPipeline | undefined, logger: Logger): FleetBudgets | undefined {
  const settings = config.fleetBudgets;
  if (!settings) return undefined;
  // inCluster: the service account of the pod (loadKubeConfig's choice without a kubeconfig, in a pod);
  // outside one it would quietly take the default kubeconfig instead.
  if (settings.inCluster && process.env['KUBERNETES_SERVICE_HOST'] === undefined) {
    throw new KubeApiError('fleetBudgets.inCluster (--fleet-in-cluster): Canopy is not running in a pod (no KUBERNETES_SERVICE_HOST), so it has no service account to reach the fleet store with; give fleetBudgets.kubeconfig (--fleet-kubeconfig)');
  }
  const client = new KubeClient(loadKubeConfig({ ...(settings.kubeconfig ? { kubeconfig: settings.kubeconfig } : {}), ...(settings.context ? { context: settings.context } : {}) }));
  const leases = new FleetBudgetLeases({
    client,
    namespace: settings.namespace,
    identity: () => fleet.cluster,
    leaseMs: settings.leaseSeconds * 1000,
    timeoutMs: settings.timeoutMs,
    tenants: () => new Map(Object.entries(pipeline()?.policySet?.quota.fleet ?? {})),
    usage: (tenant) => {
      const quota = pipeline()?.policySet?.quota;
      return quota ? tenantUsage(quota, fleet.ledger, tenant) : { ...NO_AMOUNTS };
    },
    lock: (tenant, task) => {
      const current = pipeline();
      return current ? current.withTenantLock(tenant, task) : task();
    },
    onProblem: (message) => logger.warn({ reason: message }, 'fleet budgets'),
  });
  const name = fleet.cluster.name;
  const summary =
    `fleet budgets: shares of the FleetBudgets in ${settings.namespace} at ${client.server}, as cluster ${name}, held ${settings.leaseSeconds} s and renewed every third of it` +
    (name === 'local' ? ' (this cluster has no name of its own: give cluster.name, or every cluster named local shares one ledger entry)' : '');
  return { leases, client, summary };
}

/** The request's facts with this cluster's fleet shares. */
export function withFleetShares(facts: NonNullable<PipelineOptions['facts']>, shares: FleetShares): NonNullable<PipelineOptions['facts']> {
  return async (request, set) => ({ ...(await facts(request, set)), fleetShares: shares });
}
