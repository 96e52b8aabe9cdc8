// Generated AdmissionReview bodies for the fuzz suite (test/fuzz.test.ts). A generated case is a small,
// printable recipe (a fixture's name and the changes made to it), not the body itself: when a property
// fails, fast-check prints the recipe, which says what was done rather than megabytes of what it made.
// `renderCase` turns a recipe into the exact bytes sent.
import fc, { type Arbitrary } from 'fast-check';

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}
export type Path = (string | number)[];
export type Endpoint = '/validate' | '/mutate';
export type Fixtures = ReadonlyMap<string, JsonObject>;

export const isObject = (value: Json | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

// ---------------------------------------------------------------------------------------------------
// Recipes

/**
 * Body text that JSON.stringify cannot produce: number literals JavaScript would rewrite (-0, 1e400),
 * nesting deeper than its recursion can serialise, megabytes built without holding them as objects,
 * and bytes that are not UTF-8 inside a JSON string.
 */
export type Raw =
  | { raw: 'number'; text: string }
  | { raw: 'nested'; depth: number; container: 'object' | 'array' }
  | { raw: 'huge'; shape: HugeShape; bytes: number }
  | { raw: 'bytes'; before: string; bytes: number[] };

export type HugeShape = 'string' | 'unicode' | 'numbers' | 'object' | 'containers';

export type Mutation =
  | { op: 'remove'; path: Path }
  | { op: 'set'; path: Path; value: Json }
  | { op: 'raw'; path: Path; raw: Raw }
  /** Adds to the object at `path` a key holding bytes that are not UTF-8. */
  | { op: 'rawKey'; path: Path; bytes: number[] };

/** Damage to the finished body text: cut at a fraction of its length, or text before or after it. */
export type Damage = { cut: number } | { prefix: string } | { suffix: string };

export interface FuzzCase {
  fixture: string;
  endpoint: Endpoint;
  mutations: Mutation[];
  damage?: Damage;
}

// ---------------------------------------------------------------------------------------------------
// Rendering

const TOKEN = /"@@canopy-fuzz-raw-(\d+)@@"/;
const token = (index: number) => `@@canopy-fuzz-raw-${index}@@`;

/** Sets an own property, so that a key such as "__proto__" is data, as JSON.parse makes it. */
function defineKey(target: JsonObject, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function parentOf(root: Json, path: Path): Json | undefined {
  let node: Json | undefined = root;
  for (const key of path.slice(0, -1)) {
    if (Array.isArray(node) && typeof key === 'number') node = node[key];
    else if (isObject(node) && typeof key === 'string' && Object.hasOwn(node, key)) node = node[key];
    else return undefined;
  }
  return node;
}

/** Sets the value at `path`; a no-op when an earlier change removed or retyped its parent. */
export function setAt(root: Json, path: Path, value: Json): void {
  const parent = parentOf(root, path);
  const key = path.at(-1);
  if (Array.isArray(parent) && typeof key === 'number') parent[Math.min(key, parent.length)] = value;
  else if (isObject(parent) && typeof key === 'string') defineKey(parent, key, value);
}

function removeAt(root: Json, path: Path): void {
  const parent = parentOf(root, path);
  const key = path.at(-1);
  if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
  else if (isObject(parent) && typeof key === 'string') delete parent[key];
}

/** A JSON string literal's opening quote and escaped text, left open for raw bytes to follow. */
const openString = (text: string) => JSON.stringify(text).slice(0, -1);

/** `open`, then items joined by commas until the text holds at least `bytes` bytes, then `close`. */
function listOf(bytes: number, open: string, close: string, item: (index: number) => string): string {
  const items: string[] = [];
  let size = open.length + close.length;
  while (size < bytes) {
    const next = item(items.length);
    items.push(next);
    size += Buffer.byteLength(next) + 1;
  }
  return `${open}${items.join(',')}${close}`;
}

function hugeText(shape: HugeShape, bytes: number): string {
  switch (shape) {
    case 'string':
      return `"${'x'.repeat(bytes)}"`;
    case 'unicode':
      // "é" is 2 bytes in UTF-8 and "🙂" is 4: 6 bytes a repetition.
      return `"${'é🙂'.repeat(Math.ceil(bytes / 6))}"`;
    case 'numbers':
      return listOf(bytes, '[', ']', (i) => String(i % 10));
    case 'object':
      return listOf(bytes, '{', '}', (i) => `"k${i}":0`);
    case 'containers':
      return listOf(bytes, '[', ']', (i) => `{"name":"c${i}","image":"nginx:1.25"}`);
  }
}

function renderRaw(raw: Raw): Buffer {
  switch (raw.raw) {
    case 'number':
      return Buffer.from(raw.text);
    case 'nested':
      return Buffer.from(raw.container === 'object' ? `${'{"n":'.repeat(raw.depth)}0${'}'.repeat(raw.depth)}` : `${'['.repeat(raw.depth)}${']'.repeat(raw.depth)}`);
    case 'huge':
      return Buffer.from(hugeText(raw.shape, raw.bytes));
    case 'bytes':
      return Buffer.concat([Buffer.from(openString(raw.before)), Buffer.from(raw.bytes), Buffer.from('"')]);
  }
}

function applyMutation(root: JsonObject, mutation: Mutation, raws: Buffer[]): void {
  // Every path is under `root.body`, so a mutation may replace the whole body too.
  const path = ['body', ...mutation.path];
  switch (mutation.op) {
    case 'remove':
      return removeAt(root, path);
    case 'set':
      return setAt(root, path, structuredClone(mutation.value));
    case 'raw':
      raws.push(renderRaw(mutation.raw));
      return setAt(root, path, token(raws.length - 1));
    case 'rawKey': {
      const target = parentOf(root, [...path, 'key']);
      if (!isObject(target)) return;
      raws.push(renderRaw({ raw: 'bytes', before: 'key-', bytes: mutation.bytes }));
      defineKey(target, token(raws.length - 1), 'value');
    }
  }
}

/** JSON text with every placeholder string replaced by its raw bytes, and how many were. */
function serialise(value: Json, raws: readonly Buffer[]): Rendered {
  const parts = JSON.stringify(value).split(TOKEN);
  // split() with a capture group alternates text and the captured raw index.
  const body = Buffer.concat(parts.map((part, i) => (i % 2 === 0 ? Buffer.from(part) : (raws[Number(part)] ?? Buffer.alloc(0)))));
  return { body, raws: (parts.length - 1) / 2 };
}

function damaged(body: Buffer, damage: Damage): Buffer {
  if ('cut' in damage) return body.subarray(0, Math.floor(body.length * damage.cut));
  if ('prefix' in damage) return Buffer.concat([Buffer.from(damage.prefix), body]);
  return Buffer.concat([body, Buffer.from(damage.suffix)]);
}

export interface Rendered {
  body: Buffer;
  /** How many raw values are in the body: a later change can remove one, or its parent can be missing. */
  raws: number;
}

export function renderCase(fixtures: Fixtures, fuzzCase: FuzzCase): Rendered {
  const base = fixtures.get(fuzzCase.fixture);
  if (!base) throw new Error(`no fixture ${fuzzCase.fixture}`);
  const root: JsonObject = { body: structuredClone(base) };
  const raws: Buffer[] = [];
  for (const mutation of fuzzCase.mutations) applyMutation(root, mutation, raws);
  const rendered = serialise(root['body'] ?? null, raws);
  return fuzzCase.damage ? { ...rendered, body: damaged(rendered.body, fuzzCase.damage) } : rendered;
}

// ---------------------------------------------------------------------------------------------------
// Where to change a fixture

/** Every path in a JSON value, parents before children. */
export function pathsOf(value: Json, prefix: Path = [], out: Path[] = []): Path[] {
  const entries: [string | number, Json][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : isObject(value) ? Object.entries(value) : [];
  for (const [key, child] of entries) {
    const path = [...prefix, key];
    out.push(path);
    pathsOf(child, path, out);
  }
  return out;
}

function valueAt(root: Json, path: Path): Json | undefined {
  const parent = parentOf(root, path);
  const key = path.at(-1);
  if (Array.isArray(parent) && typeof key === 'number') return parent[key];
  if (isObject(parent) && typeof key === 'string') return parent[key];
  return undefined;
}

const recordPathsOf = (fixture: JsonObject): Path[] => [[], ...pathsOf(fixture).filter((path) => isObject(valueAt(fixture, path)))];
const stringPathsOf = (fixture: JsonObject): Path[] => pathsOf(fixture).filter((path) => typeof valueAt(fixture, path) === 'string');

/** The envelope's fields, which every fixture has or should have: the checks that matter most are on them. */
const ENVELOPE_PATHS: Path[] = [
  ['kind'],
  ['apiVersion'],
  ['request'],
  ['request', 'uid'],
  ['request', 'kind'],
  ['request', 'kind', 'group'],
  ['request', 'kind', 'version'],
  ['request', 'kind', 'kind'],
  ['request', 'resource'],
  ['request', 'resource', 'resource'],
  ['request', 'subResource'],
  ['request', 'name'],
  ['request', 'namespace'],
  ['request', 'operation'],
  ['request', 'userInfo'],
  ['request', 'userInfo', 'username'],
  ['request', 'userInfo', 'groups'],
  ['request', 'userInfo', 'uid'],
  ['request', 'object'],
  ['request', 'object', 'metadata'],
  ['request', 'object', 'metadata', 'labels'],
  ['request', 'object', 'metadata', 'name'],
  ['request', 'object', 'spec'],
  ['request', 'oldObject'],
  ['request', 'dryRun'],
  ['request', 'options'],
];

/** One of `paths`, or `fallback` when there are none (fc.constantFrom needs at least one). */
const oneOf = (paths: Path[], fallback: Path): Arbitrary<Path> => fc.constantFrom(...(paths.length > 0 ? paths : [fallback]));

/** Any path of the fixture, with its envelope's fields more often than their share. */
const anyPath = (fixture: JsonObject): Arbitrary<Path> => fc.oneof(fc.constantFrom(...ENVELOPE_PATHS), oneOf(pathsOf(fixture), ['request']));

/** A new key in one of the fixture's objects, with the object's labels more often than their share. */
function newFieldSite(fixture: JsonObject): Arbitrary<Path> {
  const records = recordPathsOf(fixture);
  const labels = records.filter((path) => path.at(-1) === 'labels' || path.at(-1) === 'annotations');
  return fc.tuple(fc.oneof(oneOf(labels, ['request']), oneOf(records, [])), fc.constantFrom('canopy-fuzz', 'app', '__proto__', 'x')).map(([path, key]) => [...path, key]);
}

// ---------------------------------------------------------------------------------------------------
// Values

const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\u202e',
  '\ud83d\ude42',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'null',
  'true',
  '-1',
  'CREATE',
  'AdmissionReview',
  'admission.k8s.io/v1',
  'k8s::Action::"create"',
  '{{ object.metadata.name }}',
  '"',
  '\\',
  'a'.repeat(1000),
];

/** fast-check's JsonValue allows `undefined` in objects, though it never generates it: a JSON value is Json. */
const jsonValue = (maxDepth: number): Arbitrary<Json> => fc.jsonValue({ maxDepth }) as Arbitrary<Json>;

const oddString: Arbitrary<string> = fc.oneof(fc.constantFrom(...ODD_STRINGS), fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }));

