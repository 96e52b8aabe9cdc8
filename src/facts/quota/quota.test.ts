import { describe, expect, it } from 'vitest';
import { OPENCOST_PRICES, readQuotaData } from './data.js';
import { monthlyCost } from './facts.js';
import { QuotaLedger } from './ledger.js';
import { requestedBy } from './requested.js';
import { podUsage, QuantityError, ZERO } from './usage.js';
import { vmiUsage } from './virtual-machines.js';
import { admissionRequest } from '../../../test/helpers/admission-request.js';

const c = (cpu: string, memory = '0', extra: Record<string, unknown> = {}) => ({ name: 'c', image: 'i', resources: { requests: { cpu, memory }, ...extra } });
const GiB = 2n ** 30n;

describe('pod usage, as Kubernetes counts it', () => {
  it('sums app containers, takes the largest init container when it is larger, and adds overhead', () => {
    expect(podUsage({ containers: [c('250m', '1Gi'), c('250m', '1Gi')], initContainers: [c('2', '512Mi')], overhead: { cpu: '10m' } })).toEqual({
      cpuMillis: 2010n,
      memoryBytes: 2n * GiB,
      gpus: 0n,
    });
  });

  it('counts sidecar init containers (restartPolicy Always) with the app containers', () => {
    expect(podUsage({ containers: [c('1')], initContainers: [{ ...c('500m'), restartPolicy: 'Always' }] }).cpuMillis).toBe(1500n);
  });

  it('uses a limit as the request when only a limit is set, and counts GPUs', () => {
    expect(podUsage({ containers: [{ name: 'g', resources: { limits: { cpu: '2', 'nvidia.com/gpu': 2, 'amd.com/gpu': '1' } } }] })).toEqual({ cpuMillis: 2000n, memoryBytes: 0n, gpus: 3n });
  });

  it('adds the sidecars declared before an init container to it, as Kubernetes does', () => {
    // Sidecar 1 CPU, then an init container of 2: 3 CPU while it runs, more than the app's 1 + 1.
    const sidecar = { ...c('1'), restartPolicy: 'Always' };
    expect(podUsage({ containers: [c('1')], initContainers: [sidecar, c('2')] }).cpuMillis).toBe(3000n);
    // Declared after it, the sidecar does not run alongside it: max(1 + 1, 2) = 2.
    expect(podUsage({ containers: [c('1')], initContainers: [c('2'), sidecar] }).cpuMillis).toBe(2000n);
    // Two sidecars, then an init container: 500m + 500m + 2 = 3 CPU.
    expect(podUsage({ containers: [c('100m')], initContainers: [{ ...c('500m'), restartPolicy: 'Always' }, { ...c('500m'), restartPolicy: 'Always' }, c('2')] }).cpuMillis).toBe(3000n);
  });

  it('takes pod-level resources where set, in place of the containers, then adds overhead', () => {
    expect(podUsage({ resources: { requests: { cpu: '32' } }, containers: [c('100m', '1Gi')] })).toEqual({ cpuMillis: 32000n, memoryBytes: GiB, gpus: 0n });
    expect(podUsage({ resources: { limits: { memory: '4Gi' } }, containers: [c('100m', '1Gi')], overhead: { cpu: '250m', memory: '1Gi' } })).toEqual({ cpuMillis: 350n, memoryBytes: 5n * GiB, gpus: 0n });
  });

  it('throws a clear QuantityError for what is not a quantity', () => {
    expect(() => podUsage({ containers: [c('two')] })).toThrow(QuantityError);
    expect(() => podUsage({ containers: [c('two')] })).toThrow('containers[0] (c): the cpu request "two" is not a Kubernetes quantity');
  });
});

const request = admissionRequest;
const template = (cpu: string) => ({ template: { spec: { containers: [c(cpu)] } } });

