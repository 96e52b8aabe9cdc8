// What a request would add to its tenant's usage: a Pod's requests; a pod template's requests times its
// replicas; on UPDATE (and through the scale subresource) only the increase.
import type { AdmissionRequest } from '../admission/index.js';
import { asArray, asRecord, podSpecPath } from '../translate/index.js';
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
  /** An exact pod name, or a prefix the controller's pods start with. */
  name?: string;
  prefix?: string;
  replicas: bigint;
  perReplica: Usage;
}

export interface Requested {
  usage: Usage;
  claim?: Claim;
}

const NONE: Requested = { usage: ZERO };

function hasController(object: unknown): boolean {
  return asArray(asRecord(asRecord(object)['metadata'])['ownerReferences']).some((ref) => asRecord(ref)['controller'] === true);
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
  let spec: unknown = object;
  for (const key of podSpecPath(group, kind) ?? []) spec = asRecord(spec)[key];
  return podUsage(asRecord(spec));
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
  if (request.subResource !== '' || !podSpecPath(group, kind)) return NONE;
  // A Pod made by a ReplicaSet, a Job made by a CronJob: their owner was judged for them.
  if (hasController(request.object)) return NONE;
  if (kind === 'Pod' && group === '') {
    if (update) return NONE; // a running Pod's requests cannot grow
    const usage = perReplica(group, kind, request.object);
    return { usage, claim: { ...(name ? { name } : { prefix: generateName }), replicas: 1n, perReplica: usage } };
  }
  const each = perReplica(group, kind, request.object);
  const count = replicasOf(group, kind, request.object, inputs);
  const total = times(each, count);
  if (!update) return { usage: total, claim: { prefix: `${name}-`, replicas: count, perReplica: each } };
  const before = times(perReplica(group, kind, request.oldObject), replicasOf(group, kind, request.oldObject, inputs));
  const added = increase(total, before);
  return { usage: added, claim: { replicas: 1n, perReplica: added } };
}