/** Number literals as text: JSON.parse turns some into -0, Infinity or an inexact integer. */
const NUMBER_LITERALS = [
  '-0',
  '-0.0',
  '0.1',
  '1e308',
  '-1e308',
  '1e400',
  '-1e400',
  '5e-324',
  '1e-400',
  '18446744073709551616',
  '9007199254740993',
  '-9223372036854775809',
  '123456789012345678901234567890',
  '1E+2',
];

/** Any JSON value, with the edge cases of each type more often than chance gives them. */
const weirdValue: Arbitrary<Json> = fc.oneof(
  oddString,
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom<Json>(null, true, false, 0, -0, 1e308, 2 ** 64, 0.1, [], {}, [null], { '': null }),
  jsonValue(3),
);

const groupVersionKind: Arbitrary<Json> = fc.record({
  group: fc.oneof(fc.constantFrom('', 'apps', 'batch', 'core', 'APPS', 'networking.k8s.io', 'example.com', 'canopy.fuzz.io'), oddString),
  version: fc.oneof(fc.constantFrom('v1', 'v1beta1', 'v2alpha3', 'v999'), oddString),
  kind: fc.oneof(fc.constantFrom('Pod', 'Deployment', 'CronJob', 'StatefulSet', 'Namespace', 'Binding', 'PersistentVolumeClaim', 'Scale', 'Widget'), oddString),
});

