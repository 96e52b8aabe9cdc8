// Fleet-wide budgets as quota facts see them. The budget itself (a FleetBudget in the fleet store) and
// its ledger are kept by facts/fleet-budgets; this is the side a request reads: which tenants draw on
// a fleet budget (budgets.yaml `fleet`), and what this cluster may use of it now (its share).
import type { FleetAmounts, FleetLimits } from '../../kubernetes/objects/fleet-budget.js';

/** A tenant's entry under budgets.yaml `fleet`. */
export interface FleetTenant {
  /** The FleetBudget's name in the fleet store. */
  budget: string;
  /**
   * How much more to ask for than a request needs, per amount, so that not every request goes to the
   * fleet store. An amount the budget limits but this does not name: a tenth of the limit.
   */
  share: FleetLimits;
}

/** A tenant's fleet budget as this cluster sees it. Amounts are canonical integers (fleet-budget.ts). */
export interface FleetView {
  budget: string;
  /** The fleet-wide limits; only limited amounts. Empty while the budget has not been read. */
  limit: FleetLimits;
  /** What the fleet uses: every other cluster's last published use, plus this cluster's use now. */
  used: FleetAmounts;
  /** The same, for the clusters of this cluster's region (this one included). */
  regionUsed: FleetAmounts;
  /**
   * What this cluster may use of each amount the budget limits, now: its grant while the grant holds,
   * else what it last said it used. While the budget is unknown every amount is here, at 0: nothing is
   * admitted by accident.
   */
  share: FleetLimits;
  /** Whether the view is from the fleet store (false: not configured, unreachable at first read, no such budget). */
  current: boolean;
  /** Why the share cannot grow, when it could not (for denials); '' otherwise. */
  note: string;
}

/** What quota facts and the pipeline need of the fleet store; facts/fleet-budgets implements it. */
export interface FleetShares {
  /** The tenant's fleet budget now, given what the tenant uses in this cluster (observed and reserved). */
  view(tenant: string, entry: FleetTenant, clusterUsed: FleetAmounts): FleetView;
  /**
   * Asks the fleet store for a share that covers `needed` (this cluster's use with the request), within
   * `timeoutMs`. Resolves once the share covers it or it cannot (view's note then says why); never rejects.
   */
  grow(tenant: string, entry: FleetTenant, needed: FleetAmounts, timeoutMs: number): Promise<void>;
}

/** Without a fleet store (canopy eval, audit, tests that give none): a fleet tenant has no share at all. */
export const NO_FLEET_STORE: FleetShares = {
  view: (_tenant, entry, clusterUsed) => ({
    budget: entry.budget,
    limit: {},
    // All that is known of the fleet's use is this cluster's.
    used: clusterUsed,
    regionUsed: clusterUsed,
    share: { cpuMillis: 0n, memoryBytes: 0n, gpus: 0n, monthlyCostMicros: 0n },
    current: false,
    note: 'no fleet store is configured (fleetBudgets.kubeconfig), so no share of the fleet budget is held here',
  }),
  grow: () => Promise.resolve(),
};
