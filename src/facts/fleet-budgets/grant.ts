// The arithmetic of a fleet budget's ledger, apart from any I/O: what a cluster may take, and the entry
// it writes. Every write is a conditional update of the whole FleetBudget (its resourceVersion), so the
// budget the arithmetic sees is the one the write replaces: two clusters that both take what is free
// cannot both succeed, and the loser computes again from the winner's ledger.
import {
  AMOUNT_KEYS,
  amountInWords,
  HISTORY_DAYS,
  held,
  holds,
  NO_AMOUNTS,
  type ClusterGrant,
  type FleetAmounts,
  type FleetBudget,
  type FleetLimits,
} from '../../kubernetes/objects/fleet-budget.js';

/** A tenth of the limit, at least one unit: what a cluster asks for beyond its need when no share size is set. */
export function defaultStep(limit: bigint): bigint {
  const tenth = (limit + 9n) / 10n;
  return tenth > 0n ? tenth : 1n;
}

/** The grant a cluster holds at `now`: nothing once it has expired (others may have taken it back). */
export function currentGrant(budget: FleetBudget, cluster: string, now: number): FleetAmounts {
  const mine = budget.clusters[cluster];
  return mine && holds(mine, now) ? mine.granted : NO_AMOUNTS;
}

/** What every other cluster takes of the budget at `now`: grants that hold, else what was last used. */
export function othersHeld(budget: FleetBudget, cluster: string, now: number): FleetAmounts {
  const total = { ...NO_AMOUNTS };
  for (const [name, grant] of Object.entries(budget.clusters)) {
    if (name === cluster) continue;
    const takes = held(grant, now);
    for (const key of AMOUNT_KEYS) total[key] += takes[key];
  }
  return total;
}

export type GrantOutcome = { granted: FleetAmounts; claimed: FleetAmounts; changed: boolean } | { refused: string };

/**
 * What `cluster` should hold so that it may admit `needed` (its use with the request that waits):
 * - its grant: asked for in `step`s beyond the need (else a tenth of the limit), capped by what is free,
 *   so that the next requests need not ask again;
 * - its claim: at least `needed`, half a step beyond it within the grant. The
 *   claim is what the cluster may have admitted; it is written before the cluster admits beyond it, so
 *   the ledger never counts less than a cluster admitted, even for a cluster that dies before it could
 *   say more. Others count an expired entry as its claim: a dead cluster gives back its grant less its claim.
 * Or why the budget cannot cover the need. An amount the budget does not limit is never granted or
 * refused. A grant that holds never shrinks here, nor does a claim.
 */
export function grantFor(budget: FleetBudget, cluster: string, now: number, needed: FleetAmounts, step: FleetLimits): GrantOutcome {
  const mine = budget.clusters[cluster];
  const current = currentGrant(budget, cluster, now);
  const claim = mine?.claimed ?? NO_AMOUNTS;
  const others = othersHeld(budget, cluster, now);
  const granted = { ...current };
  const claimed = { ...claim };
  const short: string[] = [];
  let changed = !mine || !holds(mine, now);
  for (const key of AMOUNT_KEYS) {
    const limit = budget.limits[key];
    if (limit === undefined || needed[key] <= claim[key]) continue;
    const size = step[key] ?? defaultStep(limit);
    if (needed[key] > current[key]) {
      const free = limit - others[key];
      const want = needed[key] + size;
      const take = want < free ? want : free;
      if (take < needed[key]) {
        const left = free > 0n ? free : 0n;
        short.push(
          `this cluster needs ${amountInWords(key, needed[key], budget.currency)} in all, and ${amountInWords(key, left, budget.currency)} of ${amountInWords(key, limit, budget.currency)} is left to grant (other clusters hold or use ${amountInWords(key, others[key], budget.currency)})`,
        );
        continue;
      }
      granted[key] = take;
    }
    const ahead = needed[key] + (size + 1n) / 2n;
    claimed[key] = ahead < granted[key] ? ahead : granted[key];
    changed = true;
  }
  if (short.length > 0) return { refused: `fleet budget ${budget.name} is spent: ${short.join('; ')}` };
  // An expired grant is gone, but not the claim: others count it, so it is this cluster's to hold again.
  for (const key of AMOUNT_KEYS) if (granted[key] < claimed[key]) granted[key] = claimed[key];
  return { granted, claimed, changed };
}

/** Today's sample of the history raised to `used`, keeping the last HISTORY_DAYS days. */
export function withSample(history: readonly ClusterGrant['history'][number][], used: FleetAmounts, now: number): ClusterGrant['history'] {
  const date = new Date(now).toISOString().slice(0, 10);
  const today = history.find((sample) => sample.date === date);
  const raised = { ...(today?.used ?? NO_AMOUNTS) };
  for (const key of AMOUNT_KEYS) if (used[key] > raised[key]) raised[key] = used[key];
  return [...history.filter((sample) => sample.date !== date), { date, used: raised }].sort((a, b) => (a.date < b.date ? -1 : 1)).slice(-HISTORY_DAYS);
}

/** The entry a cluster writes: its grant, claim and use, held for `leaseMs` from `now`, where it runs. */
export function entryFor(
  previous: ClusterGrant | undefined,
  granted: FleetAmounts,
  claimed: FleetAmounts,
  used: FleetAmounts,
  now: number,
  leaseMs: number,
  where: { region: string; provider: string },
): ClusterGrant {
  return {
    granted,
    claimed,
    used,
    expiresAt: new Date(now + leaseMs).toISOString(),
    updatedAt: new Date(now).toISOString(),
    region: where.region,
    provider: where.provider,
    history: withSample(previous?.history ?? [], used, now),
  };
}
