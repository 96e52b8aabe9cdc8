// What a request would add to its tenant's usage, counted when its pods can start consuming: a Pod's
// effective requests; a pod template's times its replicas, at CREATE unless suspended and at the UPDATE
// that unsuspends it; on UPDATE (and through the scale subresource) only the increase; DRA device
// claims by what their device class counts as. A controller-made object adds nothing only while a
// reservation of its owner covers it: otherwise it is counted like any other.
import type { AdmissionRequest } from '../../kubernetes/admission/index.js';
import { asArray, asRecord, type JsonRecord } from '../../kubernetes/objects/json.js';
import { podSpecOf, podSpecPath } from '../../kubernetes/objects/workload.js';
import { increase, isZero, podUsage, QuantityError, times, ZERO, type Usage } from './usage.js';
import { KUBEVIRT_GROUP, virtualMachineUsage } from './virtual-machines.js';

/** For a scale request: what one replica of the scaled object asks for, or why it is unknown. */
export type ScaleTemplate = { perReplica: Usage } | { error: string };

export interface RequestedInputs {
  /** Nodes in the cluster: a DaemonSet runs one pod on each. */
  nodeCount?: number;
  scaleTemplate?: ScaleTemplate;
  /**
   * Whether a live reservation of an owner already counts the pod of this name in this namespace (a
   * ReplicaSet's pod while its Deployment's reservation is held). Absent: nothing is covered.
   */
  covered?: (podName: string) => boolean;
  /** DRA device classes and what a device of each counts as (`gpu.nvidia.com: gpus`). */
  deviceClasses?: Readonly<Record<string, DeviceCounts>>;
}

/** What one device of a DRA device class counts as against a budget. */
export type DeviceCounts = 'gpus';

/**
 * How a request's new pods can be recognised when the informer reports them. An increase through an
 * UPDATE names no pods (a rollout replaces pods as well as adding them): it is held until its TTL, so
 * it may be counted twice for a while but never too little.
 */
export interface Claim {
  /** An exact pod name, or the pattern of the names the controller gives its pods. */
  name?: string;
  pattern?: string;
  /**
   * Pods this reservation stands for without being used up by them (an UPDATE's increase): while it
   * is held, their controller-made pods are not counted a second time.
   */
  covers?: string;
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
  // An Indexed Job's pods are name-<index>-<5>.
  if (kind === 'CronJob') return `${base}\\d+-(\\d+-)?[a-z0-9]{5}$`;
  if (kind === 'Job') return `${base}(\\d+-)?[a-z0-9]{5}$`;
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
  return user === 'system:kube-controller-manager' || user.startsWith('system:serviceaccount:kube-system:') || user === KUBEVIRT_CONTROLLER;
}

/**
 * KubeVirt's controller, as its operator installs it (namespace kubevirt): it makes a VM's VMI and a
 * VMI's virt-launcher pod, which the VM's (or VMI's) reservation already counts.
 */
const KUBEVIRT_CONTROLLER = 'system:serviceaccount:kubevirt:kubevirt-controller';

/** The virt-launcher pods KubeVirt makes for a VMI: virt-launcher-<vmi>-<5>. */
const launcherPods = (vmi: string) => `^virt-launcher-${escape(vmi)}-[a-z0-9]{5}$`;

/**
 * A VirtualMachine (while it runs) or a VirtualMachineInstance, counted at CREATE, and a VM's UPDATE by
 * what it adds (starting a halted VM through its runStrategy, more memory). Its reservation is used
 * up by the virt-launcher pod and, while held, stands for the VM's VMI and that pod, which KubeVirt's
 * controller makes. A VMI's spec cannot change: its UPDATEs add nothing.
 */
