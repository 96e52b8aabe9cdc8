// The images of a pod spec, wherever it sits, parsed as the container runtime reads them: for the
// Workload entity's image facts and for supply-chain look-ups alike.
import { parseImageReference, ImageReferenceError, type ImageReference } from '../../sources/oci/index.js';
import { inferenceServiceContainers, inferenceServiceModels, isInferenceService, OCI_SCHEME } from './inference-services.js';
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
  return [...written].map((image) => parsed(image, image));
}

function parsed(written: string, reference: string): ParsedImage {
  try {
    return { written, reference: parseImageReference(reference) };
  } catch (error) {
    if (error instanceof ImageReferenceError) return { written, error: error.message };
    throw error;
  }
}

/**
 * What supply-chain rules judge of an object: a pod's or pod template's images; a KServe
 * InferenceService's container images and its `oci://` models (written with the scheme, read as the
 * image reference after it).
 */
export function supplyChainImagesOf(group: string, kind: string, object: unknown): ParsedImage[] {
  if (!isInferenceService(group, kind)) return imagesOf(group, kind, object);
  const images = new Map<string, ParsedImage>();
  for (const { value } of inferenceServiceContainers(object)) images.set(value, parsed(value, value));
  for (const { value } of inferenceServiceModels(object)) {
    if (value.startsWith(OCI_SCHEME)) images.set(value, parsed(value, value.slice(OCI_SCHEME.length)));
  }
  return [...images.values()];
}
