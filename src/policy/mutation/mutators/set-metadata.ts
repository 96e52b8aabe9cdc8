// set-metadata: add or overwrite labels and annotations on the object, on the pods it makes (the pod
// template), or both.
import { podMetadataPath } from '../../../kubernetes/objects/index.js';
import { labelKeyProblem, labelValueProblem } from '../kubernetes-names.js';
import { valueAt, type Write } from '../writes.js';
import { paramsRecord, stringMap } from './params.js';
import { MutatorParamsError, type Mutator } from './types.js';

const TARGETS = ['object', 'pods', 'both'] as const;

export interface SetMetadataParams {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  overwrite: boolean;
  target: (typeof TARGETS)[number];
}

export const setMetadata: Mutator<SetMetadataParams> = {
  name: 'set-metadata',
  summary: 'add or overwrite labels and annotations on the object, its pod template, or both',
  parse(raw, { templated }) {
    const params = paramsRecord(raw, 'set-metadata', ['labels', 'annotations', 'overwrite', 'target']);
    const labels = stringMap(params['labels'], 'labels', templated, (key, value) => labelKeyProblem(key) ?? labelValueProblem(value));
    const annotations = stringMap(params['annotations'], 'annotations', templated, (key) => labelKeyProblem(key));
    if (Object.keys(labels).length + Object.keys(annotations).length === 0) {
      throw new MutatorParamsError('set-metadata needs labels or annotations');
    }
    const overwrite = params['overwrite'] ?? true;
    if (typeof overwrite !== 'boolean') throw new MutatorParamsError('overwrite must be true or false');
    const target = params['target'] ?? 'object';
    if (!(TARGETS as readonly unknown[]).includes(target)) throw new MutatorParamsError(`target must be one of ${TARGETS.join(', ')}`);
    return { labels, annotations, overwrite, target: target as SetMetadataParams['target'] };
  },
  writes({ object, group, kind }, params) {
    const places: (readonly string[])[] = [];
    if (params.target !== 'pods') places.push(['metadata']);
    const pods = podMetadataPath(group, kind);
    // For a Pod the pods' metadata is its own: `both` must not write it twice.
    if (params.target !== 'object' && pods && !(params.target === 'both' && pods.length === 1)) places.push(pods);
    const writes: Write[] = [];
    for (const place of places) {
      for (const [field, values] of [['labels', params.labels], ['annotations', params.annotations]] as const) {
        for (const [key, value] of Object.entries(values)) {
          const tokens = [...place, field, key];
          if (!params.overwrite && valueAt(object, tokens) !== undefined) continue;
          writes.push({ kind: 'set', tokens, value });
        }
      }
    }
    return writes;
  },
  staticWrites(params) {
    return (['labels', 'annotations'] as const).flatMap((field) =>
      Object.entries(params[field]).map(([key, value]) => ({ key: `${params.target}:${field}:${key}`, value })),
    );
  },
};
