// What `canopy budgets` reads: every FleetBudget of one namespace of the fleet store (a Kubernetes API
// server), listed page by page. A FleetBudget that cannot be read is kept as such, with its name and the
// reason, and the others are still read; a store that cannot be reached or used is a BudgetsError.
import { KubeApiError, KubeClient, loadKubeConfig, type KubeConnection } from '../../sources/kube/index.js';
import {
  FLEET_BUDGET_GROUP,
  FLEET_BUDGET_PLURAL,
  FLEET_BUDGET_VERSION,
  FleetBudgetError,
  readFleetBudget,
  type FleetBudget,
} from '../../kubernetes/objects/fleet-budget.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import { CanopyError, messageOf } from '../../operations/errors/index.js';

/** The fleet store cannot be used: nothing is reported. */
export class BudgetsError extends CanopyError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('budgets', message, options);
  }
}

export interface BudgetsSource {
  /** The kubeconfig of the fleet store (default: in-cluster, else the default kubeconfig, as loadKubeConfig does). */
  kubeconfig?: string;
  context?: string;
  namespace: string;
  /** Only the FleetBudgets of these tenants (none given: every one). */
  tenants?: readonly string[];
}

/** A FleetBudget that could not be read: it grants nothing, and is reported. */
export interface UnreadableBudget {
  name: string;
  namespace: string;
  reason: string;
}

export interface FleetBudgets {
  /** The fleet store's address, as the kubeconfig gives it. */
  server: string;
  namespace: string;
  budgets: FleetBudget[];
  unreadable: UnreadableBudget[];
  /** Tenants asked for with --tenant that no FleetBudget (readable or not) is for. */
  tenantsNotFound: string[];
}

/** The collection of FleetBudgets in a namespace. */
export const fleetBudgetsPath = (namespace: string): string =>
  `/apis/${FLEET_BUDGET_GROUP}/${FLEET_BUDGET_VERSION}/namespaces/${encodeURIComponent(namespace)}/${FLEET_BUDGET_PLURAL}`;

/** The tenant an object is for, as readFleetBudget decides it (spec.tenant, else the object's name), even when it cannot be read. */
function tenantOf(object: unknown): string {
  const metadata = isRecord(object) && isRecord(object['metadata']) ? object['metadata'] : {};
  const spec = isRecord(object) && isRecord(object['spec']) ? object['spec'] : {};
  if (typeof spec['tenant'] === 'string' && spec['tenant'] !== '') return spec['tenant'];
  return typeof metadata['name'] === 'string' ? metadata['name'] : '';
}

function unreadable(object: unknown, namespace: string, error: FleetBudgetError): UnreadableBudget {
  const metadata = isRecord(object) && isRecord(object['metadata']) ? object['metadata'] : {};
  const name = typeof metadata['name'] === 'string' && metadata['name'] !== '' ? metadata['name'] : '(unnamed)';
  // readFleetBudget's message starts with "FleetBudget NAME: ", which the report says itself.
  const prefix = `FleetBudget ${name}: `;
  const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return { name, namespace: typeof metadata['namespace'] === 'string' ? metadata['namespace'] : namespace, reason };
}

/** The client of the fleet store; an unusable kubeconfig, or a context it does not have, is a BudgetsError. */
function storeClient(source: BudgetsSource): KubeClient {
  const connection: KubeConnection = { ...(source.kubeconfig ? { kubeconfig: source.kubeconfig } : {}), ...(source.context ? { context: source.context } : {}) };
  const which = source.kubeconfig ? `the kubeconfig ${source.kubeconfig}` : 'the kubeconfig';
  try {
    return new KubeClient(loadKubeConfig(connection));
  } catch (error) {
    if (!(error instanceof KubeApiError)) throw error;
    if (source.context) {
      // client-node accepts any context name, then finds no cluster: say which contexts there are.
      let names: string[] | undefined;
      try {
        names = loadKubeConfig(source.kubeconfig ? { kubeconfig: source.kubeconfig } : {}).getContexts().map((context) => context.name);
      } catch {
        // the kubeconfig itself cannot be loaded: its own error says so
      }
      if (names && !names.includes(source.context)) {
        throw new BudgetsError(`${which} has no context ${source.context}; ${names.length > 0 ? `its contexts: ${names.join(', ')}` : 'it has no contexts'}`);
      }
    }
    throw new BudgetsError(`cannot use ${which} for the fleet store: ${messageOf(error)}`, { cause: error });
  }
}

/** The failure of a LIST, in the user's terms: which store, and what to do about it. */
function listFailure(server: string, namespace: string, error: KubeApiError): BudgetsError {
  const status = error.statusCode;
  if (status === 404) {
    return new BudgetsError(
      `the fleet store ${server} does not serve ${FLEET_BUDGET_PLURAL}.${FLEET_BUDGET_GROUP}/${FLEET_BUDGET_VERSION} (is the FleetBudget CRD installed?): ${error.message}`,
      { cause: error },
    );
  }
  if (status !== undefined) return new BudgetsError(`the fleet store ${server} refused to list the FleetBudgets of namespace ${namespace}: ${error.message}`, { cause: error });
  return new BudgetsError(`cannot reach the fleet store ${server}: ${error.message}`, { cause: error });
}

/** Every FleetBudget of the namespace (of the tenants asked for), the readable ones parsed. */
export async function readFleetBudgets(source: BudgetsSource): Promise<FleetBudgets> {
  const client = storeClient(source);
  const server = client.server;
  let items: unknown[];
  try {
    items = (await client.list<unknown>(fleetBudgetsPath(source.namespace))).items;
  } catch (error) {
    if (!(error instanceof KubeApiError)) throw error;
    throw listFailure(server, source.namespace, error);
  } finally {
    await client.close();
  }
  const wanted = source.tenants && source.tenants.length > 0 ? new Set(source.tenants) : undefined;
  const found = new Set<string>();
  const budgets: FleetBudget[] = [];
  const unread: UnreadableBudget[] = [];
  for (const object of items) {
    const tenant = tenantOf(object);
    if (wanted && !wanted.has(tenant)) continue;
    found.add(tenant);
    try {
      budgets.push(readFleetBudget(object));
    } catch (error) {
      if (!(error instanceof FleetBudgetError)) throw error;
      unread.push(unreadable(object, source.namespace, error));
    }
  }
  return {
    server,
    namespace: source.namespace,
    budgets,
    unreadable: unread.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    tenantsNotFound: wanted ? [...wanted].filter((tenant) => !found.has(tenant)) : [],
  };
}