const groupVersionResource: Arbitrary<Json> = fc.record({
  group: fc.constantFrom('', 'apps', 'example.com'),
  version: fc.constantFrom('v1', 'v1alpha1'),
  resource: fc.oneof(fc.constantFrom('pods', 'deployments', 'widgets', 'namespaces'), oddString),
});

const operation: Arbitrary<Json> = fc.oneof(fc.constantFrom('PATCH', 'create', 'Create', ' CREATE', 'CONNECT\u0000', 'WATCH', 'GET', ''), weirdValue);

/** A custom resource: an unknown group and kind, and an object of any shape in its spec. */
const customResource: Arbitrary<Mutation[]> = fc
  .record({
    group: fc.constantFrom('example.com', 'canopy.fuzz.io', 'stable.example.com'),
    version: fc.constantFrom('v1', 'v1alpha1', 'v2beta3'),
    kind: fc.oneof(fc.constantFrom('Widget', 'CronTab', 'Pod', 'Deployment'), oddString),
    spec: jsonValue(4),
  })
  .map(({ group, version, kind, spec }): Mutation[] => [
    { op: 'set', path: ['request', 'kind'], value: { group, version, kind } },
    { op: 'set', path: ['request', 'resource'], value: { group, version, resource: `${kind.toLowerCase()}s` } },
    { op: 'set', path: ['request', 'object'], value: { apiVersion: `${group}/${version}`, kind, metadata: { name: 'fuzz', namespace: 'team-a' }, spec } },
  ]);

