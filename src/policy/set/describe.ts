// A policy set in one line, for start-up output and `canopy validate`.
import type { CheckedPolicySet } from './compile.js';

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** "3 policies, 1 mutation; packs: best-practices (8 enforce, 7 warn), models (off)" */
export function describeSet(set: CheckedPolicySet): string {
  const policies = `${count(set.policies.size, 'policy', 'policies')}, ${count(set.mutations.length, 'mutation', 'mutations')}`;
  return set.packs.length === 0 ? policies : `${policies}; packs: ${set.packs.map(describePack).join(', ')}`;
}

function describePack(pack: CheckedPolicySet['packs'][number]): string {
  if (!pack.enabled) return `${pack.name} (off)`;
  const byMode = new Map<string, number>();
  for (const rule of pack.rules) byMode.set(rule.mode, (byMode.get(rule.mode) ?? 0) + 1);
  const modes = ['enforce', 'warn', 'audit', 'mutation', 'off'].filter((mode) => byMode.has(mode)).map((mode) => `${byMode.get(mode) ?? 0} ${mode === 'mutation' ? 'mutating' : mode}`);
  return `${pack.name} (${modes.join(', ') || 'no rules'})`;
}
