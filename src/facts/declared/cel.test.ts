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

describe('toCel', () => {
  it('makes whole numbers CEL ints at any depth, leaves the input as it was, and shares what holds none', () => {
    const metadata = { name: 'web', labels: { app: 'web' }, managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }] };
    const object = { metadata, spec: { replicas: 3, template: { spec: { containers: [{ name: 'a', ports: [{ containerPort: 80 }] }, { name: 'b' }] } } }, ratio: 0.5 };
    const before = structuredClone(object);
    const converted = toCel(object) as typeof object & { spec: { replicas: unknown } };
    expect(converted.spec.replicas).toBe(3n);
    expect(converted.spec.template.spec.containers[0]?.ports?.[0]?.containerPort).toBe(80n);
    expect(converted.ratio).toBe(0.5);
    // Copies only along the paths to a converted number; the rest is the input's own (and unchanged).
    expect(converted.metadata).toBe(metadata);
    expect(converted.spec.template.spec.containers[1]).toBe(object.spec.template.spec.containers[1]);
    expect(object).toEqual(before);
    expect(compileExpression('object.spec.replicas + 1 == 4').evaluate(variables(object))).toBe(true);
  });
});