function virtualMachineRequested(request: AdmissionRequest, name: string, covered: (name: string) => boolean): Requested {
  const { kind } = request.kind;
  const claim = (usage: Usage, covers?: string): Requested =>
    isZero(usage) ? NONE : { usage, claim: { pattern: launcherPods(name), replicas: 1n, perReplica: usage, ...(covers ? { covers } : {}) } };
  if (kind === 'VirtualMachineInstance') {
    if (request.operation === 'UPDATE') return NONE;
    if (hasController(request.object) && byController(request) && covered(name)) return NONE;
    return claim(virtualMachineUsage(kind, request.object));
  }
  const ownVmi = `^${escape(name)}$`;
  if (request.operation === 'CREATE') return claim(virtualMachineUsage(kind, request.object), ownVmi);
  const added = increase(virtualMachineUsage(kind, request.object), virtualMachineUsage(kind, request.oldObject));
  return claim(added, ownVmi);
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

/**
 * Whether an object's pods are held back: a suspended Job or CronJob makes none, and a CronJob whose
 * Jobs are created suspended makes none until they are unsuspended (each is counted then).
 */
function suspended(group: string, kind: string, object: unknown): boolean {
  if (group !== 'batch') return false;
  const spec = asRecord(asRecord(object)['spec']);
  if (kind === 'Job') return spec['suspend'] === true;
  if (kind === 'CronJob') return spec['suspend'] === true || asRecord(asRecord(spec['jobTemplate'])['spec'])['suspend'] === true;
  return false;
}

/** What an object's pods ask for while it runs: its template times its replicas (nothing while suspended). */
function running(group: string, kind: string, object: unknown, inputs: RequestedInputs): { each: Usage; count: bigint; total: Usage } {
  const each = perReplica(group, kind, object);
  const count = suspended(group, kind, object) ? 0n : replicasOf(group, kind, object, inputs);
  return { each, count, total: times(each, count) };
}

/** The kinds whose pods a scale request adds, by resource. */
const SCALED_KINDS: Record<string, string> = { deployments: 'Deployment', statefulsets: 'StatefulSet', replicasets: 'ReplicaSet', replicationcontrollers: 'ReplicationController' };

/** A pod's name at admission: its name, or for a generated name one it could be given. */
function candidatePodName(name: string, generateName: string): string {
  return name || `${generateName}xxxxx`;
}

const DRA_GROUP = 'resource.k8s.io';

/**
 * The devices a DRA ResourceClaim (or a ResourceClaimTemplate's claim spec) asks for, by device class,
 * for the classes `counted` accepts. Versions differ: v1beta1 puts deviceClassName/count on the
 * request, v1beta2 and v1 under `exactly`; `firstAvailable` alternatives count as the largest. A request
 * for All devices of a class is counted by what was allocated to it (`allocated`), and cannot be
 * counted before: it is then refused.
 */
export function claimDevices(
  spec: JsonRecord,
  where: string,
  counted: (deviceClass: string) => boolean,
  allocated?: (request: string) => bigint,
): Record<string, bigint> {
  const out: Record<string, bigint> = Object.create(null) as Record<string, bigint>;
  asArray(asRecord(spec['devices'])['requests']).forEach((entry, index) => {
    const request = asRecord(entry);
    const requestName = String(request['name'] ?? '');
    const at = `${where}.devices.requests[${index}] (${requestName || '?'})`;
    const alternatives = request['firstAvailable'] !== undefined ? asArray(request['firstAvailable']).map(asRecord) : [request['exactly'] !== undefined ? asRecord(request['exactly']) : request];
    const most: Record<string, bigint> = {};
    for (const alternative of alternatives) {
      const deviceClass = String(alternative['deviceClassName'] ?? '');
      if (!deviceClass || !counted(deviceClass)) continue;
      let n: bigint;
      if (alternative['allocationMode'] === 'All') {
        if (!allocated) throw new QuantityError(`${at}: allocationMode All of device class ${deviceClass} cannot be counted against a budget; ask for a count`);
        n = allocated(requestName);
      } else {
        const count = alternative['count'];
        if (count !== undefined && count !== null && (typeof count !== 'number' || !Number.isInteger(count) || count < 0)) throw new QuantityError(`${at}: count ${JSON.stringify(count)} is not a whole number`);
        n = typeof count === 'number' ? BigInt(count) : 1n;
      }
      if (n > (most[deviceClass] ?? 0n)) most[deviceClass] = n;
    }
    for (const [deviceClass, n] of Object.entries(most)) out[deviceClass] = (out[deviceClass] ?? 0n) + n;
  });
  return out;
}

function claimUsage(spec: JsonRecord, classes: Readonly<Record<string, DeviceCounts>>, where: string): Usage {
  const devices = claimDevices(spec, where, (deviceClass) => Object.hasOwn(classes, deviceClass));
  return { ...ZERO, gpus: Object.values(devices).reduce((sum, n) => sum + n, 0n) };
}

/** Throws QuantityError when a quantity, a replica count or a scaled template cannot be read. */
export function requestedBy(request: AdmissionRequest, inputs: RequestedInputs = {}): Requested {
  const { group, kind } = request.kind;
  const update = request.operation === 'UPDATE';
  if (request.operation !== 'CREATE' && !update) return NONE;
  const name = request.name || String(asRecord(asRecord(request.object)['metadata'])['name'] ?? '');
  const generateName = String(asRecord(asRecord(request.object)['metadata'])['generateName'] ?? '');
  const covered = (podName: string) => inputs.covered?.(podName) === true;

  if (request.subResource === 'scale' && update) {
    const template = inputs.scaleTemplate;
    if (!template) return NONE;
    if ('error' in template) throw new QuantityError(template.error);
    const replicas = (object: unknown) => wholeNumber(asRecord(asRecord(object)['spec'])['replicas'], 'spec.replicas', 0n);
    const added = replicas(request.object) - replicas(request.oldObject);
    if (added <= 0n) return NONE;
    const usage = times(template.perReplica, added);
    const scaled = SCALED_KINDS[request.resource.resource];
    return { usage, claim: { replicas: 1n, perReplica: usage, ...(scaled ? { covers: podNamePattern(scaled, request.name) } : {}) } };
  }
  if (request.subResource === 'resize' && update && kind === 'Pod' && group === '') {
    // In-place resize (Kubernetes 1.33+): what the pod asks for beyond what it had.
    const added = increase(perReplica(group, kind, request.object), perReplica(group, kind, request.oldObject));
    return { usage: added, claim: { replicas: 1n, perReplica: added } };
  }
  if (request.subResource === '' && group === DRA_GROUP && (kind === 'ResourceClaim' || kind === 'ResourceClaimTemplate')) {
    // Devices are held from allocation on and cannot grow (a claim's spec is immutable): counted at CREATE.
    if (update) return NONE;
    const template = kind === 'ResourceClaimTemplate';
    const spec = asRecord(asRecord(request.object)['spec']);
    const usage = claimUsage(template ? asRecord(spec['spec']) : spec, inputs.deviceClasses ?? {}, template ? 'spec.spec' : 'spec');
    return { usage, claim: { name: `${kind}/${name}`, replicas: 1n, perReplica: usage } };
  }
  if (request.subResource === '' && group === KUBEVIRT_GROUP && (kind === 'VirtualMachine' || kind === 'VirtualMachineInstance')) return virtualMachineRequested(request, name, covered);
  if (request.subResource !== '' || !podSpecPath(group, kind)) return NONE;
  const controllerMade = hasController(request.object) && byController(request);
  if (kind === 'Pod' && group === '') {
    if (update) return NONE; // a running Pod's requests only grow through the resize subresource
    // A controller's Pod (a ReplicaSet's, a Job's) is not counted again while its owner's reservation
    // stands for it; once that has lapsed it is counted when it is made, as ResourceQuota counts it.
    if (controllerMade && covered(candidatePodName(name, generateName))) return NONE;
    const usage = perReplica(group, kind, request.object);
    return { usage, claim: { ...(name ? { name } : { pattern: `^${escape(generateName)}[a-z0-9]{5}$` }), replicas: 1n, perReplica: usage } };
  }
  if (controllerMade) {
    // A CronJob's Job is one run: counted when it is made, unless the CronJob's reservation still
    // stands for its pods. Other controllers' objects (a Deployment's ReplicaSet) add nothing: their
    // pods are counted as they are made.
    if (!(group === 'batch' && kind === 'Job') || update) return NONE;
    if (covered(candidatePodName('', name ? `${name}-` : generateName))) return NONE;
  }
  const now = running(group, kind, request.object, inputs);
  const pattern = podNamePattern(kind, name);
  if (!update) return { usage: now.total, claim: { pattern, replicas: now.count, perReplica: now.each } };
  const before = running(group, kind, request.oldObject, inputs);
  if (suspended(group, kind, request.oldObject) && !suspended(group, kind, request.object)) {
    // Unsuspending a Job or CronJob is when its pods start: all of them are counted now.
    return { usage: now.total, claim: { pattern, replicas: now.count, perReplica: now.each } };
  }
  const added = increase(now.total, before.total);
  return { usage: added, claim: { replicas: 1n, perReplica: added, covers: pattern } };
}
