// Supply chain: image sources, digests and cosign signatures, judged by policies/supply-chain/.
export { globToRegExp, readSupplyChainData, type SupplyChainData, type TrustRule } from './data.js';
export { imagesOf, type ParsedImage } from '../../kubernetes/objects/images.js';
export { supplyChainProvider, type SupplyChainInputs } from './provider.js';
export { ImageEnricher, lookUpImages, type EnricherOptions } from './enrich.js';
export {
  allowedSourcesFor,
  digestRequired,
  lookupNeeds,
  deriveSupplyChain,
  supplyChainFacts,
  trustRuleFor,
  type ImageLookup,
  type LookupNeeds,
  type SupplyChainFacts,
} from './facts.js';
