// A request's facts as they cross to a worker thread (by structured clone): plain data only. The
// look-ups the webhook's facts make through functions over its caches (storage classes, nodes) are made
// here, for what this request names, and given to the other thread as their answers.
import { judgedObject, type AdmissionRequest } from '../../kubernetes/admission/index.js';
import type { StorageClassInfo } from '../../kubernetes/objects/fleet.js';
import type { RequestFacts } from './facts.js';
import { bindingNodeOf, claimSpecsOf, isBinding } from './resource.js';

type Labels = Readonly<Record<string, string>>;

/**
 * Everything of RequestFacts but functions and live objects, with the answers of this request's
 * look-ups. Left out: the usage ledger and fleet shares (quota reads them only for a tenant with a
 * budget, and such requests are judged where the ledger is, see pipeline.ts) and the cluster inventory
 * (a set whose declared facts read it is judged there too).
 */
export interface PortableFacts extends Omit<RequestFacts, 'storageClass' | 'defaultStorageClass' | 'nodeLabels' | 'quotaLedger' | 'fleetShares' | 'inventory'> {
  /** The storage classes the request's claims name: null where the cluster has no such class. */
  storageClasses?: ReadonlyMap<string, StorageClassInfo | null>;
  /** The cluster's default storage class, when a claim names none: null where there is none. */
  defaultStorageClass?: StorageClassInfo | null;
  /** The labels of the node a Binding names: null where the cluster has no such node. */
  nodes?: ReadonlyMap<string, Labels | null>;
}

export function portableFacts(request: AdmissionRequest, facts: RequestFacts): PortableFacts {
  const { storageClass, defaultStorageClass, nodeLabels, quotaLedger: _ledger, fleetShares: _shares, inventory: _inventory, ...plain } = facts;
  const portable: { -readonly [K in keyof PortableFacts]: PortableFacts[K] } = { ...plain };
  // Most requests name neither a claim nor a node: the objects are looked at only when there are caches to ask.
  if (!storageClass && !defaultStorageClass && !nodeLabels) return portable;
  const objects = [judgedObject(request), ...(request.operation === 'UPDATE' ? [request.oldObject] : [])];
  if (storageClass || defaultStorageClass) {
    const classes = new Map<string, StorageClassInfo | null>();
    for (const spec of objects.flatMap((object) => claimSpecsOf(request, object))) {
      const named = spec['storageClassName'];
      if (typeof named === 'string') classes.set(named, storageClass?.(named) ?? null);
      else if (portable.defaultStorageClass === undefined) portable.defaultStorageClass = defaultStorageClass?.() ?? null;
    }
    portable.storageClasses = classes;
  }
  if (nodeLabels && isBinding(request)) {
    const nodes = new Map<string, Labels | null>();
    for (const object of objects) {
      const node = bindingNodeOf(object);
      if (node) nodes.set(node, nodeLabels(node) ?? null);
    }
    portable.nodes = nodes;
  }
  return portable;
}

/** The facts again, their look-ups answering what portableFacts found. */
export function revivedFacts(portable: PortableFacts): RequestFacts {
  const { storageClasses, defaultStorageClass, nodes, ...plain } = portable;
  return {
    ...plain,
    ...(storageClasses ? { storageClass: (name: string) => storageClasses.get(name) ?? undefined } : {}),
    ...(defaultStorageClass !== undefined ? { defaultStorageClass: () => defaultStorageClass ?? undefined } : {}),
    ...(nodes ? { nodeLabels: (name: string) => nodes.get(name) ?? undefined } : {}),
  };
}
