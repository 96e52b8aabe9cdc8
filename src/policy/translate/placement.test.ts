import { describe, expect, it } from 'vitest';
import { schedulingFacts, storageFacts } from './placement.js';

const REGION = 'topology.kubernetes.io/region';
const term = (...expressions: object[]) => ({ matchExpressions: expressions });
const affinity = (...terms: object[]) => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } });

describe('where pods may be scheduled', () => {
  it('is anywhere without a region selector or affinity', () => {
    expect(schedulingFacts({})).toEqual({ regionConstrained: false, schedulableRegions: [] });
    expect(schedulingFacts(affinity(term({ key: 'gpu', operator: 'Exists' })))).toEqual({ regionConstrained: false, schedulableRegions: [] });
  });

  it('follows a nodeSelector on the region label', () => {
    expect(schedulingFacts({ nodeSelector: { [REGION]: 'eu-west-3' } })).toEqual({ regionConstrained: true, schedulableRegions: ['eu-west-3'] });
  });

  it('is the union over terms, but unconstrained when one term does not restrict the region', () => {
    const eu = term({ key: REGION, operator: 'In', values: ['eu-central-1'] });
    const fr = term({ key: REGION, operator: 'In', values: ['eu-west-3'] }, { key: 'gpu', operator: 'Exists' });
    expect(schedulingFacts(affinity(eu, fr))).toEqual({ regionConstrained: true, schedulableRegions: ['eu-central-1', 'eu-west-3'] });
    expect(schedulingFacts(affinity(eu, term({ key: 'gpu', operator: 'Exists' }))).regionConstrained).toBe(false);
  });

  it('intersects expressions inside a term, and a selector with the affinity', () => {
    const both = term({ key: REGION, operator: 'In', values: ['a', 'b'] }, { key: REGION, operator: 'In', values: ['b', 'c'] });
    expect(schedulingFacts(affinity(both)).schedulableRegions).toEqual(['b']);
    expect(schedulingFacts({ nodeSelector: { [REGION]: 'a' }, ...affinity(term({ key: REGION, operator: 'In', values: ['a', 'z'] })) }).schedulableRegions).toEqual(['a']);
  });
});

describe('where volumes may be provisioned', () => {
  const classes = {
    storageClass: (name: string) =>
      ({ eu: { name, regions: ['eu-central-1'], waitForFirstConsumer: false, isDefault: true }, wait: { name, regions: [], waitForFirstConsumer: true, isDefault: false } })[name],
    defaultStorageClass: () => ({ name: 'eu', regions: ['eu-central-1'], waitForFirstConsumer: false, isDefault: true }),
  };

  it('reads the classes claims name, the default class for claims that name none, and flags the unknown', () => {
    expect(storageFacts([{ storageClassName: 'eu' }, { storageClassName: 'wait' }], classes)).toEqual({ classes: ['eu', 'wait'], regions: ['eu-central-1'], unconstrained: false });
    expect(storageFacts([{}], classes)).toEqual({ classes: ['eu'], regions: ['eu-central-1'], unconstrained: false });
    expect(storageFacts([{ storageClassName: 'mystery' }], classes).unconstrained).toBe(true);
    expect(storageFacts([{ storageClassName: 'eu' }], {}).unconstrained).toBe(true);
  });
});
