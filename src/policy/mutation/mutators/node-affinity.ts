// node-affinity: a required node affinity expression, such as "only nodes in an EU region". Required
// terms are alternatives (ORed) and the expressions inside a term must all hold (ANDed), so the
// expression is added to every existing term — otherwise a pod's own term could place it anywhere.
import { podSpecPath, asArray } from '../../../kubernetes/objects/index.js';
import { valueAt, type Write } from '../writes.js';
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
    const termsPath = [...specPath, ...REQUIRED, 'nodeSelectorTerms'];
    const terms = asArray(valueAt(object, termsPath));
    const into = (index: number): Write => ({ kind: 'append', tokens: [...termsPath, String(index), 'matchExpressions'], value: expression });
    if (terms.length === 0) return [{ kind: 'set', tokens: termsPath, value: [{ matchExpressions: [] }], structural: true }, into(0)];
    return terms.map((_term, index) => into(index));
  },
  // Expressions add up (AND); two mutations never overwrite each other's.
  staticWrites: () => [],
};
