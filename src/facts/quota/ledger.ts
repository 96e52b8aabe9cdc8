// Usage per tenant: the pods the informer reports (non-terminated ones), plus reservations for what
// was admitted but not observed yet. Reservations make one replica's decisions serial: two requests
// that each fit alone cannot both be admitted when only one fits. A reservation ends when the informer
// reports the pods it stood for, or after a TTL.
import { add, times, ZERO, type Usage } from './usage.js';
import type { Claim } from './requested.js';

export interface ObservedPod {
  namespace: string;
  name: string;
  /** kcp logical cluster, when the pod comes from a workspace. */
  logicalCluster: string;
  usage: Usage;
  /** False once the pod has Succeeded or Failed: it no longer holds its resources. */
  active: boolean;
}

/** A DRA ResourceClaim: the devices it asks for (or holds), by device class. */
export interface ObservedClaim {
  namespace: string;
  name: string;
  logicalCluster: string;
  devices: Readonly<Record<string, bigint>>;
}

interface Reservation {
  tenant: string;
  namespace: string;
  claim: Claim;
  /** The claim's pod-name patterns, compiled once. */
  pattern?: RegExp;
  covers?: RegExp;
  remaining: bigint;
  expires: number;
}

/** What the quota pipeline needs of usage: tenants' totals, and a way to reserve. */
export interface UsageLedger {
  /** With device classes, the devices of the tenant's ResourceClaims count too (as GPUs). */
  used(tenant: string, deviceClasses?: Readonly<Record<string, 'gpus'>>): Usage;
  reserve(tenant: string, namespace: string, claim: Claim): void;
  /** Whether a live reservation already counts a pod of this name in this namespace. */
  covers?(namespace: string, podName: string): boolean;
}

export const DEFAULT_RESERVATION_TTL_MS = 30_000;

export class QuotaLedger implements UsageLedger {
  private readonly pods = new Map<string, ObservedPod>();
  /**
   * Running totals of active pods per namespace (and logical cluster), kept as pods are observed: a
   * tenant's usage is then one tenant lookup per namespace rather than per pod, on every request.
   */
  private readonly namespaces = new Map<string, { namespace: string; logicalCluster: string; pods: number; usage: Usage }>();
  private reservations: Reservation[] = [];
  /** DRA ResourceClaims: their devices count as long as the claim exists. */
  private readonly claims = new Map<string, ObservedClaim>();

  constructor(
    /** The tenant of a pod's namespace (or workspace), or undefined when it has none. */
    private readonly tenantOf: (namespace: string, logicalCluster: string) => string | undefined,
    private readonly ttlMs = DEFAULT_RESERVATION_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Fed by the pod informer: a pod appeared, changed or went away. */
  observe(key: string, before: ObservedPod | undefined, after: ObservedPod | undefined): void {
    const stored = this.pods.get(key);
    if (stored?.active) this.count(stored, -1n);
    if (after) this.pods.set(key, after);
    else this.pods.delete(key);
    if (after?.active) this.count(after, 1n);
    if (!before && after?.active) this.consume(after);
  }

  private count(pod: ObservedPod, sign: 1n | -1n): void {
    const key = `${pod.logicalCluster}\0${pod.namespace}`;
    const group = this.namespaces.get(key) ?? { namespace: pod.namespace, logicalCluster: pod.logicalCluster, pods: 0, usage: ZERO };
    group.pods += Number(sign);
    group.usage = add(group.usage, times(pod.usage, sign));
    if (group.pods === 0) this.namespaces.delete(key);
    else this.namespaces.set(key, group);
  }

  private consume(pod: { namespace: string; name: string }): void {
    const reservation = this.reservations.find(
      (r) => r.namespace === pod.namespace && ((r.claim.name !== undefined && r.claim.name === pod.name) || (r.pattern !== undefined && r.pattern.test(pod.name))),
    );
    if (!reservation) return;
    reservation.remaining -= 1n;
    if (reservation.remaining <= 0n) this.reservations = this.reservations.filter((r) => r !== reservation);
  }

  /** Fed by the ResourceClaim informer. A claim's devices are held until it is deleted. */
  observeClaim(key: string, after: ObservedClaim | undefined): void {
    const known = this.claims.has(key);
    if (after) this.claims.set(key, after);
    else this.claims.delete(key);
    if (!known && after) this.consume({ namespace: after.namespace, name: `ResourceClaim/${after.name}` });
  }

  used(tenant: string, deviceClasses: Readonly<Record<string, 'gpus'>> = {}): Usage {
    const now = this.now();
    this.reservations = this.reservations.filter((r) => r.expires > now);
    let total = ZERO;
    for (const group of this.namespaces.values()) {
      if (this.tenantOf(group.namespace, group.logicalCluster) === tenant) total = add(total, group.usage);
    }
    for (const claim of this.claims.values()) {
      if (this.tenantOf(claim.namespace, claim.logicalCluster) !== tenant) continue;
      for (const [deviceClass, count] of Object.entries(claim.devices)) {
        if (Object.hasOwn(deviceClasses, deviceClass)) total = add(total, { ...ZERO, gpus: count });
      }
    }
    for (const reservation of this.reservations) {
      if (reservation.tenant === tenant) total = add(total, times(reservation.claim.perReplica, reservation.remaining));
    }
    return total;
  }

  reserve(tenant: string, namespace: string, claim: Claim): void {
    if (claim.replicas <= 0n) return;
    const pattern = claim.pattern === undefined ? {} : { pattern: new RegExp(claim.pattern) };
    const covers = claim.covers === undefined ? {} : { covers: new RegExp(claim.covers) };
    this.reservations.push({ tenant, namespace, claim, ...pattern, ...covers, remaining: claim.replicas, expires: this.now() + this.ttlMs });
  }

  /**
   * Whether a live reservation in the namespace stands for a pod of this name: a controller's pod is
   * then not counted again. Once the reservation has lapsed (its pods observed, or its TTL passed),
   * nothing covers the pod and it is counted when it is made.
   */
  covers(namespace: string, podName: string): boolean {
    const now = this.now();
    return this.reservations.some(
      (r) =>
        r.expires > now &&
        r.remaining > 0n &&
        r.namespace === namespace &&
        ((r.claim.name !== undefined && r.claim.name === podName) || r.pattern?.test(podName) === true || r.covers?.test(podName) === true),
    );
  }

  get reservationCount(): number {
    return this.reservations.length;
  }
}