describe('what a request adds', () => {
  it('is a template times its replicas, parallelism, or nodes', () => {
    expect(requestedBy(request('Deployment', 'apps', { spec: { replicas: 3, ...template('100m') } })).usage.cpuMillis).toBe(300n);
    expect(requestedBy(request('Job', 'batch', { spec: { parallelism: 4, ...template('100m') } })).usage.cpuMillis).toBe(400n);
    expect(requestedBy(request('CronJob', 'batch', { spec: { jobTemplate: { spec: { parallelism: 2, ...template('1') } } } })).usage.cpuMillis).toBe(2000n);
    expect(requestedBy(request('DaemonSet', 'apps', { spec: template('100m') }), { nodeCount: 7 }).usage.cpuMillis).toBe(700n);
  });

  it('counts an in-place resize of a Pod by what it adds', () => {
    const resize = request('Pod', '', { spec: { containers: [c('3')] } }, { operation: 'UPDATE', subResource: 'resize', oldObject: { spec: { containers: [c('1')] } } });
    expect(requestedBy(resize).usage.cpuMillis).toBe(2000n);
  });

  it('is only the increase on UPDATE', () => {
    const update = request('Deployment', 'apps', { spec: { replicas: 5, ...template('100m') } }, { operation: 'UPDATE', oldObject: { spec: { replicas: 3, ...template('100m') } } });
    expect(requestedBy(update).usage.cpuMillis).toBe(200n);
    const down = request('Deployment', 'apps', { spec: { replicas: 1, ...template('100m') } }, { operation: 'UPDATE', oldObject: { spec: { replicas: 3, ...template('100m') } } });
    expect(requestedBy(down).usage).toEqual(ZERO);
  });

  it("is nothing for a controller's pod only while its owner's reservation covers it, and for deletes", () => {
    const owned = { metadata: { generateName: 'web-5f6b8d7c9-', ownerReferences: [{ controller: true, kind: 'ReplicaSet' }] }, spec: { containers: [c('1')] } };
    const controller = { name: '', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: [] } };
    const deployment = /^web-[a-z0-9]{1,10}-[a-z0-9]{5}$/;
    expect(requestedBy(request('Pod', '', owned, controller), { covered: (name) => deployment.test(name) }).usage).toEqual(ZERO);
    // Its owner's reservation has lapsed (or was never made): the pod is counted as it is made.
    expect(requestedBy(request('Pod', '', owned, controller), { covered: () => false }).usage.cpuMillis).toBe(1000n);
    // Anyone can write an ownerReference into their own object: from a user, it counts even when covered.
    expect(requestedBy(request('Pod', '', owned), { covered: () => true }).usage.cpuMillis).toBe(1000n);
    // A Deployment's ReplicaSet adds nothing: its pods are counted (or covered) as they are made.
    expect(requestedBy(request('ReplicaSet', 'apps', { ...owned, spec: { replicas: 3, ...template('1') } }, controller)).usage).toEqual(ZERO);
    expect(requestedBy(request('Pod', '', { spec: { containers: [c('1')] } }, { operation: 'DELETE' })).usage).toEqual(ZERO);
  });

  it('counts a suspended Job or CronJob when it is unsuspended, not when it is made', () => {
    const job = (suspend: boolean) => ({ spec: { suspend, parallelism: 3, ...template('1') } });
    expect(requestedBy(request('Job', 'batch', job(true))).usage).toEqual(ZERO);
    const resumed = requestedBy(request('Job', 'batch', job(false), { operation: 'UPDATE', oldObject: job(true), name: 'etl' }));
    expect(resumed.usage.cpuMillis).toBe(3000n);
    expect(resumed.claim).toMatchObject({ pattern: '^etl-(\\d+-)?[a-z0-9]{5}$', replicas: 3n });
    expect(requestedBy(request('Job', 'batch', job(true), { operation: 'UPDATE', oldObject: job(false) })).usage).toEqual(ZERO);
    const cron = (suspend: boolean) => ({ spec: { suspend, jobTemplate: { spec: { parallelism: 2, ...template('1') } } } });
    expect(requestedBy(request('CronJob', 'batch', cron(true))).usage).toEqual(ZERO);
    expect(requestedBy(request('CronJob', 'batch', cron(false), { operation: 'UPDATE', oldObject: cron(true) })).usage.cpuMillis).toBe(2000n);
  });

  it("counts a CronJob's Job as one run when it is made, unless the CronJob's reservation covers it", () => {
    const run = { metadata: { name: 'nightly-29000000', ownerReferences: [{ controller: true, kind: 'CronJob' }] }, spec: { parallelism: 2, ...template('1') } };
    const controller = { name: 'nightly-29000000', userInfo: { username: 'system:serviceaccount:kube-system:cronjob-controller', groups: [] } };
    expect(requestedBy(request('Job', 'batch', run, controller)).usage.cpuMillis).toBe(2000n);
    const cronPods = /^nightly-\d+-(\d+-)?[a-z0-9]{5}$/;
    expect(requestedBy(request('Job', 'batch', run, controller), { covered: (name) => cronPods.test(name) }).usage).toEqual(ZERO);
  });

  it('counts DRA claims and claim templates by what their device class counts as', () => {
    const classes = { 'gpu.nvidia.com': 'gpus' as const };
    const v1 = { spec: { devices: { requests: [{ name: 'g', exactly: { deviceClassName: 'gpu.nvidia.com', count: 4 } }, { name: 'nic', exactly: { deviceClassName: 'nic.example.com', count: 2 } }] } } };
    expect(requestedBy(request('ResourceClaim', 'resource.k8s.io', v1), { deviceClasses: classes }).usage.gpus).toBe(4n);
    const v1beta1 = { spec: { spec: { devices: { requests: [{ name: 'g', deviceClassName: 'gpu.nvidia.com', allocationMode: 'ExactCount', count: 2 }] } } } };
    expect(requestedBy(request('ResourceClaimTemplate', 'resource.k8s.io', v1beta1), { deviceClasses: classes }).usage.gpus).toBe(2n);
    const alternatives = { spec: { devices: { requests: [{ name: 'g', firstAvailable: [{ name: 'big', deviceClassName: 'gpu.nvidia.com', count: 3 }, { name: 'small', deviceClassName: 'gpu.nvidia.com' }] }] } } };
    expect(requestedBy(request('ResourceClaim', 'resource.k8s.io', alternatives), { deviceClasses: classes }).usage.gpus).toBe(3n);
    const all = { spec: { devices: { requests: [{ name: 'g', exactly: { deviceClassName: 'gpu.nvidia.com', allocationMode: 'All' } }] } } };
    expect(() => requestedBy(request('ResourceClaim', 'resource.k8s.io', all), { deviceClasses: classes })).toThrow('allocationMode All of device class gpu.nvidia.com cannot be counted');
  });
});

