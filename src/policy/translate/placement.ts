// Where a workload's pods may run and where its volumes may be provisioned, as flat facts.
import { asArray, asRecord, asString, type JsonRecord } from '../../kubernetes/objects/json.js';
import { REGION_LABEL, type StorageClassInfo } from '../../kubernetes/objects/fleet.js';
import type { RequestFacts } from './facts.js';

export interface SchedulingFacts {
  regionConstrained: boolean;
  schedulableRegions: string[];
}

/** The regions a node selector requirement on the region label allows, or undefined when it does not restrict. */
function regionsOfRequirement(requirement: JsonRecord): string[] | undefined {
  if (asString(requirement['key']) !== REGION_LABEL || asString(requirement['operator']) !== 'In') return undefined;
  return asArray(requirement['values']).filter((v): v is string => typeof v === 'string');
}

/**
 * A pod spec is region-constrained when its nodeSelector names a region, or when every required node
 * affinity term restricts the region (terms are alternatives: one unrestricted term frees the pod).
 */
export function schedulingFacts(spec: JsonRecord): SchedulingFacts {
  const selector = asRecord(spec['nodeSelector'])[REGION_LABEL];
  const fromSelector = typeof selector === 'string' ? [selector] : undefined;
  const required = asRecord(asRecord(asRecord(spec['affinity'])['nodeAffinity'])['requiredDuringSchedulingIgnoredDuringExecution']);
  const terms = asArray(required['nodeSelectorTerms']);
  let fromAffinity: string[] | undefined;
  if (terms.length > 0) {
    const perTerm = terms.map((term) => {
      // Within a term, requirements are ANDed: the term allows the intersection of its region lists.
      const lists = asArray(asRecord(term)['matchExpressions'])
        .map((requirement) => regionsOfRequirement(asRecord(requirement)))
        .filter((list): list is string[] => list !== undefined);
      if (lists.length === 0) return undefined;
      return lists.reduce((a, b) => a.filter((region) => b.includes(region)));
    });
    if (perTerm.every((list) => list !== undefined)) fromAffinity = [...new Set(perTerm.flat())];
  }
  if (fromSelector && fromAffinity) {
    return { regionConstrained: true, schedulableRegions: fromSelector.filter((r) => fromAffinity.includes(r)) };
  }
  const regions = fromSelector ?? fromAffinity;
  return regions ? { regionConstrained: true, schedulableRegions: regions } : { regionConstrained: false, schedulableRegions: [] };
}

export interface StorageFacts {
  classes: string[];
  regions: string[];
  unconstrained: boolean;
}

export const NO_STORAGE: StorageFacts = { classes: [], regions: [], unconstrained: false };

/** Storage facts of claims (a PVC's spec, or a StatefulSet's volumeClaimTemplates' specs). */
export function storageFacts(claimSpecs: JsonRecord[], facts: RequestFacts): StorageFacts {
  if (claimSpecs.length === 0) return NO_STORAGE;
  const classes = new Set<string>();
  const regions = new Set<string>();
  let unconstrained = false;
  for (const spec of claimSpecs) {
    const named = spec['storageClassName'];
    if (named === '') continue; // "" asks for no class: a statically provisioned volume, no provisioning
    const info: StorageClassInfo | undefined =
      typeof named === 'string' ? facts.storageClass?.(named) : facts.defaultStorageClass?.();
    classes.add(typeof named === 'string' ? named : (info?.name ?? ''));
    if (!info) {
      unconstrained = true;
      continue;
    }
    info.regions.forEach((region) => regions.add(region));
    if (info.regions.length === 0 && !info.waitForFirstConsumer) unconstrained = true;
  }
  return { classes: [...classes].filter(Boolean), regions: [...regions], unconstrained };
}
