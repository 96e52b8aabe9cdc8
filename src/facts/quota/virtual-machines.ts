// KubeVirt's VirtualMachines and VirtualMachineInstances count against budgets like pods. A VMI runs in
// a virt-launcher pod that KubeVirt sizes from the VMI's domain; that pod is counted by the pod
// informer once it runs, and the VM or VMI is counted at admission, as a Deployment is, so a VM that
// does not fit is refused before anything starts rather than left stuck. What the pod adds beyond the
// domain (KubeVirt's overhead, a few hundred MiB) is counted once the pod is observed.
import { asArray, asRecord, type JsonRecord } from '../../kubernetes/objects/json.js';
import { quantityValue, wholeUnits } from '../../kubernetes/quantity/index.js';
import { QuantityError, ZERO, type Usage } from './usage.js';

export const KUBEVIRT_GROUP = 'kubevirt.io';

/** KubeVirt's default cpuAllocationRatio: without a CPU request, each vCPU asks its node for 1/10 of a CPU. */
const CPU_ALLOCATION_RATIO = 10n;

/** Run strategies under which a VirtualMachine starts a VMI as soon as it exists (Manual and Halted wait for `virtctl start`). */
const STARTED = new Set(['Always', 'RerunOnFailure', 'Once']);

function quantity(value: unknown, where: string): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  const milli = quantityValue(value);
  if (milli === undefined) throw new QuantityError(`${where} ${JSON.stringify(value)} is not a Kubernetes quantity`);
  return milli;
}

function count(value: unknown, where: string): bigint {
  if (value === undefined || value === null) return 1n;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new QuantityError(`${where} ${JSON.stringify(value)} is not a whole number of at least 1`);
  return BigInt(value);
}

/**
 * What a VMI spec asks of its node, as KubeVirt sizes the virt-launcher pod (its overhead aside):
 * - memory: domain.resources.requests.memory, else domain.memory.guest;
 * - CPU: domain.resources.requests.cpu, else its vCPUs (cores × sockets × threads) whole with
 *   dedicatedCpuPlacement, else a tenth of each (cpuAllocationRatio 10);
 * - GPUs: one per domain.devices.gpus entry (each a device plugin resource of 1).
 * `where` prefixes the spec's path in errors. Throws QuantityError.
 */
export function vmiUsage(spec: JsonRecord, where: string): Usage {
  const domain = asRecord(spec['domain']);
  const requests = asRecord(asRecord(domain['resources'])['requests']);
  const cpu = asRecord(domain['cpu']);
  const memory = quantity(requests['memory'], `${where}.domain.resources.requests.memory`) ?? quantity(asRecord(domain['memory'])['guest'], `${where}.domain.memory.guest`) ?? 0n;
  const vcpus = count(cpu['cores'], `${where}.domain.cpu.cores`) * count(cpu['sockets'], `${where}.domain.cpu.sockets`) * count(cpu['threads'], `${where}.domain.cpu.threads`);
  const requestedCpu = quantity(requests['cpu'], `${where}.domain.resources.requests.cpu`);
  const cpuMillis = requestedCpu ?? (cpu['dedicatedCpuPlacement'] === true ? vcpus * 1000n : (vcpus * 1000n) / CPU_ALLOCATION_RATIO);
  return { cpuMillis, memoryBytes: wholeUnits(memory), gpus: BigInt(asArray(asRecord(domain['devices'])['gpus']).length) };
}

/** Whether a VirtualMachine runs its VMI: `spec.running: true`, or a run strategy that starts it. */
export function virtualMachineRuns(spec: JsonRecord): boolean {
  const strategy = spec['runStrategy'];
  return typeof strategy === 'string' ? STARTED.has(strategy) : spec['running'] === true;
}

/** What a VirtualMachine or VirtualMachineInstance object asks for while it exists (nothing for a stopped VM). */
export function virtualMachineUsage(kind: string, object: unknown): Usage {
  const spec = asRecord(asRecord(object)['spec']);
  if (kind === 'VirtualMachineInstance') return vmiUsage(spec, 'spec');
  if (!virtualMachineRuns(spec)) return ZERO;
  return vmiUsage(asRecord(asRecord(spec['template'])['spec']), 'spec.template.spec');
}
