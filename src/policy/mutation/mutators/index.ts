// The built-in mutators a mutation policy can name with @mutator("...").
import { defaultResources } from './default-resources.js';
import { nodeAffinity } from './node-affinity.js';
import { replaceImage } from './replace-image.js';
import { setMetadata } from './set-metadata.js';
import type { Mutator } from './types.js';

export { MutatorParamsError, type Mutator, type MutationTarget, type StaticWrite } from './types.js';

// Each mutator checks its own params, so the registry can hold them under one params type.
export const MUTATORS: ReadonlyMap<string, Mutator<unknown>> = new Map(
  ([setMetadata, defaultResources, nodeAffinity, replaceImage] as Mutator<never>[]).map((m) => [m.name, m as Mutator<unknown>]),
);
