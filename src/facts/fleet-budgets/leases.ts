// This cluster's shares of fleet-wide budgets. Each FleetBudget in the fleet store holds a ledger with one
// entry per cluster (kubernetes/objects/fleet-budget.ts): a grant (reserved for the cluster while its
// lease holds) and a claim (`used`: the most the cluster may have admitted). The cluster admits locally,
// at today's speed, within its claim; a request that needs more first raises the claim (and the grant,
// from what is free) with one conditional update. Every third of the lease it renews its entry and
// brings its claim down towards what it uses; when it stops it gives back all it does not use.
//
// Guarantees, with every cluster running this code:
// - Never over budget: a grant is written only with the resourceVersion of the ledger it was computed
//   from, so two clusters cannot both take the same free amount; a conflict re-reads and computes again.
//   A claim is written before the cluster admits beyond it, so the ledger never counts less than what a
//   cluster admitted, even one that dies before it could say more.
// - Partitions: without the fleet store a cluster admits only within its claim. Others count an entry
//   whose lease expired as its claim, and may take back the rest of its grant.
import type { KubeClient } from '../../sources/kube/index.js';
import { KubeApiError } from '../../sources/kube/index.js';
import { Poller } from '../../operations/poll/index.js';
import { messageOf } from '../../operations/errors/index.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import { KeyedLock } from '../../pipeline/keyed-lock.js';
import {
  AMOUNT_KEYS,
  clusterGrantJson,
  FLEET_BUDGET_GROUP,
  FLEET_BUDGET_PLURAL,
  FLEET_BUDGET_VERSION,
  FleetBudgetError,
  holds,
  NO_AMOUNTS,
  readFleetBudget,
  type FleetAmounts,
  type FleetBudget,
  type FleetLimits,
} from '../../kubernetes/objects/fleet-budget.js';
import type { FleetShares, FleetTenant, FleetView } from '../quota/fleet.js';
import { currentGrant, defaultStep, entryFor, grantFor } from './grant.js';

export const DEFAULT_LEASE_SECONDS = 300;
export const DEFAULT_FLEET_TIMEOUT_MS = 1000;
/**
 * Conditional updates one request may try, within its deadline: each conflict means another cluster
 * wrote, so under contention a request keeps its turn until the deadline rather than a fixed count.
 */
const MAX_ATTEMPTS = 64;

export interface FleetLeasesOptions {
  /** A client of the fleet store. */
  client: Pick<KubeClient, 'getJson' | 'replace' | 'server'>;
  namespace: string;
  /** This cluster: its name keys its ledger entry; region and provider are published with it. */
  identity: () => { name: string; region: string; provider: string };
  leaseMs: number;
  /** Deadline of one exchange with the fleet store. */
  timeoutMs: number;
  /** The tenants with fleet budgets in the active policy set, and what each uses in this cluster now. */
  tenants: () => ReadonlyMap<string, FleetTenant>;
  usage: (tenant: string) => FleetAmounts;
  /**
   * Runs a task under the tenant's lock, the one the webhook judges the tenant's requests under
   * (pipeline.ts): a claim is brought down only while no request of the tenant is between its check and
   * its reservation.
   */
  lock: <T>(tenant: string, task: () => Promise<T>) => Promise<T>;
  /** Where renewals that fail are reported (a log line). */
  onProblem: (message: string) => void;
  now?: () => number;
}

interface BudgetState {
  name: string;
  budget?: FleetBudget;
  /** The object as last read or written: a write sends it back whole, with this cluster's entry replaced. */
  object?: Record<string, unknown>;
  /** Why the fleet store could not be read or written, while it could not; '' once it could. */
  unreachable: string;
  /** Until then, requests do not wait on a fleet store that just failed. */
  quietUntil: number;
  /** Why the last request could not be covered (the budget is spent); '' otherwise. */
  refusal: string;
}

export class FleetBudgetLeases implements FleetShares {
  private readonly states = new Map<string, BudgetState>();
  private readonly locks = new KeyedLock();
  private readonly poller: Poller;
  private readonly now: () => number;
  /** Set by close(): no grant is taken or renewed after the shares were given back. */
  private closed = false;

