// Ingresses: the hosts and paths an Ingress routes, for the CEL variable `inventory.ingresses` (an
// Ingress compared with the cluster's others) and the index that finds those others by host.
import { asArray, asRecord } from './json.js';

export const isIngress = (group: string, kind: string): boolean => group === 'networking.k8s.io' && kind === 'Ingress';

/** The hosts an Ingress answers for: each rule's host, `""` for a rule without one. */
export function ingressHosts(spec: unknown): string[] {
  return asArray(asRecord(spec)['rules']).map((rule) => {
    const host = asRecord(rule)['host'];
    return typeof host === 'string' ? host : '';
  });
}

/** What an Ingress routes: `host + path` of each of its rules' paths (`/` for a path without one). */
export function ingressHostPaths(spec: unknown): string[] {
  return asArray(asRecord(spec)['rules']).flatMap((rule) => {
    const host = asRecord(rule)['host'];
    return asArray(asRecord(asRecord(rule)['http'])['paths']).map((entry) => {
      const path = asRecord(entry)['path'];
      return `${typeof host === 'string' ? host : ''}${typeof path === 'string' && path ? path : '/'}`;
    });
  });
}
