// The supply chain as a fact source: data/supply-chain.yaml and the registries' answers (gathered
// before, within the request's deadline: enrich.ts), `context.supplyChain`.
import type { FactProvider } from '../provider.js';
import { readSupplyChainData, SUPPLY_CHAIN_DATA, type SupplyChainData } from './data.js';
import { deriveSupplyChain, type SupplyChainFacts, type SupplyChainInputs } from './facts.js';

export type { SupplyChainInputs } from './facts.js';

export const supplyChainProvider: FactProvider<SupplyChainData, SupplyChainInputs, SupplyChainFacts> = {
  name: 'supply-chain',
  dataKeys: ['supply-chain'],
  dataSchemas: { 'supply-chain': SUPPLY_CHAIN_DATA },
  contextAttribute: 'supplyChain',
  read: (data) => (data['supply-chain'] === undefined ? { problems: [] } : readSupplyChainData(data['supply-chain'])),
  derive: deriveSupplyChain,
};