describe('KubeVirt virtual machines', () => {
  const vmi = (domain: Record<string, unknown>) => ({ domain });
  const vm = (runStrategy: string, domain: Record<string, unknown>) => ({ metadata: { name: 'db' }, spec: { runStrategy, template: { spec: vmi(domain) } } });
  const kubevirt = { name: 'db', userInfo: { username: 'system:serviceaccount:kubevirt:kubevirt-controller', groups: [] } };

  it('sizes a VMI as KubeVirt sizes its virt-launcher pod: requests, else guest memory and a tenth of each vCPU', () => {
    expect(vmiUsage(vmi({ cpu: { cores: 2, sockets: 2 }, resources: { requests: { memory: '4Gi' } }, devices: { gpus: [{ name: 'a' }, { name: 'b' }] } }), 'spec')).toEqual({ cpuMillis: 400n, memoryBytes: 4n * GiB, gpus: 2n });
    expect(vmiUsage(vmi({ cpu: { cores: 4, dedicatedCpuPlacement: true }, memory: { guest: '2Gi' } }), 'spec')).toEqual({ cpuMillis: 4000n, memoryBytes: 2n * GiB, gpus: 0n });
    expect(vmiUsage(vmi({ resources: { requests: { cpu: '1500m', memory: '1Gi' } } }), 'spec').cpuMillis).toBe(1500n);
    expect(() => vmiUsage(vmi({ memory: { guest: 'lots' } }), 'spec.template.spec')).toThrow('spec.template.spec.domain.memory.guest "lots" is not a Kubernetes quantity');
  });

  it('counts a VM while it runs, and the UPDATE that starts it; its reservation stands for its VMI and virt-launcher pod', () => {
    const domain = { resources: { requests: { memory: '4Gi' } } };
    expect(requestedBy(request('VirtualMachine', 'kubevirt.io', vm('Halted', domain), { name: 'db' })).usage).toEqual(ZERO);
    const created = requestedBy(request('VirtualMachine', 'kubevirt.io', vm('Always', domain), { name: 'db' }));
    expect(created.usage.memoryBytes).toBe(4n * GiB);
    expect(created.claim).toMatchObject({ pattern: '^virt-launcher-db-[a-z0-9]{5}$', covers: '^db$', replicas: 1n });
    const started = requestedBy(request('VirtualMachine', 'kubevirt.io', vm('Always', domain), { name: 'db', operation: 'UPDATE', oldObject: vm('Halted', domain) }));
    expect(started.usage.memoryBytes).toBe(4n * GiB);

    const ledger = new QuotaLedger(() => 't');
    const claim = created.claim;
    if (!claim) throw new Error('a running VM reserves');
    ledger.reserve('t', 'n', claim);
    const covered = (name: string) => ledger.covers('n', name);
    // KubeVirt's controller makes the VMI, then its pod: both stand in the VM's reservation.
    const made = { metadata: { name: 'db', ownerReferences: [{ controller: true, kind: 'VirtualMachine' }] }, spec: vmi(domain) };
    expect(requestedBy(request('VirtualMachineInstance', 'kubevirt.io', made, kubevirt), { covered }).usage).toEqual(ZERO);
    const launcher = { metadata: { generateName: 'virt-launcher-db-', ownerReferences: [{ controller: true, kind: 'VirtualMachineInstance' }] }, spec: { containers: [c('100m', '4Gi')] } };
    expect(requestedBy(request('Pod', '', launcher, { ...kubevirt, name: '' }), { covered }).usage).toEqual(ZERO);
    // The same VMI from anyone else, or once nothing covers it, is counted.
    expect(requestedBy(request('VirtualMachineInstance', 'kubevirt.io', made, { name: 'db' }), { covered }).usage.memoryBytes).toBe(4n * GiB);
    ledger.observe('n/virt-launcher-db-abcde', undefined, { namespace: 'n', name: 'virt-launcher-db-abcde', logicalCluster: '', usage: { cpuMillis: 100n, memoryBytes: 4n * GiB, gpus: 0n }, active: true });
    expect(ledger.covers('n', 'db')).toBe(false);
    expect(ledger.used('t').memoryBytes).toBe(4n * GiB);
  });
});