function structuralMutation(fixture: JsonObject): Arbitrary<Mutation> {
  const path = anyPath(fixture);
  return fc.oneof(
    path.map((p): Mutation => ({ op: 'remove', path: p })),
    fc.record({ op: fc.constant('set' as const), path, value: weirdValue }),
    fc.record({ op: fc.constant('raw' as const), path, raw: fc.record({ raw: fc.constant('number' as const), text: fc.constantFrom(...NUMBER_LITERALS) }) }),
    fc.record({ op: fc.constant('set' as const), path: newFieldSite(fixture), value: weirdValue }),
    fc.record({ op: fc.constant('set' as const), path: fc.constantFrom<Path>(['request', 'kind'], ['request', 'requestKind']), value: groupVersionKind }),
    fc.record({ op: fc.constant('set' as const), path: fc.constant<Path>(['request', 'resource']), value: groupVersionResource }),
    fc.record({ op: fc.constant('set' as const), path: fc.constant<Path>(['request', 'operation']), value: operation }),
    fc.record({ op: fc.constant('set' as const), path: fc.constantFrom<Path>(['request', 'object'], ['request', 'oldObject']), value: jsonValue(4) }),
  );
}

// ---------------------------------------------------------------------------------------------------
// Cases

const endpoint: Arbitrary<Endpoint> = fc.constantFrom('/validate', '/mutate');

/** A case on any fixture, with the changes `mutations` makes for that fixture. */
function onFixture(fixtures: Fixtures, mutations: (fixture: JsonObject) => Arbitrary<Mutation[]>, damage?: Arbitrary<Damage>): Arbitrary<FuzzCase> {
  return fc.constantFrom(...fixtures.keys()).chain((name) => {
    const fixture = fixtures.get(name) ?? {};
    const recipe = fc.record({ fixture: fc.constant(name), endpoint, mutations: mutations(fixture) });
    return damage ? fc.tuple(recipe, damage).map(([r, d]): FuzzCase => ({ ...r, damage: d })) : recipe;
  });
}

/** Fields removed or retyped, odd numbers, unknown kinds, operations and custom resources. */
export function mutatedCase(fixtures: Fixtures): Arbitrary<FuzzCase> {
  return onFixture(fixtures, (fixture) =>
    fc.oneof(
      { arbitrary: fc.array(structuralMutation(fixture), { minLength: 1, maxLength: 4 }), weight: 5 },
      { arbitrary: customResource, weight: 1 },
    ),
  );
}

