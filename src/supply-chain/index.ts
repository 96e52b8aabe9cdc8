// Supply chain: image sources, digests and cosign signatures, judged by policies/supply-chain/.
export { globToRegExp, readSupplyChainData, type SupplyChainData, type TrustRule } from './data.js';
export { ImageEnricher, lookUpImages, type EnricherOptions } from './enrich.js';
export {
  allowedSourcesFor,
  digestRequired,
  imagesOf,
  lookupNeeds,
  supplyChainFacts,
  trustRuleFor,
  type ImageLookup,
  type LookupNeeds,
  type ParsedImage,
  type SupplyChainFacts,
} from './facts.js';
