import { describe, expect, it } from 'vitest';
import { readSovereigntyData, sovereigntyFacts } from './index.js';

const { data } = readSovereigntyData({
  classes: {
    public: { jurisdictions: 'any', regions: 'any' },
    confidential: { jurisdictions: ['EU'], regions: ['eu-central-1', 'eu-west-3'] },
  },
  residencies: { de: { jurisdictions: ['de'], regions: ['eu-central-1'] }, us: { jurisdictions: ['US'], regions: ['us-east-1'] } },
});

describe('sovereignty facts', () => {
  it('are absent when nothing declares a data class', () => {
    expect(sovereigntyFacts(data, { namespaceLabels: { team: 'a' } })).toBeUndefined();
  });

  it('narrow a class by a residency, knowing Germany is in the EU', () => {
    expect(sovereigntyFacts(data, { namespaceLabels: { 'canopy.io/data-class': 'confidential', 'canopy.io/residency': 'de' } })).toEqual({
      dataClass: 'confidential',
      residency: 'de',
      anyJurisdiction: false,
      jurisdictions: ['DE'],
      anyRegion: false,
      regions: ['eu-central-1'],
    });
  });

  it('allow nothing for a residency outside the class, an unknown class or an unknown residency', () => {
    const facts = (labels: Record<string, string>) => sovereigntyFacts(data, { namespaceLabels: labels });
    expect(facts({ 'canopy.io/data-class': 'confidential', 'canopy.io/residency': 'us' })).toMatchObject({ jurisdictions: [], regions: [] });
    expect(facts({ 'canopy.io/data-class': 'secret' })).toMatchObject({ anyJurisdiction: false, jurisdictions: [], anyRegion: false, regions: [] });
    expect(facts({ 'canopy.io/data-class': 'public', 'canopy.io/residency': 'mars' })).toMatchObject({ jurisdictions: [], regions: [] });
  });

  it('treat a label naming an object member ("constructor") as an unknown class, not a crash', () => {
    expect(sovereigntyFacts(data, { namespaceLabels: { 'canopy.io/data-class': 'constructor', 'canopy.io/residency': '__proto__' } })).toMatchObject({ jurisdictions: [], regions: [] });
  });

  it('take the nearest declaration: namespace, then workspace, then its ancestors', () => {
    const workspace = { path: 'root:org-eu:payments', logicalCluster: 'x', labels: { 'root:org-eu': { 'canopy.io/data-class': 'confidential' } } };
    expect(sovereigntyFacts(data, { workspace })?.dataClass).toBe('confidential');
    expect(sovereigntyFacts(data, { workspace, namespaceLabels: { 'canopy.io/data-class': 'public' } })?.anyRegion).toBe(true);
  });

  it('refuse malformed data with the key at fault', () => {
    expect(readSovereigntyData({ classes: { x: { jurisdictions: 'EU' } } }).problems).toEqual(['classes.x.jurisdictions must be "any" or a list of names']);
    expect(readSovereigntyData({ classes: {}, regions: {} }).problems).toEqual(['unknown field regions (sovereignty data has classes and residencies)']);
  });
});