describe('the ledger', () => {
  it('holds a reservation until the informer reports the pods it stood for', () => {
    const ledger = new QuotaLedger(() => 't');
    const deployment = requestedBy(request('Deployment', 'apps', { spec: { replicas: 2, ...template('100m') } }, { name: 'web' }));
    ledger.reserve('t', 'n', deployment.claim ?? { replicas: 0n, perReplica: ZERO });
    expect(ledger.used('t').cpuMillis).toBe(200n);
    const pod = (name: string) => ({ namespace: 'n', name, logicalCluster: '', usage: { cpuMillis: 100n, memoryBytes: 0n, gpus: 0n }, active: true });
    // A pod of web-api is not one of web's, whatever their names share.
    ledger.observe('n/web-api-7d4b9c8f5-x2k9p', undefined, { ...pod('web-api-7d4b9c8f5-x2k9p'), active: true });
    expect(ledger.reservationCount).toBe(1);
    expect(ledger.used('t').cpuMillis).toBe(300n);
    ledger.observe('n/web-api-7d4b9c8f5-x2k9p', pod('web-api-7d4b9c8f5-x2k9p'), undefined);
    ledger.observe('n/web-5f6b8d7c9-abcde', undefined, pod('web-5f6b8d7c9-abcde'));
    expect(ledger.used('t').cpuMillis).toBe(200n); // one observed, one still reserved
    ledger.observe('n/web-5f6b8d7c9-fghij', undefined, pod('web-5f6b8d7c9-fghij'));
    expect(ledger.reservationCount).toBe(0);
    expect(ledger.used('t').cpuMillis).toBe(200n);
  });

  it("counts active pods by their namespace's current tenant, through updates, completion and deletion", () => {
    const tenants: Record<string, string> = { shop: 'a', blog: 'b' };
    const ledger = new QuotaLedger((namespace) => tenants[namespace]);
    const pod = (namespace: string, cpu: bigint, active = true) => ({ namespace, name: 'p', logicalCluster: '', usage: { cpuMillis: cpu, memoryBytes: 0n, gpus: 0n }, active });
    ledger.observe('shop/1', undefined, pod('shop', 100n));
    ledger.observe('shop/2', undefined, pod('shop', 200n));
    ledger.observe('blog/1', undefined, pod('blog', 400n));
    expect([ledger.used('a').cpuMillis, ledger.used('b').cpuMillis]).toEqual([300n, 400n]);
    ledger.observe('shop/1', pod('shop', 100n), pod('shop', 150n)); // resized
    ledger.observe('shop/2', pod('shop', 200n), pod('shop', 200n, false)); // Succeeded
    expect(ledger.used('a').cpuMillis).toBe(150n);
    ledger.observe('blog/1', pod('blog', 400n), undefined);
    expect(ledger.used('b')).toEqual(ZERO);
    tenants['shop'] = 'b'; // the namespace was relabelled to another tenant
    expect([ledger.used('a').cpuMillis, ledger.used('b').cpuMillis]).toEqual([0n, 150n]);
  });

  it("covers a controller's pods only while the owner's reservation is held", () => {
    let now = 0;
    const ledger = new QuotaLedger(() => 't', 1000, () => now);
    ledger.reserve('t', 'n', { pattern: '^etl-(\\d+-)?[a-z0-9]{5}$', replicas: 1n, perReplica: { cpuMillis: 500n, memoryBytes: 0n, gpus: 0n } });
    expect([ledger.covers('n', 'etl-xxxxx'), ledger.covers('m', 'etl-xxxxx'), ledger.covers('n', 'etl-api-xxxxx')]).toEqual([true, false, false]);
    now = 1001;
    expect(ledger.covers('n', 'etl-xxxxx')).toBe(false);
  });

  it('counts the devices of existing ResourceClaims of GPU classes, and ends their reservation', () => {
    const ledger = new QuotaLedger(() => 't');
    ledger.reserve('t', 'n', { name: 'ResourceClaim/c', replicas: 1n, perReplica: { cpuMillis: 0n, memoryBytes: 0n, gpus: 2n } });
    ledger.observeClaim('n/c', { namespace: 'n', name: 'c', logicalCluster: '', devices: { 'gpu.nvidia.com': 2n, 'nic.example.com': 1n } });
    expect(ledger.reservationCount).toBe(0);
    expect(ledger.used('t', { 'gpu.nvidia.com': 'gpus' }).gpus).toBe(2n);
    expect(ledger.used('t').gpus).toBe(0n);
    ledger.observeClaim('n/c', undefined);
    expect(ledger.used('t', { 'gpu.nvidia.com': 'gpus' }).gpus).toBe(0n);
  });

  it('lets a reservation expire after its TTL', () => {
    let now = 0;
    const ledger = new QuotaLedger(() => 't', 1000, () => now);
    ledger.reserve('t', 'n', { replicas: 1n, perReplica: { cpuMillis: 500n, memoryBytes: 0n, gpus: 0n } });
    expect(ledger.used('t').cpuMillis).toBe(500n);
    now = 1001;
    expect(ledger.used('t').cpuMillis).toBe(0n);
  });
});

