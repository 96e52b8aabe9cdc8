// Workload facts: flat, precomputed sets a policy can judge without loops, for a Pod and for every kind
// that carries a pod template. Every container counts: init and ephemeral containers too.
import { asArray, asRecord, asString, type JsonRecord } from './json.js';

/** Kinds whose objects carry a pod spec, keyed by `group/kind`, with the path to that spec. */
const POD_SPEC_PATHS: Record<string, readonly string[]> = {
  '/Pod': ['spec'],
  '/ReplicationController': ['spec', 'template', 'spec'],
  'apps/Deployment': ['spec', 'template', 'spec'],
  'apps/StatefulSet': ['spec', 'template', 'spec'],
  'apps/DaemonSet': ['spec', 'template', 'spec'],
  'apps/ReplicaSet': ['spec', 'template', 'spec'],
  'batch/Job': ['spec', 'template', 'spec'],
  'batch/CronJob': ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

export const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

export interface WorkloadFacts {
  containers: string[];
  images: string[];
  privilegedContainers: string[];
  hostNetwork: boolean;
  hostPID: boolean;
  hostIPC: boolean;
  serviceAccountName: string;
}

export function isWorkloadKind(group: string, kind: string): boolean {
  return `${group}/${kind}` in POD_SPEC_PATHS;
}

/** Where the pod spec sits in an object of this kind (`["spec"]` for a Pod), or undefined for other kinds. */
export function podSpecPath(group: string, kind: string): readonly string[] | undefined {
  return POD_SPEC_PATHS[`${group}/${kind}`];
}

/** Where the pods' metadata sits: `["metadata"]` for a Pod, the pod template's metadata otherwise. */
export function podMetadataPath(group: string, kind: string): readonly string[] | undefined {
  const spec = podSpecPath(group, kind);
  return spec && [...spec.slice(0, -1), 'metadata'];
}

/** The pod spec inside a workload (the object itself for a kind without a known path). */
export function podSpecOf(group: string, kind: string, object: unknown): JsonRecord {
  let node: JsonRecord = asRecord(object);
  for (const key of podSpecPath(group, kind) ?? []) node = asRecord(node[key]);
  return node;
}

/** Facts of the pod spec inside `object`; an object without one gives empty facts, never an error. */
export function workloadFacts(group: string, kind: string, object: unknown): WorkloadFacts {
  const spec = podSpecOf(group, kind, object);
  const containers = new Set<string>();
  const images = new Set<string>();
  const privileged = new Set<string>();
  for (const list of CONTAINER_LISTS) {
    asArray(spec[list]).forEach((entry, index) => {
      // Only objects are containers; anything else in the list (null, a number) has nothing to judge.
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return;
      const container = asRecord(entry);
      const name = asString(container['name']) || `${list}[${index}]`;
      containers.add(name);
      const image = asString(container['image']);
      if (image) images.add(image);
      if (asRecord(container['securityContext'])['privileged'] === true) privileged.add(name);
    });
  }
  return {
    containers: [...containers],
    images: [...images],
    privilegedContainers: [...privileged],
    hostNetwork: spec['hostNetwork'] === true,
    hostPID: spec['hostPID'] === true,
    hostIPC: spec['hostIPC'] === true,
    serviceAccountName: asString(spec['serviceAccountName']) || asString(spec['serviceAccount']),
  };
}