/** An object or array nested thousands of levels deep: in a label, an unknown field, or anywhere. */
export function nestedCase(fixtures: Fixtures, depth: Arbitrary<number>): Arbitrary<FuzzCase> {
  return onFixture(fixtures, (fixture) =>
    fc
      .record({
        path: fc.oneof(newFieldSite(fixture), anyPath(fixture)),
        raw: fc.record({ raw: fc.constant('nested' as const), depth, container: fc.constantFrom('object' as const, 'array' as const) }),
      })
      .map(({ path, raw }): Mutation[] => [{ op: 'raw', path, raw }]),
  );
}

/** One enormous string, array or map of `bytes` bytes, placed like a nested value or as a container list. */
export function hugeCase(fixtures: Fixtures, bytes: { min: number; max: number }): Arbitrary<FuzzCase> {
  return onFixture(fixtures, (fixture) => {
    const lists = pathsOf(fixture).filter((path) => path.at(-1) === 'containers' || path.at(-1) === 'initContainers');
    const anywhere = fc.record({
      path: fc.oneof(newFieldSite(fixture), anyPath(fixture)),
      shape: fc.constantFrom<HugeShape>('string', 'unicode', 'numbers', 'object', 'containers'),
    });
    const containers = fc.record({ path: oneOf(lists, ['request', 'object', 'spec', 'containers']), shape: fc.constant<HugeShape>('containers') });
    return fc
      .record({ site: lists.length > 0 ? fc.oneof(anywhere, containers) : anywhere, bytes: fc.noBias(fc.integer(bytes)) })
      .map(({ site, bytes: size }): Mutation[] => [{ op: 'raw', path: site.path, raw: { raw: 'huge', shape: site.shape, bytes: size } }]);
  });
}

/** Byte sequences UTF-8 forbids: bare continuation bytes, overlong forms, surrogates, past U+10FFFF, cut short. */
const invalidBytes: Arbitrary<number[]> = fc.oneof(
  fc.constantFrom<number[]>([0xff, 0xfe], [0x80], [0xc0, 0x80], [0xc1, 0xbf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x99], [0xf8, 0x88, 0x80, 0x80, 0x80]),
  fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 6 }),
  // Any byte: control characters and quotes inside a string make the JSON itself invalid.
  fc.array(fc.integer({ min: 0, max: 0xff }), { minLength: 1, maxLength: 6 }),
);

/** Bytes that are not UTF-8 inside string values (the uid, names, labels, ...) and inside keys. */
export function invalidUtf8Case(fixtures: Fixtures): Arbitrary<FuzzCase> {
  return onFixture(fixtures, (fixture) => {
    const strings = oneOf([...stringPathsOf(fixture), ['request', 'uid'], ['request', 'userInfo', 'username']], ['request', 'uid']);
    const inValue = fc.record({
      op: fc.constant('raw' as const),
      path: strings,
      raw: fc.record({ raw: fc.constant('bytes' as const), before: fc.string({ maxLength: 8 }), bytes: invalidBytes }),
    });
    const inKey = fc.record({ op: fc.constant('rawKey' as const), path: oneOf(recordPathsOf(fixture), []), bytes: invalidBytes });
    return fc.array(fc.oneof(inValue, inKey), { minLength: 1, maxLength: 3 });
  });
}

const damage: Arbitrary<Damage> = fc.oneof(
  // Unbiased: fast-check favours small numbers, which would cut nearly every body down to nothing.
  { arbitrary: fc.record({ cut: fc.noBias(fc.integer({ min: 0, max: 9_999 })).map((n) => n / 10_000) }), weight: 4 },
  { arbitrary: fc.record({ prefix: fc.constantFrom('\ufeff', ',', 'x', '[', ')]}\'\n', '\u0000', ' ') }), weight: 1 },
  { arbitrary: fc.record({ suffix: fc.oneof(fc.constantFrom('}', ',', ']', '{}', 'garbage', '\u0000', '\n\n{"a":1}', ' \n'), fc.string({ maxLength: 4 })) }), weight: 1 },
);

