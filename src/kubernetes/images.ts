// The images of a pod spec, wherever it sits, parsed as the container runtime reads them: for the
// Workload entity's image facts and for supply-chain look-ups alike.
import { parseImageReference, ReferenceError, type ImageReference } from '../oci/index.js';
import { asArray, asRecord } from './json.js';
import { CONTAINER_LISTS, podSpecOf, podSpecPath } from './workload.js';

export interface ParsedImage {
  written: string;
  reference?: ImageReference;
  error?: string;
}

/** Every image of a pod or pod template, parsed. */
export function imagesOf(group: string, kind: string, object: unknown): ParsedImage[] {
  if (!podSpecPath(group, kind)) return [];
  const spec = podSpecOf(group, kind, object);
  const written = new Set<string>();
  for (const list of CONTAINER_LISTS) {
    for (const container of asArray(spec[list])) {
      const image = asRecord(container)['image'];
      if (typeof image === 'string' && image) written.add(image);
    }
  }
  return [...written].map((image) => {
    try {
      return { written: image, reference: parseImageReference(image) };
    } catch (error) {
      if (error instanceof ReferenceError) return { written: image, error: error.message };
      throw error;
    }
  });
}
