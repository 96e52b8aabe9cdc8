// The checks a mutated object must pass before its patch is sent: the API server would refuse an object
// that fails them, and a webhook must never be the reason a valid request becomes an invalid one.
import { parseQuantityMilli } from '../../kubernetes/quantity/index.js';
import { CONTAINER_LISTS, podMetadataPath, podSpecPath, asArray, asRecord, type JsonRecord } from '../../kubernetes/objects/index.js';
import { labelKeyProblem, labelValueProblem } from './kubernetes-names.js';
import { valueAt } from './writes.js';

function metadataProblems(metadata: JsonRecord, where: string): string[] {
  const problems: string[] = [];
  for (const field of ['labels', 'annotations'] as const) {
    const map = metadata[field];
    if (map === undefined || map === null) continue;
    if (typeof map !== 'object' || Array.isArray(map)) {
      problems.push(`${where}.${field} is not a map`);
      continue;
    }
    for (const [key, value] of Object.entries(map)) {
      if (typeof value !== 'string') problems.push(`${where}.${field}["${key}"] is not a string`);
      const problem = labelKeyProblem(key) ?? (field === 'labels' && typeof value === 'string' ? labelValueProblem(value) : undefined);
      if (problem) problems.push(`${where}.${field}: ${problem}`);
    }
  }
  return problems;
}

/** parseQuantityMilli, once per distinct quantity: a pod's containers mostly repeat the same few. */
type Quantities = (text: string) => number | undefined;

function quantityReader(): Quantities {
  const known = new Map<string, number | undefined>();
  return (text) => {
    if (known.has(text)) return known.get(text);
    const milli = parseQuantityMilli(text);
    known.set(text, milli);
    return milli;
  };
}

function resourceProblems(container: JsonRecord, where: string, milliOf: Quantities): string[] {
  const problems: string[] = [];
  const resources = asRecord(container['resources']);
  const requests = asRecord(resources['requests']);
  const limits = asRecord(resources['limits']);
  for (const [field, map] of [['requests', requests], ['limits', limits]] as const) {
    for (const [resource, quantity] of Object.entries(map)) {
      if (typeof quantity !== 'string' && typeof quantity !== 'number') problems.push(`${where}.resources.${field}.${resource} is not a quantity`);
      else if (milliOf(String(quantity)) === undefined) problems.push(`${where}.resources.${field}.${resource}: "${quantity}" is not a quantity`);
    }
  }
  for (const [resource, limit] of Object.entries(limits)) {
    const request = requests[resource];
    if (request === undefined) continue;
    const requestMilli = milliOf(String(request));
    const limitMilli = milliOf(String(limit));
    if (requestMilli !== undefined && limitMilli !== undefined && requestMilli > limitMilli) {
      problems.push(`${where}.resources: the ${resource} request ${String(request)} is above its limit ${String(limit)}`);
    }
  }
  return problems;
}

/** What is wrong with the mutated object, compared with the object the request carried. */
export function mutatedObjectProblems(original: unknown, mutated: unknown, group: string, kind: string): string[] {
  if (typeof mutated !== 'object' || mutated === null || Array.isArray(mutated)) return ['the result is not an object'];
  const before = asRecord(original);
  const after = mutated as JsonRecord;
  const problems: string[] = [];
  for (const field of ['apiVersion', 'kind'] as const) {
    if (after[field] !== before[field]) problems.push(`${field} changed from ${JSON.stringify(before[field])} to ${JSON.stringify(after[field])}`);
  }
  const metadataBefore = asRecord(before['metadata']);
  const metadata = after['metadata'];
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return [...problems, 'metadata is not a map'];
  for (const field of ['name', 'namespace', 'generateName'] as const) {
    if ((metadata as JsonRecord)[field] !== metadataBefore[field]) problems.push(`metadata.${field} changed: a mutation must not rename an object`);
  }
  problems.push(...metadataProblems(metadata as JsonRecord, 'metadata'));
  const podMetadata = podMetadataPath(group, kind);
  if (podMetadata && podMetadata.length > 1) {
    problems.push(...metadataProblems(asRecord(valueAt(after, podMetadata)), podMetadata.join('.')));
  }
  const specPath = podSpecPath(group, kind);
  if (specPath) {
    const quantities = quantityReader();
    const spec = valueAt(after, specPath);
    for (const list of CONTAINER_LISTS) {
      const containers = asRecord(spec)[list];
      if (containers !== undefined && !Array.isArray(containers)) problems.push(`${list} is not a list`);
      asArray(containers).forEach((container, index) => {
        const where = `${list}[${index}]`;
        if (typeof container !== 'object' || container === null || Array.isArray(container)) {
          problems.push(`${where} is not a container`);
          return;
        }
        const record = container as JsonRecord;
        if (typeof record['name'] !== 'string' || record['name'] === '') problems.push(`${where} has no name`);
        if (list !== 'ephemeralContainers' || record['image'] !== undefined) {
          if (typeof record['image'] !== 'string' || record['image'] === '') problems.push(`${where} has no image`);
        }
        problems.push(...resourceProblems(record, where, quantities));
      });
    }
  }
  return problems;
}