/** Bodies cut short or with something before or after them, after a few ordinary changes or none. */
export function invalidJsonCase(fixtures: Fixtures): Arbitrary<FuzzCase> {
  return onFixture(fixtures, (fixture) => fc.array(structuralMutation(fixture), { maxLength: 2 }), damage);
}

// ---------------------------------------------------------------------------------------------------
// Noise: changes no policy may depend on

const NOISE_SITES = [
  'top',
  'request',
  'request.options',
  'request.userInfo',
  'request.userInfo.extra',
  'object.status',
  'object.managedFields',
  'oldObject.status',
  'oldObject.managedFields',
] as const;
export type NoiseSite = (typeof NOISE_SITES)[number];

export interface NoiseField {
  site: NoiseSite;
  key: string;
  value: Json;
  /** Which managedFields entry, modulo their number. */
  entry: number;
}

export interface Noise {
  fields: NoiseField[];
  /** A new request.uid. */
  uid?: string;
}

const noiseKey: Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  // Names that mean something elsewhere: none of them may mean anything where they are added.
  fc.constantFrom('__proto__', 'constructor', 'toString', 'allowed', 'privileged', 'securityContext', 'hostNetwork', 'labels', 'team', 'uid', 'kind', 'spec'),
);

export const noise: Arbitrary<Noise> = fc.record(
  {
    fields: fc.array(fc.record({ site: fc.constantFrom(...NOISE_SITES), key: noiseKey, value: jsonValue(3), entry: fc.nat(10) }), { minLength: 1, maxLength: 6 }),
    uid: fc.uuid(),
  },
  { requiredKeys: ['fields'] },
);

/** The record at `key` of `parent`, created when absent; undefined when something else (null, a string) is there. */
function childRecord(parent: Json | undefined, key: string): JsonObject | undefined {
  if (!isObject(parent)) return undefined;
  if (!Object.hasOwn(parent, key)) defineKey(parent, key, {});
  const child = parent[key];
  return isObject(child) ? child : undefined;
}

function managedFieldsEntry(object: JsonObject | undefined, entry: number): JsonObject | undefined {
  const metadata = object && isObject(object['metadata']) ? object['metadata'] : undefined;
  if (!metadata) return undefined;
  if (!Object.hasOwn(metadata, 'managedFields')) defineKey(metadata, 'managedFields', []);
  const entries = metadata['managedFields'];
  if (!Array.isArray(entries)) return undefined;
  if (entries.length === 0) entries.push({ manager: 'canopy-fuzz', operation: 'Update' });
  const found = entries[entry % entries.length];
  return isObject(found) ? found : undefined;
}

function noiseTarget(review: JsonObject, field: NoiseField): JsonObject | undefined {
  const request = isObject(review['request']) ? review['request'] : undefined;
  const object = (key: string) => (request && isObject(request[key]) ? request[key] : undefined);
  switch (field.site) {
    case 'top':
      return review;
    case 'request':
      return request;
    case 'request.options':
      return childRecord(request, 'options');
    case 'request.userInfo':
      return childRecord(request, 'userInfo');
    case 'request.userInfo.extra':
      return childRecord(childRecord(request, 'userInfo'), 'extra');
    case 'object.status':
      return childRecord(object('object'), 'status');
    case 'oldObject.status':
      return childRecord(object('oldObject'), 'status');
    case 'object.managedFields':
      return managedFieldsEntry(object('object'), field.entry);
    case 'oldObject.managedFields':
      return managedFieldsEntry(object('oldObject'), field.entry);
  }
}

/** A copy of `review` with the noise added; an existing key is never overwritten (a new name is found). */
export function addNoise(review: JsonObject, added: Noise): JsonObject {
  const copy = structuredClone(review);
  for (const field of added.fields) {
    const target = noiseTarget(copy, field);
    if (!target) continue;
    let key = field.key;
    while (Object.hasOwn(target, key)) key = `${key}~`;
    defineKey(target, key, structuredClone(field.value));
  }
  const request = copy['request'];
  if (added.uid && isObject(request)) request['uid'] = added.uid;
  return copy;
}