  constructor(private readonly options: FleetLeasesOptions) {
    this.now = options.now ?? Date.now;
    this.poller = new Poller({
      intervalMs: Math.max(1000, Math.floor(options.leaseMs / 3)),
      run: () => this.renewAll(),
      onError: (error) => options.onProblem(`fleet budgets: renewal failed: ${messageOf(error)}`),
    });
  }

  /** Reads every fleet budget the policy set names, then renews every third of the lease. */
  async start(): Promise<void> {
    await this.renewAll();
    this.poller.start();
  }

  private state(name: string): BudgetState {
    let state = this.states.get(name);
    if (!state) {
      state = { name, unreachable: '', quietUntil: 0, refusal: '' };
      this.states.set(name, state);
    }
    return state;
  }

  view(_tenant: string, entry: FleetTenant, clusterUsed: FleetAmounts): FleetView {
    const state = this.state(entry.budget);
    const budget = state.budget;
    const me = this.options.identity();
    const unknown = (note: string): FleetView => ({
      budget: entry.budget,
      limit: {},
      used: clusterUsed,
      regionUsed: clusterUsed,
      share: { ...NO_AMOUNTS },
      current: false,
      note,
    });
    if (!budget) return unknown(state.unreachable || `fleet budget ${entry.budget} has not been read from the fleet store yet`);
    const used = { ...clusterUsed };
    const regionUsed = { ...clusterUsed };
    for (const [cluster, grant] of Object.entries(budget.clusters)) {
      if (cluster === me.name) continue;
      for (const key of AMOUNT_KEYS) {
        used[key] += grant.used[key];
        if (grant.region === me.region) regionUsed[key] += grant.used[key];
      }
    }
    const mine = budget.clusters[me.name];
    // Its claim: what it may admit without asking, lease or not (others count an expired entry as its claim).
    const share: FleetLimits = {};
    for (const key of AMOUNT_KEYS) if (budget.limits[key] !== undefined) share[key] = mine?.claimed[key] ?? 0n;
    return {
      budget: entry.budget,
      limit: budget.limits,
      used,
      regionUsed,
      share,
      current: state.unreachable === '',
      note: [state.unreachable, state.refusal].filter(Boolean).join('; '),
    };
  }

