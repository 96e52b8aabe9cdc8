import { describe, expect, it } from 'vitest';
import {
  AMOUNT_KEYS,
  HISTORY_DAYS,
  held,
  NO_AMOUNTS,
  type ClusterGrant,
  type FleetAmounts,
  type FleetBudget,
  type FleetLimits,
  type UsageSample,
} from '../../kubernetes/objects/fleet-budget.js';
import { currentGrant, defaultStep, entryFor, grantFor, othersHeld, withSample, type GrantOutcome } from './grant.js';

const NOW = Date.parse('2026-12-06T12:00:00.000Z');
const LEASE_MS = 300_000;
const GiB = 2n ** 30n;
/** One unit of the currency, in micro-units. */
const UNIT = 1_000_000n;
const WHERE = { region: 'eu-west-1', provider: 'aws' };

const amounts = (partial: Partial<FleetAmounts> = {}): FleetAmounts => ({ ...NO_AMOUNTS, ...partial });

/** A ledger entry whose lease ends `expiresInMs` after NOW (negative: it has expired); it used what it claimed unless told. */
function entry(granted: Partial<FleetAmounts>, claimed: Partial<FleetAmounts>, expiresInMs = LEASE_MS, used: Partial<FleetAmounts> = claimed): ClusterGrant {
  return {
    granted: amounts(granted),
    claimed: amounts(claimed),
    used: amounts(used),
    expiresAt: new Date(NOW + expiresInMs).toISOString(),
    updatedAt: new Date(NOW).toISOString(),
    region: WHERE.region,
    provider: WHERE.provider,
    history: [],
  };
}

function budget(limits: FleetLimits, clusters: Record<string, ClusterGrant> = {}, currency = 'USD'): FleetBudget {
  return { name: 'ml-training', namespace: 'canopy-fleet', resourceVersion: '1', tenant: 'ml', limits, currency, clusters };
}

function granted(outcome: GrantOutcome): { granted: FleetAmounts; claimed: FleetAmounts; changed: boolean } {
  if ('refused' in outcome) throw new Error(`expected a grant, got a refusal: ${outcome.refused}`);
  return outcome;
}

