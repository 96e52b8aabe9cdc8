import { describe, expect, it } from 'vitest';
import { operationsFor, pointerOf, WriteError } from './writes.js';

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