  async grow(tenant: string, entry: FleetTenant, needed: FleetAmounts, timeoutMs: number): Promise<void> {
    const state = this.state(entry.budget);
    if (this.closed || this.now() < state.quietUntil) return;
    const deadline = this.now() + timeoutMs;
    await this.locks.run(entry.budget, async () => {
      const late = `fleet budget ${entry.budget}: the fleet store did not answer within what was left of the request's deadline`;
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
        const left = deadline - this.now();
        if (left <= 0) {
          state.refusal = late;
          return;
        }
        // The first attempt may start from the ledger already read; after a conflict, from a fresh one.
        if (attempt > 0 || !state.budget) {
          if (!(await this.read(state, left))) return;
        }
        const budget = state.budget;
        if (!budget) return;
        const me = this.options.identity();
        const outcome = grantFor(budget, me.name, this.now(), needed, entry.share);
        if ('refused' in outcome) {
          // The ledger read may be old: the share may have been given back since. Read once more.
          if (attempt === 0) continue;
          state.refusal = outcome.refused;
          return;
        }
        state.refusal = '';
        if (!outcome.changed) return;
        const written = await this.write(state, budget, { granted: outcome.granted, claimed: outcome.claimed, used: this.options.usage(tenant) }, deadline - this.now());
        if (written === 'failed' && state.unreachable === '') state.refusal = late;
        if (written !== 'conflict') return;
      }
      state.refusal = `fleet budget ${entry.budget}: the fleet store answered ${MAX_ATTEMPTS} conditional updates in a row with a conflict (other clusters kept writing it); try again`;
    });
  }

  /** Reads a budget; false when it cannot be (the state says why). */
  private async read(state: BudgetState, timeoutMs: number): Promise<boolean> {
    try {
      const object = await this.options.client.getJson<Record<string, unknown>>(this.path(state.name), Math.min(timeoutMs, this.options.timeoutMs));
      this.keep(state, object);
      return true;
    } catch (error) {
      this.failed(state, error);
      return false;
    }
  }

  /** Writes this cluster's entry (grant, claim, use) with the budget's resourceVersion: 'ok', 'conflict' (re-read), or 'failed'. */
  private async write(
    state: BudgetState,
    budget: FleetBudget,
    amounts: { granted: FleetAmounts; claimed: FleetAmounts; used: FleetAmounts },
    timeoutMs: number,
    expireNow = false,
  ): Promise<'ok' | 'conflict' | 'failed'> {
    if (timeoutMs <= 0) return 'failed';
    const me = this.options.identity();
    const now = this.now();
    const entry = entryFor(budget.clusters[me.name], amounts.granted, amounts.claimed, amounts.used, now, expireNow ? 0 : this.options.leaseMs, me);
    const clusters: Record<string, unknown> = {};
    for (const [name, grant] of Object.entries(budget.clusters)) clusters[name] = clusterGrantJson(grant);
    clusters[me.name] = clusterGrantJson(entry);
    // The object as read, with its resourceVersion: the API server refuses the write (409) if the ledger
    // changed since, and takes only the status from it (the status subresource).
    const object = state.object ?? {};
    const status = isRecord(object['status']) ? object['status'] : {};
    const body = { ...object, status: { ...status, clusters } };
    try {
      const answer = await this.options.client.replace<Record<string, unknown>>(`${this.path(state.name)}/status`, body, Math.min(timeoutMs, this.options.timeoutMs));
      this.keep(state, answer);
      return 'ok';
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 409) return 'conflict';
      this.failed(state, error);
      return 'failed';
    }
  }

  /** Keeps an object the fleet store answered with; one that cannot be read counts as unreachable, naming why. */
  private keep(state: BudgetState, object: Record<string, unknown>): void {
    state.budget = readFleetBudget(object);
    state.object = object;
    state.unreachable = '';
  }

  private failed(state: BudgetState, error: unknown): void {
    const where = `${this.options.namespace}/${state.name}`;
    if (error instanceof FleetBudgetError) {
      state.budget = undefined;
      state.unreachable = `${messageOf(error)} (in the fleet store, ${this.options.client.server}), so no share of it is held here`;
    } else if (error instanceof KubeApiError && error.statusCode === 404) {
      state.budget = undefined;
      state.unreachable = `there is no FleetBudget ${where} in the fleet store (${this.options.client.server}), so no share of it is held here`;
    } else if (error instanceof KubeApiError && error.statusCode !== undefined) {
      // It answered, and refused (403: this cluster's identity may not; 422: the ledger entry was refused).
      state.unreachable = `the fleet store (${this.options.client.server}) refused this cluster's access to FleetBudget ${where}: ${messageOf(error)}; admitting only within the share this cluster holds`;
    } else {
      state.unreachable = `the fleet store (${this.options.client.server}) could not be reached for FleetBudget ${where}: ${messageOf(error)}; admitting only within the share this cluster holds`;
    }
    // Requests do not each wait for a store that just failed; the renewals keep trying.
    state.quietUntil = this.now() + Math.min(5000, this.options.leaseMs / 10);
  }

  /**
   * Every third of the lease: re-reads each budget the policy set names and renews this cluster's entry.
   * Under the tenant's lock (no request of the tenant is being judged), the claim comes down towards what
   * the cluster uses now, keeping half a step ahead of it. A grant that expired (the store was out of
   * reach) is taken again only as far as the budget still has room. Failures are reported and retried
   * at the next round.
   */
  private async renewAll(): Promise<void> {
    if (this.closed) return;
    const problems: string[] = [];
    for (const [tenant, entry] of this.options.tenants()) {
      const state = this.state(entry.budget);
      await this.options.lock(tenant, () =>
        this.locks.run(entry.budget, async () => {
          for (let attempt = 0; attempt < 3 && !this.closed; attempt += 1) {
            if (!(await this.read(state, this.options.timeoutMs)) || !state.budget) {
              problems.push(state.unreachable);
              return;
            }
            const budget = state.budget;
            const me = this.options.identity();
            const used = this.options.usage(tenant);
            const mine = budget.clusters[me.name];
            if (!mine && AMOUNT_KEYS.every((key) => used[key] === 0n)) return;
            const now = this.now();
            const claimed = { ...(mine?.claimed ?? NO_AMOUNTS) };
            for (const key of AMOUNT_KEYS) {
              const limit = budget.limits[key];
              const ahead = used[key] + (limit === undefined ? 0n : ((entry.share[key] ?? defaultStep(limit)) + 1n) / 2n);
              if (claimed[key] > ahead) claimed[key] = ahead;
              if (claimed[key] < used[key]) claimed[key] = used[key];
            }
            const expired = mine !== undefined && !holds(mine, now);
            const regrant = expired ? grantFor(budget, me.name, now, mine.granted, NO_AMOUNTS) : undefined;
            const granted = { ...(regrant === undefined ? currentGrant(budget, me.name, now) : 'granted' in regrant ? regrant.granted : claimed) };
            // A grant never below the claim: the claim is what the cluster may have admitted.
            for (const key of AMOUNT_KEYS) if (granted[key] < claimed[key]) granted[key] = claimed[key];
            const written = await this.write(state, budget, { granted, claimed, used }, this.options.timeoutMs);
            if (written === 'ok') return;
            if (written === 'failed') {
              problems.push(state.unreachable);
              return;
            }
          }
        }),
      );
    }
    if (problems.length > 0) this.options.onProblem(`fleet budgets: ${problems.join('; ')}`);
  }

  /**
   * Stops renewing and gives back what this cluster does not use: grant and claim come down to its use,
   * and the lease ends now, so the others may take the rest at once. Under each tenant's lock; once.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.poller.stop();
    if (this.closed) return;
    this.closed = true;
    const deadline = this.now() + timeoutMs;
    for (const [tenant, entry] of this.options.tenants()) {
      const state = this.states.get(entry.budget);
      const me = this.options.identity();
      if (!state?.budget?.clusters[me.name]) continue;
      await this.options.lock(tenant, () =>
        this.locks.run(entry.budget, async () => {
          for (let attempt = 0; attempt < 3 && state.budget; attempt += 1) {
            const used = this.options.usage(tenant);
            const written = await this.write(state, state.budget, { granted: used, claimed: used, used }, deadline - this.now(), true);
            if (written !== 'conflict') return;
            if (!(await this.read(state, deadline - this.now()))) return;
          }
        }),
      );
    }
  }

  /** For GET /status: per budget, whether it was read, this cluster's entry, and what is wrong. */
  status(): Record<string, unknown> {
    const me = this.options.identity().name;
    const words = (amounts: FleetAmounts) => Object.fromEntries(AMOUNT_KEYS.map((key) => [key, amounts[key].toString()]));
    return Object.fromEntries(
      [...this.states.values()].map((state) => {
        const mine = state.budget?.clusters[me];
        return [
          state.name,
          {
            read: state.budget !== undefined,
            ...(mine ? { granted: words(mine.granted), claimed: words(mine.claimed), used: words(mine.used), expiresAt: mine.expiresAt } : {}),
            ...(state.unreachable ? { problem: state.unreachable } : {}),
            ...(state.refusal ? { refusal: state.refusal } : {}),
          },
        ];
      }),
    );
  }

  private path(name: string): string {
    return `/apis/${FLEET_BUDGET_GROUP}/${FLEET_BUDGET_VERSION}/namespaces/${encodeURIComponent(this.options.namespace)}/${FLEET_BUDGET_PLURAL}/${encodeURIComponent(name)}`;
  }
}