function refused(outcome: GrantOutcome): string {
  if (!('refused' in outcome)) throw new Error(`expected a refusal, got a grant of ${JSON.stringify(outcome, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}` : value))}`);
  return outcome.refused;
}

describe('the step a cluster asks for beyond its need', () => {
  it('is a tenth of the limit, rounded up, and at least one unit', () => {
    expect(defaultStep(100n)).toBe(10n);
    expect(defaultStep(95n)).toBe(10n);
    expect(defaultStep(11n)).toBe(2n);
    expect(defaultStep(10n)).toBe(1n);
    expect(defaultStep(3n)).toBe(1n);
    expect(defaultStep(0n)).toBe(1n);
  });
});

describe("a cluster's first request", () => {
  it('is granted its need plus a tenth of the limit, and claims its need plus half of that', () => {
    const outcome = granted(grantFor(budget({ cpuMillis: 100_000n }), 'a', NOW, amounts({ cpuMillis: 5000n }), {}));
    expect(outcome).toEqual({ granted: amounts({ cpuMillis: 15_000n }), claimed: amounts({ cpuMillis: 10_000n }), changed: true });
  });

  it('asks for the share budgets.yaml sets rather than a tenth, half of it (rounded up) ahead in its claim', () => {
    const outcome = granted(grantFor(budget({ cpuMillis: 100_000n, gpus: 100n }), 'a', NOW, amounts({ cpuMillis: 5000n, gpus: 2n }), { cpuMillis: 2000n, gpus: 3n }));
    expect(outcome.granted).toEqual(amounts({ cpuMillis: 7000n, gpus: 5n }));
    expect(outcome.claimed).toEqual(amounts({ cpuMillis: 6000n, gpus: 4n }));
  });

  it('takes at least one unit beyond its need of a small budget', () => {
    // A tenth of 5 GPUs is less than one: the step is one GPU, and so is half of it.
    const outcome = granted(grantFor(budget({ gpus: 5n }), 'a', NOW, amounts({ gpus: 2n }), {}));
    expect(outcome.granted.gpus).toBe(3n);
    expect(outcome.claimed.gpus).toBe(3n);
  });

  it('is capped by what is free, and its claim never goes beyond its grant', () => {
    const others = { b: entry({ cpuMillis: 90_000n }, { cpuMillis: 10_000n }) };
    // 10 CPU are free: the need (5) and a step (10) do not fit, so it takes the 10 that are free.
    const capped = granted(grantFor(budget({ cpuMillis: 100_000n }, others), 'a', NOW, amounts({ cpuMillis: 5000n }), {}));
    expect(capped.granted.cpuMillis).toBe(10_000n);
    expect(capped.claimed.cpuMillis).toBe(10_000n);
    // Exactly what is free: granted in full, the claim no further than the grant.
    const exact = granted(grantFor(budget({ cpuMillis: 100_000n }, others), 'a', NOW, amounts({ cpuMillis: 10_000n }), {}));
    expect(exact.granted.cpuMillis).toBe(10_000n);
    expect(exact.claimed.cpuMillis).toBe(10_000n);
  });
});

describe("what other clusters' entries take of the budget", () => {
  it('is their grant while their lease holds, or their claim where it is larger', () => {
    const ledger = budget({ gpus: 100n }, {
      a: entry({ gpus: 50n }, { gpus: 50n }),
      b: entry({ gpus: 40n }, { gpus: 10n }),
      c: entry({ gpus: 5n }, { gpus: 20n }),
    });
    expect(othersHeld(ledger, 'a', NOW).gpus).toBe(40n + 20n);
    expect(held(ledger.clusters['b'] ?? entry({}, {}), NOW).gpus).toBe(40n);
  });

  it('is only their claim once their lease expired: a dead cluster gives back its grant less its claim', () => {
    // It claimed 20 and last said it used 5: it may have admitted 20 since, so 20 stay counted.
    const dead = { b: entry({ gpus: 60n }, { gpus: 20n }, -1, { gpus: 5n }) };
    expect(othersHeld(budget({ gpus: 100n }, dead), 'a', NOW).gpus).toBe(20n);
    // 80 GPUs are free: all of them may be granted, not one GPU of the dead cluster's claim.
    expect(granted(grantFor(budget({ gpus: 100n }, dead), 'a', NOW, amounts({ gpus: 80n }), {})).granted.gpus).toBe(80n);
    expect(refused(grantFor(budget({ gpus: 100n }, dead), 'a', NOW, amounts({ gpus: 81n }), {}))).toContain('other clusters hold or use 20 GPUs');
    // The lease ends at expiresAt itself.
    const endsNow = { b: entry({ gpus: 60n }, { gpus: 20n }, 0, { gpus: 5n }) };
    expect(othersHeld(budget({ gpus: 100n }, endsNow), 'a', NOW).gpus).toBe(20n);
    expect(othersHeld(budget({ gpus: 100n }, endsNow), 'a', NOW - 1).gpus).toBe(60n);
  });

  it("leaves the asking cluster's own entry out", () => {
    expect(othersHeld(budget({ gpus: 100n }, { a: entry({ gpus: 30n }, { gpus: 30n }) }), 'a', NOW)).toEqual(NO_AMOUNTS);
  });
});

describe('a need the budget cannot cover', () => {
  it('is refused, naming the budget, each amount in words, and what other clusters hold', () => {
    const limits = { cpuMillis: 4000n, memoryBytes: 8n * GiB, gpus: 8n, monthlyCostMicros: 100n * UNIT };
    const others = { b: entry({ cpuMillis: 2500n, memoryBytes: 5n * GiB, gpus: 6n, monthlyCostMicros: 87n * UNIT + 500_000n }, {}) };
    const needed = amounts({ cpuMillis: 2000n, memoryBytes: 4n * GiB, gpus: 3n, monthlyCostMicros: 20n * UNIT });
    expect(refused(grantFor(budget(limits, others, 'EUR'), 'a', NOW, needed, {}))).toBe(
      'fleet budget ml-training is spent: ' +
        'this cluster needs 2 CPU in all, and 1500m CPU of 4 CPU is left to grant (other clusters hold or use 2500m CPU); ' +
        'this cluster needs 4Gi memory in all, and 3Gi memory of 8Gi memory is left to grant (other clusters hold or use 5Gi memory); ' +
        'this cluster needs 3 GPUs in all, and 2 GPUs of 8 GPUs is left to grant (other clusters hold or use 6 GPUs); ' +
        'this cluster needs 20.00 EUR a month in all, and 12.50 EUR a month of 100.00 EUR a month is left to grant (other clusters hold or use 87.50 EUR a month)',
    );
  });

  it('is refused as a whole when one amount does not fit, naming only that amount', () => {
    const others = { b: entry({ gpus: 7n }, {}) };
    const message = refused(grantFor(budget({ cpuMillis: 100_000n, gpus: 8n }, others), 'a', NOW, amounts({ cpuMillis: 1000n, gpus: 2n }), {}));
    expect(message).toBe('fleet budget ml-training is spent: this cluster needs 2 GPUs in all, and 1 GPU of 8 GPUs is left to grant (other clusters hold or use 7 GPUs)');
  });

  it('says nothing is left, not a negative amount, when others hold more than the limit (it was lowered)', () => {
    const others = { b: entry({ gpus: 12n }, { gpus: 12n }) };
    expect(refused(grantFor(budget({ gpus: 10n }, others), 'a', NOW, amounts({ gpus: 1n }), {}))).toContain('0 GPUs of 10 GPUs is left to grant (other clusters hold or use 12 GPUs)');
  });
});

describe('what grantFor leaves alone', () => {
  it('never grants nor refuses an amount the budget does not limit', () => {
    const mine = { a: entry({ cpuMillis: 5000n, gpus: 4n }, { cpuMillis: 3000n, gpus: 2n }) };
    // Only GPUs are limited: a need of a million cores is neither refused nor granted.
    const outcome = granted(grantFor(budget({ gpus: 10n }, mine), 'a', NOW, amounts({ cpuMillis: 1_000_000_000n, memoryBytes: 64n * GiB, gpus: 3n }), {}));
    expect(outcome.granted.cpuMillis).toBe(5000n);
    expect(outcome.claimed.cpuMillis).toBe(3000n);
    expect(outcome.granted.memoryBytes).toBe(0n);
    expect(outcome.claimed.memoryBytes).toBe(0n);
    const first = granted(grantFor(budget({ gpus: 10n }), 'a', NOW, amounts({ cpuMillis: 1_000_000_000n, gpus: 1n }), {}));
    expect(first.granted.cpuMillis).toBe(0n);
    expect(first.claimed.cpuMillis).toBe(0n);
  });

  it('changes nothing for a need within the claim while the lease holds', () => {
    const mine = { a: entry({ gpus: 6n }, { gpus: 4n }) };
    for (const gpus of [0n, 3n, 4n]) {
      expect(grantFor(budget({ gpus: 10n }, mine), 'a', NOW, amounts({ gpus }), {})).toEqual({ granted: amounts({ gpus: 6n }), claimed: amounts({ gpus: 4n }), changed: false });
    }
    // Within the claim is what counts, not what the cluster last said it used.
    const claimedMore = { a: entry({ gpus: 6n }, { gpus: 4n }, LEASE_MS, { gpus: 1n }) };
    expect(grantFor(budget({ gpus: 10n }, claimedMore), 'a', NOW, amounts({ gpus: 3n }), {})).toEqual({ granted: amounts({ gpus: 6n }), claimed: amounts({ gpus: 4n }), changed: false });
  });

  it('re-grants an expired entry at least its claim, even with nothing free, and says it changed', () => {
    // b took all the rest while a was away: a still has its claim, which the others counted.
    const ledger = budget({ gpus: 10n }, { a: entry({ gpus: 6n }, { gpus: 4n }, -1), b: entry({ gpus: 6n }, { gpus: 6n }) });
    expect(currentGrant(ledger, 'a', NOW)).toEqual(NO_AMOUNTS);
    expect(granted(grantFor(ledger, 'a', NOW, amounts({ gpus: 3n }), {}))).toEqual({ granted: amounts({ gpus: 4n }), claimed: amounts({ gpus: 4n }), changed: true });
    // Beyond its claim, it asks again from what is free: only its own claim is left.
    expect(refused(grantFor(ledger, 'a', NOW, amounts({ gpus: 5n }), {}))).toContain('needs 5 GPUs in all, and 4 GPUs of 10 GPUs is left to grant (other clusters hold or use 6 GPUs)');
  });

  it('re-grants an expired entry from what is free, not from its old grant', () => {
    const ledger = budget({ gpus: 100n }, { a: entry({ gpus: 60n }, { gpus: 10n }, -1), b: entry({ gpus: 70n }, { gpus: 0n }) });
    // 30 are free (a's expired grant of 60 is gone): need 25 plus a step of 10, capped at 30.
    expect(granted(grantFor(ledger, 'a', NOW, amounts({ gpus: 25n }), {}))).toEqual({ granted: amounts({ gpus: 30n }), claimed: amounts({ gpus: 30n }), changed: true });
  });

  it('never shrinks a grant that holds, even once others hold more than the limit leaves it', () => {
    // The limit was lowered to 40; a holds 50, b uses 30.
    const ledger = budget({ gpus: 40n }, { a: entry({ gpus: 50n }, { gpus: 10n }), b: entry({ gpus: 30n }, { gpus: 30n }) });
    const within = granted(grantFor(ledger, 'a', NOW, amounts({ gpus: 30n }), {}));
    expect(within.granted.gpus).toBe(50n);
    expect(within.claimed.gpus).toBe(32n); // 30 and half a step of 4
    expect(within.changed).toBe(true);
    // Beyond its grant, nothing is free: refused, and the grant is left as it is.
    expect(refused(grantFor(ledger, 'a', NOW, amounts({ gpus: 51n }), {}))).toContain('this cluster needs 51 GPUs in all');
  });

  it('raises a grant only upwards: a need beyond it takes its need plus a step from what is free', () => {
    const ledger = budget({ gpus: 100n }, { a: entry({ gpus: 20n }, { gpus: 15n }), b: entry({ gpus: 50n }, { gpus: 50n }) });
    expect(granted(grantFor(ledger, 'a', NOW, amounts({ gpus: 25n }), {}))).toEqual({ granted: amounts({ gpus: 35n }), claimed: amounts({ gpus: 30n }), changed: true });
  });
});

describe('the history of daily samples', () => {
  const day = (date: string, gpus: bigint, cpuMillis = 0n): UsageSample => ({ date, used: amounts({ gpus, cpuMillis }) });

  it("raises today's sample to the use, never lowers it", () => {
    const history = [day('2026-12-05', 9n), day('2026-12-06', 5n, 100n)];
    expect(withSample(history, amounts({ gpus: 3n, cpuMillis: 500n }), NOW)).toEqual([day('2026-12-05', 9n), day('2026-12-06', 5n, 500n)]);
    expect(withSample([], amounts({ gpus: 2n }), NOW)).toEqual([day('2026-12-06', 2n)]);
  });

  it('keeps at most the last 31 days, sorted by date', () => {
    const days = Array.from({ length: 40 }, (_, index) => day(new Date(NOW - (index + 1) * 86_400_000).toISOString().slice(0, 10), BigInt(index)));
    const shuffled = [...days.filter((_, index) => index % 2 === 1), ...days.filter((_, index) => index % 2 === 0)];
    const kept = withSample(shuffled, amounts({ gpus: 1n }), NOW);
    expect(HISTORY_DAYS).toBe(31);
    expect(kept).toHaveLength(31);
    expect(kept.at(-1)).toEqual(day('2026-12-06', 1n));
    expect(kept[0]?.date).toBe('2026-11-06');
    expect(kept.map((sample) => sample.date)).toEqual(kept.map((sample) => sample.date).sort());
  });

  it('writes an entry whose lease holds for the lease from now, with where the cluster runs and the history of its use', () => {
    const previous = { ...entry({ gpus: 4n }, { gpus: 2n }, -1), history: [day('2026-12-05', 2n)] };
    const written = entryFor(previous, amounts({ gpus: 6n }), amounts({ gpus: 5n }), amounts({ gpus: 3n }), NOW, LEASE_MS, { region: 'us-east-1', provider: 'gcp' });
    expect(written).toEqual({
      granted: amounts({ gpus: 6n }),
      claimed: amounts({ gpus: 5n }),
      used: amounts({ gpus: 3n }),
      expiresAt: '2026-12-06T12:05:00.000Z',
      updatedAt: '2026-12-06T12:00:00.000Z',
      region: 'us-east-1',
      provider: 'gcp',
      history: [day('2026-12-05', 2n), day('2026-12-06', 3n)],
    });
    expect(entryFor(undefined, amounts(), amounts(), amounts(), NOW, 0, WHERE).expiresAt).toBe('2026-12-06T12:00:00.000Z');
  });
});

/** mulberry32: a small seeded generator, so that a failure names the seed that reproduces it. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the ledger, whatever the clusters ask for', () => {
  const CLUSTERS = ['a', 'b', 'c'] as const;
  const LIMITS: FleetLimits[] = [{ gpus: 8n }, { gpus: 16n, cpuMillis: 64_000n }, { cpuMillis: 10_000n, memoryBytes: 40n * GiB, gpus: 3n, monthlyCostMicros: 5000n * UNIT }, { memoryBytes: 1n }];

  function sumHeld(ledger: FleetBudget, now: number): FleetAmounts {
    const total = amounts();
    for (const grant of Object.values(ledger.clusters)) {
      const takes = held(grant, now);
      for (const key of AMOUNT_KEYS) total[key] += takes[key];
    }
    return total;
  }

  it('never holds more than the limit, counted over every cluster, as needs are granted one at a time', () => {
    const RUNS = 250;
    const STEPS = 40;
    for (let seed = 1; seed <= RUNS; seed += 1) {
      const next = random(seed);
      const below = (max: bigint): bigint => (max <= 0n ? 0n : BigInt(Math.floor(next() * (Number(max) + 1))));
      const limits = LIMITS[seed % LIMITS.length] ?? {};
      const limitOf = (key: (typeof AMOUNT_KEYS)[number]): bigint => limits[key] ?? 1000n;
      // A ledger within the limit: each cluster holds a part of what the others left, under a lease
      // that holds, expired, or is about to; an expired grant may be anything (it no longer counts).
      const ledger = budget(limits);
      const left = amounts();
      for (const key of AMOUNT_KEYS) left[key] = limitOf(key);
      for (const cluster of CLUSTERS) {
        if (next() < 0.25) continue;
        const expiresIn = Math.floor((next() - 0.4) * LEASE_MS);
        const grantAmounts = amounts();
        const claimAmounts = amounts();
        for (const key of AMOUNT_KEYS) {
          const part = below(left[key] / 2n);
          left[key] -= part;
          if (expiresIn > 0) {
            // held = max(granted, claimed) = part
            grantAmounts[key] = next() < 0.8 ? part : below(part);
            claimAmounts[key] = grantAmounts[key] === part ? below(part) : part;
          } else {
            claimAmounts[key] = part;
            grantAmounts[key] = below(limitOf(key) * 2n);
          }
        }
        ledger.clusters[cluster] = entry(grantAmounts, claimAmounts, expiresIn);
      }
      const shares: FleetLimits = next() < 0.5 ? {} : Object.fromEntries(AMOUNT_KEYS.map((key) => [key, below(limitOf(key) / 3n)]));
      let now = NOW;
      for (let step = 0; step < STEPS; step += 1) {
        const where = `seed ${seed}, step ${step}`;
        now += Math.floor(next() * next() * LEASE_MS * 1.2);
        const cluster = CLUSTERS[Math.floor(next() * CLUSTERS.length)] ?? 'a';
        const before = ledger.clusters[cluster];
        const needed = amounts();
        for (const key of AMOUNT_KEYS) needed[key] = next() < 0.3 ? (before?.claimed[key] ?? 0n) : below((limitOf(key) * 6n) / 5n);
        const outcome = grantFor(ledger, cluster, now, needed, shares);
        if ('refused' in outcome) {
          // Refused only when some amount the budget limits cannot be covered from what is free.
          const others = othersHeld(ledger, cluster, now);
          const mine = currentGrant(ledger, cluster, now);
          const claim = before?.claimed ?? NO_AMOUNTS;
          const uncovered = AMOUNT_KEYS.some((key) => limits[key] !== undefined && needed[key] > claim[key] && needed[key] > mine[key] && needed[key] > (limits[key] ?? 0n) - others[key]);
          expect(uncovered, `${where}: ${outcome.refused}`).toBe(true);
        } else {
          for (const key of AMOUNT_KEYS) {
            if (limits[key] !== undefined) expect(outcome.claimed[key] >= needed[key], `${where}: the claim covers the need of ${key}`).toBe(true);
            expect(outcome.granted[key] >= outcome.claimed[key], `${where}: the grant covers the claim of ${key}`).toBe(true);
            expect(outcome.claimed[key] >= (before?.claimed[key] ?? 0n), `${where}: the claim of ${key} never comes down here`).toBe(true);
            // A grant that holds never shrinks; an expired one is taken again at least as far as its claim.
            if (before) expect(outcome.granted[key] >= held(before, now)[key], `${where}: the grant of ${key} never falls below what the entry held`).toBe(true);
          }
          // What it uses is no more than its need (the request that waited may yet be denied elsewhere).
          const used = amounts(Object.fromEntries(AMOUNT_KEYS.map((key) => [key, below(needed[key])])));
          if (outcome.changed) ledger.clusters[cluster] = entryFor(before, outcome.granted, outcome.claimed, used, now, LEASE_MS, WHERE);
          else expect(before !== undefined && now < Date.parse(before.expiresAt), `${where}: only an entry that holds may be left as it is`).toBe(true);
        }
        for (const at of [now, now + LEASE_MS / 2, now + LEASE_MS * 2]) {
          const total = sumHeld(ledger, at);
          for (const key of AMOUNT_KEYS) {
            const limit = limits[key];
            if (limit !== undefined) expect(total[key] <= limit, `${where}: the clusters hold ${total[key]} of ${limit} ${key}`).toBe(true);
          }
        }
      }
    }
  });
});
