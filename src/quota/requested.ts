// What a request would add to its tenant's usage: a Pod's requests; a pod template's requests times its
// replicas; on UPDATE (and through the scale subresource) only the increase.
import type { AdmissionRequest } from '../admission/index.js';
import { asArray, asRecord } from '../kubernetes/json.js';
import { podSpecOf, podSpecPath } from '../kubernetes/workload.js';
import { increase, podUsage, QuantityError, times, ZERO, type Usage } from './usage.js';

/** For a scale request: what one replica of the scaled object asks for, or why it is unknown. */
export type ScaleTemplate = { perReplica: Usage } | { error: string };

export interface RequestedInputs {
  /** Nodes in the cluster: a DaemonSet runs one pod on each. */
  nodeCount?: number;
  scaleTemplate?: ScaleTemplate;
}

/**
 * How a request's new pods can be recognised when the informer reports them. An increase through an
 * UPDATE names no pods (a rollout replaces pods as well as adding them): it is held until its TTL, so
 * it may be counted twice for a while but never too little.
 */
export interface Claim {
  /** An exact pod name, or the pattern of the names the controller gives its pods. */
  name?: string;
  pattern?: string;
  replicas: bigint;
  perReplica: Usage;
}

export interface Requested {
  usage: Usage;
  claim?: Claim;
}

const NONE: Requested = { usage: ZERO };

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The names a controller gives the pods of an object: a Deployment's are name-<hash>-<5>, a
 * StatefulSet's name-<ordinal>, a CronJob's name-<time>-<5>, the others' name-<5>. Exact enough that
 * "web" does not claim the pods of "web-api".
 */
function podNamePattern(kind: string, name: string): string {
  const base = `^${escape(name)}-`;
  if (kind === 'Deployment') return `${base}[a-z0-9]{1,10}-[a-z0-9]{5}$`;
  if (kind === 'StatefulSet') return `${base}\\d+$`;
  if (kind === 'CronJob') return `${base}\\d+-[a-z0-9]{5}$`;
  return `${base}[a-z0-9]{5}$`;
}

function hasController(object: unknown): boolean {
  return asArray(asRecord(asRecord(object)['metadata'])['ownerReferences']).some((ref) => asRecord(ref)['controller'] === true);
}

/**
 * Kubernetes' own controllers: the controller manager and the service accounts it runs controllers
 * as in kube-system. Only what they create on behalf of an owner is exempt: anyone can write an
 * ownerReference into their own object.
 */
function byController(request: AdmissionRequest): boolean {
  const user = request.userInfo.username;
  return user === 'system:kube-controller-manager' || user.startsWith('system:serviceaccount:kube-system:');
}

function wholeNumber(value: unknown, what: string, fallback: bigint): bigint {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new QuantityError(`${what} ${JSON.stringify(value)} is not a whole number`);
  return BigInt(value);
}

function replicasOf(group: string, kind: string, object: unknown, inputs: RequestedInputs): bigint {
  const spec = asRecord(asRecord(object)['spec']);
  if (kind === 'Pod') return 1n;
  if (kind === 'DaemonSet') return BigInt(inputs.nodeCount ?? 1);
  if (group === 'batch' && kind === 'Job') return wholeNumber(spec['parallelism'], 'spec.parallelism', 1n);
  if (group === 'batch' && kind === 'CronJob') return wholeNumber(asRecord(asRecord(spec['jobTemplate'])['spec'])['parallelism'], 'spec.jobTemplate.spec.parallelism', 1n);
  return wholeNumber(spec['replicas'], 'spec.replicas', 1n);
}

function perReplica(group: string, kind: string, object: unknown): Usage {
  return podUsage(podSpecOf(group, kind, object));
}

/** Throws QuantityError when a quantity, a replica count or a scaled template cannot be read. */
export function requestedBy(request: AdmissionRequest, inputs: RequestedInputs = {}): Requested {
  const { group, kind } = request.kind;
  const update = request.operation === 'UPDATE';
  if (request.operation !== 'CREATE' && !update) return NONE;
  const name = request.name || String(asRecord(asRecord(request.object)['metadata'])['name'] ?? '');
  const generateName = String(asRecord(asRecord(request.object)['metadata'])['generateName'] ?? '');

  if (request.subResource === 'scale' && update) {
    const template = inputs.scaleTemplate;
    if (!template) return NONE;
    if ('error' in template) throw new QuantityError(template.error);
    const replicas = (object: unknown) => wholeNumber(asRecord(asRecord(object)['spec'])['replicas'], 'spec.replicas', 0n);
    const added = replicas(request.object) - replicas(request.oldObject);
    if (added <= 0n) return NONE;
    const usage = times(template.perReplica, added);
    return { usage, claim: { replicas: 1n, perReplica: usage } };
  }
  if (request.subResource === 'resize' && update && kind === 'Pod' && group === '') {
    // In-place resize (Kubernetes 1.33+): what the pod asks for beyond what it had.
    const added = increase(perReplica(group, kind, request.object), perReplica(group, kind, request.oldObject));
    return { usage: added, claim: { replicas: 1n, perReplica: added } };
  }
  if (request.subResource !== '' || !podSpecPath(group, kind)) return NONE;
  // A Pod made by a ReplicaSet, a Job made by a CronJob: their owner was judged for them.
  if (hasController(request.object) && byController(request)) return NONE;
  if (kind === 'Pod' && group === '') {
    if (update) return NONE; // a running Pod's requests only grow through the resize subresource
    const usage = perReplica(group, kind, request.object);
    return { usage, claim: { ...(name ? { name } : { pattern: `^${escape(generateName)}[a-z0-9]{5}$` }), replicas: 1n, perReplica: usage } };
  }
  const each = perReplica(group, kind, request.object);
  const count = replicasOf(group, kind, request.object, inputs);
  const total = times(each, count);
  if (!update) return { usage: total, claim: { pattern: podNamePattern(kind, name), replicas: count, perReplica: each } };
  const before = times(perReplica(group, kind, request.oldObject), replicasOf(group, kind, request.oldObject, inputs));
  const added = increase(total, before);
  return { usage: added, claim: { replicas: 1n, perReplica: added } };
}
