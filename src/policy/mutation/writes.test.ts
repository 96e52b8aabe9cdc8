import { applyPatch, type Operation } from 'rfc6902';
import { describe, expect, it } from 'vitest';
import { applyOperation, operationsFor, pointerOf, WriteError } from './writes.js';

describe('writes as JSON Patch operations', () => {
  it('escapes "~" and "/" in pointer tokens', () => {
    expect(pointerOf(['metadata', 'labels', 'canopy.io/region'])).toBe('/metadata/labels/canopy.io~1region');
    expect(pointerOf(['a~b', 'c/~d'])).toBe('/a~0b/c~1~0d');
  });

  it('adds what is missing, creating parent maps, and replaces what differs', () => {
    expect(operationsFor({ metadata: {} }, { kind: 'set', tokens: ['metadata', 'labels', 'a'], value: 'b' })).toEqual([
      { op: 'add', path: '/metadata/labels', value: {} },
      { op: 'add', path: '/metadata/labels/a', value: 'b' },
    ]);
    expect(operationsFor({ metadata: { labels: null } }, { kind: 'set', tokens: ['metadata', 'labels', 'a'], value: 'b' })).toEqual([
      { op: 'replace', path: '/metadata/labels', value: {} },
      { op: 'add', path: '/metadata/labels/a', value: 'b' },
    ]);
    expect(operationsFor({ a: { b: 1 } }, { kind: 'set', tokens: ['a', 'b'], value: 2 })).toEqual([{ op: 'replace', path: '/a/b', value: 2 }]);
  });

  it('emits nothing when the value is already there', () => {
    expect(operationsFor({ a: { b: [1, { c: 2 }] } }, { kind: 'set', tokens: ['a', 'b'], value: [1, { c: 2 }] })).toEqual([]);
    expect(operationsFor({ a: [1, 2] }, { kind: 'append', tokens: ['a'], value: 2 })).toEqual([]);
    expect(operationsFor({}, { kind: 'remove', tokens: ['a'] })).toEqual([]);
  });

  it('refuses to write through something that is not a map', () => {
    expect(() => operationsFor({ a: 'text' }, { kind: 'set', tokens: ['a', 'b'], value: 1 })).toThrow(WriteError);
    expect(() => operationsFor({ a: [] }, { kind: 'set', tokens: ['a', '3', 'b'], value: 1 })).toThrow(/past the end of a list/);
  });
});

describe('applying operations', () => {
  const doc = () => ({ metadata: { labels: { a: 'b', 'x/y': 'z', empty: null } }, spec: { containers: [{ name: 'one' }, { name: 'two' }], n: 0 } });
  const CASES: Operation[] = [
    { op: 'add', path: '/metadata/labels/c', value: 'd' },
    { op: 'add', path: '/metadata/labels/a', value: 'again' },
    { op: 'add', path: '/metadata/labels/x~1y', value: { deep: [1] } },
    { op: 'add', path: '/metadata/annotations/c', value: 'd' },
    { op: 'add', path: '/spec/containers/-', value: { name: 'three' } },
    { op: 'add', path: '/spec/containers/0', value: { name: 'zero' } },
    { op: 'add', path: '/spec/containers/2', value: { name: 'three' } },
    { op: 'add', path: '/spec/containers/3', value: { name: 'four' } },
    { op: 'add', path: '/spec/containers/01', value: { name: 'x' } },
    { op: 'add', path: '/spec/containers/0/image', value: 'nginx' },
    { op: 'add', path: '/spec/containers/5/image', value: 'nginx' },
    { op: 'add', path: '/spec/n/x', value: 1 },
    { op: 'add', path: '', value: {} },
    { op: 'replace', path: '/metadata/labels/a', value: 'c' },
    { op: 'replace', path: '/metadata/labels/empty', value: {} },
    { op: 'replace', path: '/metadata/labels/missing', value: 'c' },
    { op: 'replace', path: '/spec/containers/1', value: { name: 'new' } },
    { op: 'replace', path: '/spec/containers/2', value: { name: 'new' } },
    { op: 'remove', path: '/metadata/labels/a' },
    { op: 'remove', path: '/metadata/labels/missing' },
    { op: 'remove', path: '/spec/containers/0' },
    { op: 'remove', path: '/spec/containers/2' },
    { op: 'remove', path: '/spec/containers/00' },
  ];

  it.each(CASES)('does what the rfc6902 package does: %j', (operation) => {
    const expected = doc();
    const actual = doc();
    const apply = () => applyOperation(actual, operation);
    let failure;
    try {
      failure = applyPatch(expected, [operation])[0];
    } catch (error) {
      // Writing through a number: a TypeError there, a refusal here.
      expect(error).toBeInstanceOf(TypeError);
      expect(apply).toThrow(new WriteError(`Value required at path: ${operation.path}`));
      return;
    }
    if (failure) {
      expect(apply).toThrow(new WriteError(failure.message));
    } else {
      apply();
      expect(actual).toEqual(expected);
    }
  });

  it('copies the value, so that later operations never change the one recorded', () => {
    const object = { spec: {} };
    const operation: Operation = { op: 'add', path: '/spec/resources', value: {} };
    applyOperation(object, operation);
    applyOperation(object, { op: 'add', path: '/spec/resources/cpu', value: '1' });
    expect(operation).toEqual({ op: 'add', path: '/spec/resources', value: {} });
    expect(object).toEqual({ spec: { resources: { cpu: '1' } } });
  });

  it('writes a key named "__proto__" as a key, never as the prototype', () => {
    const object: Record<string, unknown> = { labels: {} };
    applyOperation(object, { op: 'add', path: '/labels/__proto__', value: { polluted: true } });
    expect(Object.getPrototypeOf(object['labels'])).toBe(Object.prototype);
    expect(JSON.stringify(object)).toBe('{"labels":{"__proto__":{"polluted":true}}}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
