// KServe InferenceServices: the images and models they run. Each component (predictor, transformer,
// explainer) is a pod spec of its own with containers, and a predictor names its model's location in
// storageUri (spec.predictor.model, or a framework field such as spec.predictor.sklearn in the older
// form). An `oci://` location is an OCI image holding the model (KServe's modelcars), pulled like a
// container image: supply-chain rules judge it as one.
import { asArray, asRecord } from './json.js';

export const KSERVE_GROUP = 'serving.kserve.io';
const COMPONENTS = ['predictor', 'transformer', 'explainer'] as const;
/** The predictor's model fields: `model` (KServe 0.8+) and the framework fields of the older form. */
const MODEL_FIELDS = ['model', 'sklearn', 'xgboost', 'tensorflow', 'pytorch', 'triton', 'onnx', 'pmml', 'lightgbm', 'paddle', 'huggingface'] as const;
export const OCI_SCHEME = 'oci://';

/** A string field of an InferenceService, with the path to it (for a patch). */
export interface Located {
  path: string[];
  value: string;
}

export const isInferenceService = (group: string, kind: string): boolean => group === KSERVE_GROUP && kind === 'InferenceService';

/** Every container image of its components, where written. */
export function inferenceServiceContainers(object: unknown): Located[] {
  const spec = asRecord(asRecord(object)['spec']);
  const found: Located[] = [];
  for (const component of COMPONENTS) {
    asArray(asRecord(spec[component])['containers']).forEach((container, index) => {
      const image = asRecord(container)['image'];
      if (typeof image === 'string' && image) found.push({ path: ['spec', component, 'containers', String(index), 'image'], value: image });
    });
  }
  return found;
}

/** Every storageUri of its predictor's model fields, where written. */
export function inferenceServiceModels(object: unknown): Located[] {
  const predictor = asRecord(asRecord(asRecord(object)['spec'])['predictor']);
  const found: Located[] = [];
  for (const field of MODEL_FIELDS) {
    const uri = asRecord(predictor[field])['storageUri'];
    if (typeof uri === 'string' && uri) found.push({ path: ['spec', 'predictor', field, 'storageUri'], value: uri });
  }
  return found;
}
