// What a policy set knows of its declared facts, and what one request gets from them.
import type { CedarValueJson } from '../../policy/cedar/index.js';
import type { FactDeclaration } from './declarations.js';

/** The declared facts (policies/facts/*.yaml) of the object under admission, as Cedar values. */
export interface DeclaredFactValues {
  /** `resource.facts`: the facts this request needs that could be computed. */
  current: Record<string, CedarValueJson>;
  /** `resource.old.facts`, on UPDATE. */
  old?: Record<string, CedarValueJson>;
  /** Fact name → why it could not be computed; the policies that read it fail closed. */
  failures: Record<string, string>;
}

/** A policy set's declared facts: the declarations, and which policies read which of them. */
export interface DeclaredFacts {
  declarations: readonly FactDeclaration[];
  /** Policy (or mutation) id → the names of the facts it reads. */
  reads: Readonly<Record<string, readonly string[]>>;
  /**
   * Policy (or mutation) id → the facts it reads of another entity than the resource itself
   * (`resource.old.facts.NAME`), or 'all' when it uses such a facts record whole: only those are
   * computed for the object before an UPDATE. A policy absent here reads none.
   */
  oldReads: Readonly<Record<string, readonly string[] | 'all'>>;
}

/**
 * What Canopy knows of the cluster's other objects (informers when it runs against a cluster, the
 * other manifests in an audit), for the CEL variable `inventory`.
 */
export interface ClusterInventory {
  /**
   * The Ingresses that answer for one of `hosts` (`""` for a rule without a host), each with its
   * metadata's namespace and name and its spec; or why they cannot be known (a cache not synced yet).
   */
  ingressesWithHosts(hosts: readonly string[]): readonly IngressRecord[] | string;
}

export interface IngressRecord {
  metadata: { namespace: string; name: string };
  spec: Readonly<Record<string, unknown>>;
  /** `host + path` of each of its rules' paths (`/` for a path without one): what it routes. */
  hostPaths: readonly string[];
}
