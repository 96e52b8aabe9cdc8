// The supply chain as a fact source: data/supply-chain.yaml and the registries' answers (gathered
// before, within the request's deadline: enrich.ts), `context.supplyChain`.
import { judgedObject } from '../../kubernetes/admission/index.js';
import type { FactProvider } from '../provider.js';
import type { FleetFacts } from '../../kubernetes/objects/fleet.js';
import { supplyChainImagesOf } from '../../kubernetes/objects/images.js';
import { readSupplyChainData, SUPPLY_CHAIN_DATA, type SupplyChainData } from './data.js';
import { supplyChainFacts, type ImageLookup, type SupplyChainFacts } from './facts.js';

export interface SupplyChainInputs extends FleetFacts {
  /** What registries said about the request's images, by normalised reference. */
  imageLookups?: ReadonlyMap<string, ImageLookup>;
  /** The data class sovereignty derived: data classes can require digests or narrow the sources. */
  sovereignty?: { dataClass: string };
}

export const supplyChainProvider: FactProvider<SupplyChainData, SupplyChainInputs, SupplyChainFacts> = {
  name: 'supply-chain',
  dataKeys: ['supply-chain'],
  dataSchemas: { 'supply-chain': SUPPLY_CHAIN_DATA },
  contextAttribute: 'supplyChain',
  read: (data) => (data['supply-chain'] === undefined ? { problems: [] } : readSupplyChainData(data['supply-chain'])),
  derive: (request, data, inputs) => {
    if (!data) return undefined;
    const images = supplyChainImagesOf(request.kind.group, request.kind.kind, judgedObject(request));
    return supplyChainFacts(data, images, inputs.imageLookups ?? new Map(), inputs.sovereignty?.dataClass, inputs.cluster);
  },
};
