// A bound on registry look-ups in flight, shared fairly between tenants: at most `global` at once, at
// most `perTenant` of them for one tenant, and waiting tenants served in turn (round-robin), so that one
// tenant's thousands of look-ups cannot hold another tenant's few behind them. A waiter whose request
// has given up (its signal aborted) leaves the queue at once: late work does not pile up.
import { CanopyError } from '../../operations/errors/index.js';

export interface LimiterOptions {
  /** Look-ups in flight at once, over all tenants. */
  global: number;
  /** Look-ups in flight at once for one tenant. */
  perTenant: number;
}

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (error: Error) => void;
  detach: () => void;
}

export class LookupAbandoned extends CanopyError {
  constructor(message: string) {
    super('lookup-abandoned', message);
  }
}

export class LookupLimiter {
  private inFlight = 0;
  private readonly running = new Map<string, number>();
  /** Queues by tenant; the Map's order is the round-robin order (a served tenant moves to the back). */
  private readonly queues = new Map<string, Waiter[]>();
  /** The most ever in flight at once, for tests and /status. */
  peak = 0;

  constructor(readonly options: LimiterOptions) {}

  get active(): number {
    return this.inFlight;
  }

  get waiting(): number {
    let count = 0;
    for (const queue of this.queues.values()) count += queue.length;
    return count;
  }

  /**
   * A slot for one look-up of `tenant`; call the returned function when the look-up has ended. Rejects
   * with LookupAbandoned, taking no slot, if `signal` aborts first.
   */
  acquire(tenant: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new LookupAbandoned('abandoned before it started'));
    if (this.canRun(tenant) && !this.queues.has(tenant)) return Promise.resolve(this.start(tenant));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const queue = this.queues.get(tenant);
        const index = queue?.indexOf(waiter) ?? -1;
        if (queue && index >= 0) {
          queue.splice(index, 1);
          if (queue.length === 0) this.queues.delete(tenant);
        }
        reject(new LookupAbandoned('abandoned while waiting for a slot'));
      };
      const waiter: Waiter = { resolve, reject, detach: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      const queue = this.queues.get(tenant);
      if (queue) queue.push(waiter);
      else this.queues.set(tenant, [waiter]);
    });
  }

  private canRun(tenant: string): boolean {
    return this.inFlight < this.options.global && (this.running.get(tenant) ?? 0) < this.options.perTenant;
  }

  private start(tenant: string): () => void {
    this.inFlight += 1;
    this.peak = Math.max(this.peak, this.inFlight);
    this.running.set(tenant, (this.running.get(tenant) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight -= 1;
      const left = (this.running.get(tenant) ?? 1) - 1;
      if (left > 0) this.running.set(tenant, left);
      else this.running.delete(tenant);
      this.dispatch();
    };
  }

  /** Fills free slots from the queues in turn: each pass gives every tenant that may run one look-up. */
  private dispatch(): void {
    let progressed = true;
    while (this.inFlight < this.options.global && this.queues.size > 0 && progressed) {
      progressed = false;
      for (const [tenant, queue] of [...this.queues]) {
        if (this.inFlight >= this.options.global) break;
        if (!this.canRun(tenant)) continue;
        const waiter = queue.shift();
        // The tenant goes to the back of the order, so the next free slot goes to another tenant first.
        this.queues.delete(tenant);
        if (queue.length > 0) this.queues.set(tenant, queue);
        if (!waiter) continue;
        waiter.detach();
        waiter.resolve(this.start(tenant));
        progressed = true;
      }
    }
  }
}
