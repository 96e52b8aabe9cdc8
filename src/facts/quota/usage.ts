// What pods ask for, as Kubernetes counts it, in integers: CPU millicores, memory bytes, GPUs.
import { quantityValue, wholeUnits } from '../../kubernetes/quantity/index.js';
import { asArray, asRecord, type JsonRecord } from '../../kubernetes/objects/json.js';
import { CanopyError } from '../../operations/errors/index.js';

export interface Usage {
  cpuMillis: bigint;
  memoryBytes: bigint;
  gpus: bigint;
}

export const ZERO: Usage = { cpuMillis: 0n, memoryBytes: 0n, gpus: 0n };
export const GPU_RESOURCES = ['nvidia.com/gpu', 'amd.com/gpu'] as const;

export const add = (a: Usage, b: Usage): Usage => ({ cpuMillis: a.cpuMillis + b.cpuMillis, memoryBytes: a.memoryBytes + b.memoryBytes, gpus: a.gpus + b.gpus });
export const times = (a: Usage, n: bigint): Usage => ({ cpuMillis: a.cpuMillis * n, memoryBytes: a.memoryBytes * n, gpus: a.gpus * n });
const max = (a: Usage, b: Usage): Usage => ({
  cpuMillis: a.cpuMillis > b.cpuMillis ? a.cpuMillis : b.cpuMillis,
  memoryBytes: a.memoryBytes > b.memoryBytes ? a.memoryBytes : b.memoryBytes,
  gpus: a.gpus > b.gpus ? a.gpus : b.gpus,
});
/** Per resource, how much `after` adds over `before` (never negative: a decrease frees, it does not credit). */
export const increase = (after: Usage, before: Usage): Usage => ({
  cpuMillis: after.cpuMillis > before.cpuMillis ? after.cpuMillis - before.cpuMillis : 0n,
  memoryBytes: after.memoryBytes > before.memoryBytes ? after.memoryBytes - before.memoryBytes : 0n,
  gpus: after.gpus > before.gpus ? after.gpus - before.gpus : 0n,
});
export const isZero = (u: Usage) => u.cpuMillis === 0n && u.memoryBytes === 0n && u.gpus === 0n;

/** A quantity in a pod spec that is not one: the request is denied with this message. */
export class QuantityError extends CanopyError {
  constructor(message: string) {
    super('quantity', message);
  }
}

/** The request of one resource: its request, or its limit when only a limit is set (Kubernetes' default). */
function resourceOf(container: JsonRecord, resource: string, where: string): bigint {
  const resources = asRecord(container['resources']);
  const value = asRecord(resources['requests'])[resource] ?? asRecord(resources['limits'])[resource];
  if (value === undefined || value === null) return 0n;
  const milli = quantityValue(value);
  if (milli === undefined) throw new QuantityError(`${where}: the ${resource} request ${JSON.stringify(value)} is not a Kubernetes quantity`);
  return milli;
}

function containerUsage(entry: unknown, where: string): Usage {
  const container = asRecord(entry);
  return {
    cpuMillis: resourceOf(container, 'cpu', where),
    memoryBytes: wholeUnits(resourceOf(container, 'memory', where)),
    gpus: GPU_RESOURCES.reduce((sum, gpu) => sum + wholeUnits(resourceOf(container, gpu, where)), 0n),
  };
}

/**
 * A pod's effective requests, as Kubernetes computes them (k8s.io/component-helpers PodRequests, what
 * the scheduler and ResourceQuota count), per resource:
 * - the larger of: the app containers plus every sidecar init container (restartPolicy Always), and
 *   for each ordinary init container, its own request plus the sidecars declared before it (they keep
 *   running while it runs);
 * - then pod-level resources (`spec.resources`), where set, replace that for CPU and memory;
 * - plus the pod overhead (`spec.overhead`, from its RuntimeClass).
 * Throws QuantityError.
 */
export function podUsage(spec: JsonRecord): Usage {
  const name = (entry: unknown, list: string, index: number) => `${list}[${index}] (${String(asRecord(entry)['name'] ?? '?')})`;
  let requests = ZERO;
  asArray(spec['containers']).forEach((entry, index) => (requests = add(requests, containerUsage(entry, name(entry, 'containers', index)))));
  let sidecars = ZERO;
  let initPeak = ZERO;
  asArray(spec['initContainers']).forEach((entry, index) => {
    const usage = containerUsage(entry, name(entry, 'initContainers', index));
    if (asRecord(entry)['restartPolicy'] === 'Always') {
      requests = add(requests, usage);
      sidecars = add(sidecars, usage);
      initPeak = max(initPeak, sidecars);
    } else {
      initPeak = max(initPeak, add(usage, sidecars));
    }
  });
  requests = max(requests, initPeak);
  const podLevel = asRecord(spec['resources']);
  if (Object.keys(asRecord(podLevel['requests'])).length > 0 || Object.keys(asRecord(podLevel['limits'])).length > 0) {
    // Pod-level resources (Kubernetes 1.32+) name CPU and memory only; where set they are the pod's
    // requests for that resource, whatever its containers ask.
    const pod = containerUsage({ resources: podLevel }, 'resources (pod-level)');
    const set = (resource: string) => asRecord(podLevel['requests'])[resource] !== undefined || asRecord(podLevel['limits'])[resource] !== undefined;
    requests = { ...requests, ...(set('cpu') ? { cpuMillis: pod.cpuMillis } : {}), ...(set('memory') ? { memoryBytes: pod.memoryBytes } : {}) };
  }
  const overhead = spec['overhead'] ? containerUsage({ resources: { requests: spec['overhead'] } }, 'overhead') : ZERO;
  return add(requests, overhead);
}
