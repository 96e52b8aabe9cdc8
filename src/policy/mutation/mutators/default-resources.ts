// default-resources: CPU and memory requests and limits for containers that have none, like a
// LimitRange's defaults but reviewed as policy. A request is not added where a limit exists (Kubernetes
// then uses the limit as the request), and a limit is not added below an existing request (the pod would
// be invalid).
import { podSpecPath, asArray, asRecord } from '../../../kubernetes/objects/index.js';
import { parseQuantityMilli } from '../../../kubernetes/quantity/index.js';
import { valueAt, type Write } from '../writes.js';
import { isTemplate, paramsRecord } from './params.js';
import { isPodUpdate, MutatorParamsError, type Mutator } from './types.js';

export interface DefaultResourcesParams {
  requests: Record<string, string>;
  limits: Record<string, string>;
}

/** Containers that can carry resources: ephemeral containers cannot. */
const LISTS = ['initContainers', 'containers'] as const;

function quantities(value: unknown, what: string, templated: boolean): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MutatorParamsError(`${what} must be a map`);
  const out: Record<string, string> = {};
  for (const [resource, quantity] of Object.entries(value)) {
    const text = typeof quantity === 'number' ? String(quantity) : quantity;
    if (templated && isTemplate(text)) {
      out[resource] = text as string;
      continue;
    }
    if (typeof text !== 'string' || parseQuantityMilli(text) === undefined) {
      throw new MutatorParamsError(`${what}.${resource} must be a Kubernetes quantity such as 100m or 128Mi, got ${JSON.stringify(quantity)}`);
    }
    out[resource] = text;
  }
  return out;
}

const has = (map: Record<string, unknown>, key: string) => map[key] !== undefined && map[key] !== null;

export const defaultResources: Mutator<DefaultResourcesParams> = {
  name: 'default-resources',
  summary: 'default CPU / memory requests and limits on containers that have none',
  parse(raw, { templated }) {
    const params = paramsRecord(raw, 'default-resources', ['requests', 'limits']);
    const requests = quantities(params['requests'], 'requests', templated);
    const limits = quantities(params['limits'], 'limits', templated);
    if (Object.keys(requests).length + Object.keys(limits).length === 0) {
      throw new MutatorParamsError('default-resources needs requests or limits');
    }
    return { requests, limits };
  },
  writes(target, params) {
    const { object, group, kind } = target;
    const specPath = podSpecPath(group, kind);
    if (!specPath || isPodUpdate(target)) return [];
    const spec = asRecord(valueAt(object, specPath));
    const requested = Object.entries(params.requests);
    const limited = Object.entries(params.limits).map(([resource, quantity]) => [resource, quantity, parseQuantityMilli(quantity)] as const);
    const writes: Write[] = [];
    for (const list of LISTS) {
      asArray(spec[list]).forEach((entry, index) => {
        if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return;
        const resources = asRecord(asRecord(entry)['resources']);
        const requests = asRecord(resources['requests']);
        const limits = asRecord(resources['limits']);
        const at = (field: string, resource: string) => [...specPath, list, String(index), 'resources', field, resource];
        for (const [resource, quantity] of requested) {
          if (!has(requests, resource) && !has(limits, resource)) writes.push({ kind: 'set', tokens: at('requests', resource), value: quantity });
        }
        for (const [resource, quantity, limit] of limited) {
          if (has(limits, resource)) continue;
          const request = has(requests, resource) ? parseQuantityMilli(String(requests[resource])) : undefined;
          if (request !== undefined && limit !== undefined && request > limit) continue;
          writes.push({ kind: 'set', tokens: at('limits', resource), value: quantity });
        }
      });
    }
    return writes;
  },
  staticWrites(params) {
    return [
      ...Object.entries(params.requests).map(([resource, value]) => ({ key: `requests:${resource}`, value })),
      ...Object.entries(params.limits).map(([resource, value]) => ({ key: `limits:${resource}`, value })),
    ];
  },
};
