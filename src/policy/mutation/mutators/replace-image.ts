// replace-image: replace image references as written, in every container (init and ephemeral too):
// pin a tag to a digest, or move an image to a mirror. In a KServe InferenceService, its components'
// containers and its models' storageUri (an `oci://` model is an image: `oci://…:1.0@sha256:…`).
import { CONTAINER_LISTS, inferenceServiceContainers, inferenceServiceModels, isInferenceService, podSpecPath, asArray, asRecord } from '../../../kubernetes/objects/index.js';
import { valueAt, type Write } from '../writes.js';
import { paramsRecord, stringMap } from './params.js';
import { MutatorParamsError, type Mutator } from './types.js';

export interface ReplaceImageParams {
  images: Record<string, string>;
}

export const replaceImage: Mutator<ReplaceImageParams> = {
  name: 'replace-image',
  summary: 'replace image references (for example a tag by its digest) in every container',
  parse(raw, { templated }) {
    const params = paramsRecord(raw, 'replace-image', ['images']);
    if (params['images'] === undefined) throw new MutatorParamsError('replace-image needs images: a map from reference to replacement');
    // An empty map is allowed: a templated map (digest pins) may have nothing to replace.
    const images = stringMap(params['images'], 'images', templated, (_from, to) => (to === '' ? 'the replacement is empty' : undefined));
    return { images };
  },
  writes({ object, group, kind }, params) {
    if (isInferenceService(group, kind)) {
      return [...inferenceServiceContainers(object), ...inferenceServiceModels(object)].flatMap(({ path, value }) => {
        const replacement = params.images[value];
        return replacement !== undefined && replacement !== value ? [{ kind: 'set' as const, tokens: path, value: replacement }] : [];
      });
    }
    const specPath = podSpecPath(group, kind);
    if (!specPath) return [];
    const spec = asRecord(valueAt(object, specPath));
    const writes: Write[] = [];
    for (const list of CONTAINER_LISTS) {
      asArray(spec[list]).forEach((entry, index) => {
        const image = asRecord(entry)['image'];
        const replacement = typeof image === 'string' ? params.images[image] : undefined;
        if (replacement !== undefined && replacement !== image) {
          writes.push({ kind: 'set', tokens: [...specPath, list, String(index), 'image'], value: replacement });
        }
      });
    }
    return writes;
  },
  staticWrites(params) {
    return Object.entries(params.images).map(([from, to]) => ({ key: `image:${from}`, value: to }));
  },
};
