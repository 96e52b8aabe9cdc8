// The cluster's Ingresses, for the CEL variable `inventory.ingresses`: a rule like "one host and path
// belongs to one Ingress" needs to see the others. An informer keeps each Ingress's spec (status left
// out), indexed by host, so a request looks up only the Ingresses that share a host with it.
import type { Logger } from '../../operations/decision-log/index.js';
import { Reflector, type Informer, type KubeClient } from '../../sources/kube/index.js';
import type { ClusterInventory, IngressRecord } from '../declared/index.js';
import { asRecord, asString, ingressHostPaths, ingressHosts } from '../../kubernetes/objects/index.js';

const INGRESSES = '/apis/networking.k8s.io/v1/ingresses';

function ingressRecord(object: Record<string, unknown>): IngressRecord {
  const metadata = asRecord(object['metadata']);
  const spec = asRecord(object['spec']);
  return { metadata: { namespace: asString(metadata['namespace']), name: asString(metadata['name']) }, spec, hostPaths: ingressHostPaths(spec) };
}

/** Ingresses by host, from an informer; or from a fixed list (the manifests of an audit, a test case). */
export class IngressInventory implements ClusterInventory {
  private readonly byHost = new Map<string, Set<string>>();
  private readonly records = new Map<string, IngressRecord>();
  readonly informer?: Informer;

  constructor(source: { client: KubeClient; logger: Logger } | { objects: readonly Record<string, unknown>[] }) {
    if ('client' in source) {
      this.informer = new Reflector(source.client, { path: INGRESSES, name: 'ingresses', project: ingressRecord, onChange: (key, before, after) => this.index(key, before, after) }, source.logger);
    } else {
      for (const object of source.objects) {
        const record = ingressRecord(object);
        const key = `${record.metadata.namespace}/${record.metadata.name}`;
        this.index(key, this.records.get(key), record);
      }
    }
  }

  ingressesWithHosts(hosts: readonly string[]): readonly IngressRecord[] | string {
    if (this.informer && !this.informer.synced) {
      return `the cluster's Ingresses are not known yet (the ingresses cache has not synced${this.informer.lastError ? `: ${this.informer.lastError}` : ''})`;
    }
    const keys = new Set<string>();
    for (const host of hosts) for (const key of this.byHost.get(host) ?? []) keys.add(key);
    return [...keys].sort().flatMap((key) => {
      const record = this.records.get(key);
      return record ? [record] : [];
    });
  }

  private index(key: string, before: IngressRecord | undefined, after: IngressRecord | undefined): void {
    if (before) {
      for (const host of ingressHosts(before.spec)) {
        const keys = this.byHost.get(host);
        keys?.delete(key);
        if (keys?.size === 0) this.byHost.delete(host);
      }
      this.records.delete(key);
    }
    if (after) {
      this.records.set(key, after);
      for (const host of ingressHosts(after.spec)) {
        let keys = this.byHost.get(host);
        if (!keys) this.byHost.set(host, (keys = new Set()));
        keys.add(key);
      }
    }
  }
}
