// What an audit reads: manifest files (multi-document YAML and JSON, recursively, `List`s expanded),
// and clusters, listed page by page so that a large cluster streams rather than loads.
import { readFile, stat } from 'node:fs/promises';
import { findFiles } from '../../sources/files/find-files.js';
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from '../../sources/kube/index.js';
import { listPath, type KindInfo } from './kinds.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import { messageOf } from '../../operations/errors/index.js';

export type Json = Record<string, unknown>;

export interface AuditItem {
  cluster: string;
  /** A file (and document) or a cluster path. */
  source: string;
  object: Json;
  /** The resource's plural, when the object was listed from a cluster. */
  resource?: string;
  /** Whether its kind is cluster-scoped, when the object was listed from a cluster. */
  clusterScoped?: boolean;
}


async function manifestFiles(root: string): Promise<string[]> {
  if (!(await stat(root)).isDirectory()) return [root];
  return findFiles(root, (name) => /\.(ya?ml|json)$/.test(name));
}

/** Objects of a manifest tree; unreadable documents are reported through `problem`, not thrown. */
export async function* manifestItems(root: string, cluster: string, problem: (message: string) => void): AsyncGenerator<AuditItem> {
  for (const file of await manifestFiles(root)) {
    const documents = parseAllDocuments(await readFile(file, 'utf8'));
    for (const [index, document] of (Array.isArray(documents) ? documents : [documents]).entries()) {
      if (document.errors.length > 0) {
        problem(`${file} document ${index + 1}: ${document.errors[0]?.message.split('\n')[0]}`);
        continue;
      }
      const value: unknown = document.toJS();
      const objects = isRecord(value) && typeof value['kind'] === 'string' && value['kind'].endsWith('List') && Array.isArray(value['items']) ? value['items'] : [value];
      for (const object of objects) {
        if (value === null || value === undefined) continue;
        if (!isRecord(object) || typeof object['kind'] !== 'string' || typeof object['apiVersion'] !== 'string') {
          problem(`${file} document ${index + 1}: not a Kubernetes object (no apiVersion and kind)`);
          continue;
        }
        yield { cluster, source: `${file}#${index + 1}`, object };
      }
    }
  }
}

/** Objects of a cluster, kind by kind, page by page. A kind that cannot be listed is reported and skipped. */
export async function* clusterItems(client: KubeClient, cluster: string, kinds: readonly KindInfo[], problem: (message: string) => void): AsyncGenerator<AuditItem> {
  for (const kind of kinds) {
    try {
      for await (const page of client.pages<Json>(listPath(kind))) {
        for (const object of page) {
          const apiVersion = kind.group ? `${kind.group}/${kind.version}` : kind.version;
          yield { cluster, source: `${cluster}:${kind.resource}`, resource: kind.resource, clusterScoped: !kind.namespaced, object: { apiVersion, kind: kind.kind, ...object } };
        }
      }
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) continue; // the kind is not served in this cluster
      problem(`cluster ${cluster}: listing ${kind.resource}: ${messageOf(error)}`);
    }
  }
}
