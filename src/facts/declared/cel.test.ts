// The Kubernetes list and string functions Canopy registers beside the library's own.
import { describe, expect, it } from 'vitest';
import { compileExpression, toCel, type CelVariables } from './cel.js';

const variables = (object: unknown): CelVariables => ({ object: toCel(object), oldObject: null, request: null, namespaceObject: null, params: null, podSpec: null, containers: [], inventory: null });
const service = { spec: { ports: [{ port: 80, name: 'http' }, { port: 443, name: 'https' }, { port: 8080, name: 'alt' }] } };
const run = (expression: string) => compileExpression(expression).evaluate(variables(service));

describe('CEL functions of the Kubernetes list library', () => {
  it.each([
    ['object.spec.ports.map(p, p.port).sum()', 8603n],
    ['object.spec.ports.map(p, p.port).max()', 8080n],
    ['object.spec.ports.map(p, p.port).min()', 80n],
    ["object.spec.ports.map(p, p.name).min()", 'alt'],
    ['object.spec.ports.map(p, p.port).isSorted()', true],
    ["object.spec.ports.map(p, p.name).isSorted()", false],
    ["object.spec.ports.map(p, p.name).indexOf('https')", 1n],
    ["object.spec.ports.map(p, p.name).lastIndexOf('nope')", -1n],
    ['[[1, 2], [3]].flatten()', [1n, 2n, 3n]],
    ["'canopy'.charAt(2)", 'n'],
  ])('%s', (expression, expected) => {
    expect(run(expression)).toEqual(expected);
  });

  it('refuses min() of an empty list, as Kubernetes does', () => {
    expect(() => run('object.spec.ports.filter(p, p.port > 9000).map(p, p.port).min()')).toThrow(/at least one item/);
  });
});
