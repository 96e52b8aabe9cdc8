// Sovereignty as a fact source: data.ts reads data/sovereignty.yaml, facts.ts derives `context.sovereignty`.
import type { FactProvider } from '../provider.js';
import type { FleetFacts } from '../../kubernetes/objects/fleet.js';
import { readSovereigntyData, SOVEREIGNTY_DATA } from './data.js';
import { deriveSovereignty, type SovereigntyData, type SovereigntyFacts } from './facts.js';

/** Sovereignty as a fact source: data/sovereignty.yaml, `context.sovereignty`. */
export const sovereigntyProvider: FactProvider<SovereigntyData, FleetFacts, SovereigntyFacts> = {
  name: 'sovereignty',
  dataKeys: ['sovereignty'],
  dataSchemas: { sovereignty: SOVEREIGNTY_DATA },
  contextAttribute: 'sovereignty',
  read: (data) => (data['sovereignty'] === undefined ? { problems: [] } : readSovereigntyData(data['sovereignty'])),
  derive: deriveSovereignty,
};