describe('cost and budgets', () => {
  it('projects a month at OpenCost list prices, in micro-units', () => {
    // 1 vCPU: 0.031611 × 730 = 23.07603 USD; 1 GiB: 0.004237 × 730 = 3.09301 USD; 1 GPU: 693.5 USD.
    expect(monthlyCost({ cpuMillis: 1000n, memoryBytes: GiB, gpus: 1n }, OPENCOST_PRICES)).toBe(23_076_030n + 3_093_010n + 693_500_000n);
  });

  it('refuses malformed budgets with the key at fault', () => {
    const { problems } = readQuotaData({ budgets: { tenants: { a: { cpu: 'lots', monthlyCost: 'cheap', color: 'red' } } } });
    expect(problems).toEqual([
      'budgets.tenants.a has unknown field color',
      'budgets.tenants.a.cpu must be a Kubernetes quantity such as 8, 500m or 32Gi',
      "budgets.tenants.a.monthlyCost must be a decimal amount of the prices' currency",
    ]);
  });

  it('reads DRA device classes and refuses what they cannot count as', () => {
    const read = readQuotaData({ budgets: { deviceClasses: { 'gpu.nvidia.com': 'gpus', 'fpga.example.com': 'fpgas' } } });
    expect(read.quota.deviceClasses?.['gpu.nvidia.com']).toBe('gpus');
    expect(read.problems).toEqual(['budgets.deviceClasses.fpga.example.com must be one of gpus, not "fpgas"']);
  });
});
