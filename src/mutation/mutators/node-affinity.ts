// node-affinity: a required node affinity expression, such as "only nodes in an EU region". Required
// terms are alternatives (ORed) and the expressions inside a term must all hold (ANDed), so the
// expression is added to every existing term — otherwise a pod's own term could place it anywhere.
import { podSpecPath, asArray, asRecord } from '../../translate/index.js';
import { isDeepStrictEqual } from 'node:util';
import type { Write } from '../writes.js';
import { isTemplate, paramsRecord } from './params.js';
import { isPodUpdate, MutatorParamsError, type Mutator } from './types.js';

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'] as const;

export interface NodeAffinityParams {
  key: string;
  operator: (typeof OPERATORS)[number];
  values?: string[];
}

const REQUIRED = ['affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution'];

export const nodeAffinity: Mutator<NodeAffinityParams> = {
  name: 'node-affinity',
  summary: 'add a required node affinity expression to every required term of the pod spec',
  parse(raw, { templated }) {
    const params = paramsRecord(raw, 'node-affinity', ['key', 'operator', 'values']);
    const key = params['key'];
    if (typeof key !== 'string' || key === '') throw new MutatorParamsError('key must be a node label key');
    const operator = params['operator'];
    if (!(OPERATORS as readonly unknown[]).includes(operator)) throw new MutatorParamsError(`operator must be one of ${OPERATORS.join(', ')}`);
    const values = params['values'];
    const needsValues = operator !== 'Exists' && operator !== 'DoesNotExist';
    if (!needsValues && values !== undefined) throw new MutatorParamsError(`operator ${String(operator)} takes no values`);
    if (needsValues) {
      const templatedList = templated && isTemplate(values);
      const list = Array.isArray(values) && values.length > 0 && values.every((v) => typeof v === 'string' || (templated && isTemplate(v)));
      if (!templatedList && !list) throw new MutatorParamsError(`operator ${String(operator)} needs values: a non-empty list of strings`);
    }
    return { key, operator: operator as NodeAffinityParams['operator'], ...(needsValues ? { values: values as string[] } : {}) };
  },
  writes(target, params) {
    const { object, group, kind } = target;
    const specPath = podSpecPath(group, kind);
    if (!specPath || isPodUpdate(target)) return [];
    const expression = { key: params.key, operator: params.operator, ...(params.values ? { values: params.values } : {}) };
    let required: unknown = asRecord(object);
    for (const key of [...specPath, ...REQUIRED]) required = asRecord(required)[key];
    const terms = asArray(asRecord(required)['nodeSelectorTerms']);
    if (terms.length === 0) {
      return [{ kind: 'set', tokens: [...specPath, ...REQUIRED, 'nodeSelectorTerms'], value: [{ matchExpressions: [expression] }] }];
    }
    const writes: Write[] = [];
    terms.forEach((term, index) => {
      const expressions = asArray(asRecord(term)['matchExpressions']);
      if (expressions.some((existing) => isDeepStrictEqual(existing, expression))) return;
      writes.push({
        kind: 'set',
        tokens: [...specPath, ...REQUIRED, 'nodeSelectorTerms', String(index), 'matchExpressions'],
        value: [...expressions, expression],
      });
    });
    return writes;
  },
  // Expressions add up (AND); two mutations never overwrite each other's.
  staticWrites: () => [],
};
