// Mutating pods with very many containers through the shipped policies: every container gets the
// default resources and the patch gives exactly the object Canopy checked; a patch past the size limit
// is a denial that says so, not tens of megabytes of answer. (How long this takes is measured by
// benchmarks, not here.)
import { fileURLToPath } from 'node:url';
import { applyPatch, type Operation } from 'rfc6902';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAdmissionReview } from '../../kubernetes/admission/index.js';
import { loadPolicyDirectory, type CheckedPolicySet } from '../set/index.js';
import { AdmissionPipeline } from '../../pipeline/index.js';
import { MAX_PATCH_BYTES, PatchSize } from './patch-size.js';
import { MutationError, runMutations } from './run.js';

type Json = Record<string, unknown>;

const STARTER_POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));
// policies/data/resources.yaml
const DEFAULTS = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } };

const pod = (containers: number): Json => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'many', namespace: 'team-a' },
  spec: { containers: Array.from({ length: containers }, (_, i) => ({ name: `c${i}`, image: 'nginx:1.25' })) },
});

const review = (object: Json) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: `many-${String((object['spec'] as { containers: unknown[] }).containers.length)}`,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    name: 'many',
    namespace: 'team-a',
    operation: 'CREATE',
    userInfo: { username: 'alice', groups: ['system:authenticated'] },
    object,
    oldObject: null,
    dryRun: false,
  },
});

const decode = (patch: string) => JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[];

describe('a pod with very many containers', () => {
  let set: CheckedPolicySet;
  let pipeline: AdmissionPipeline;

  beforeAll(async () => {
    set = await loadPolicyDirectory(STARTER_POLICIES);
    pipeline = new AdmissionPipeline();
    await pipeline.activate(set);
  });

  it('gives each of 20,000 containers the default resources, with a patch that gives exactly that object', () => {
    const object = pod(20_000);
    const { review: answer, decision } = pipeline.mutate(review(object));
    expect(answer.response.allowed, answer.response.status?.message).toBe(true);
    expect(answer.response.patchType).toBe('JSONPatch');
    const operations = decode(answer.response.patch ?? '');

    // The same operations as for one container, for each of them: a map per missing level.
    expect(operations).toHaveLength(20_000 * 6);
    expect(operations.slice(6 * 12_345, 6 * 12_346)).toEqual([
      { op: 'add', path: '/spec/containers/12345/resources', value: {} },
      { op: 'add', path: '/spec/containers/12345/resources/requests', value: {} },
      { op: 'add', path: '/spec/containers/12345/resources/requests/cpu', value: '100m' },
      { op: 'add', path: '/spec/containers/12345/resources/requests/memory', value: '128Mi' },
      { op: 'add', path: '/spec/containers/12345/resources/limits', value: {} },
      { op: 'add', path: '/spec/containers/12345/resources/limits/memory', value: '512Mi' },
    ]);

    // Applied as the API server would, by another implementation, the patch gives the expected object,
    // which is also the one Canopy checked and reports.
    const patched = structuredClone(object);
    expect(applyPatch(patched, operations).filter((result) => result !== null)).toEqual([]);
    const containers = (patched['spec'] as { containers: Json[] }).containers;
    expect(containers).toHaveLength(20_000);
    expect(containers.every((container, i) => container['name'] === `c${i}` && container['image'] === 'nginx:1.25')).toBe(true);
    expect(containers.filter((container) => JSON.stringify(container['resources']) !== JSON.stringify(DEFAULTS))).toEqual([]);
    expect(decision.mutated).toEqual(patched);
    // The request's object itself is left as it came.
    expect((object['spec'] as { containers: Json[] }).containers.some((container) => 'resources' in container)).toBe(false);

    // A second pass changes nothing.
    expect(pipeline.mutate(review(patched)).review.response).toEqual({ uid: 'many-20000', allowed: true });
  });

  it('denies a pod whose patch would pass the size limit, naming the limit and the size', () => {
    // 40,000 containers without resources need about 18.6 MB of patch.
    const { review: answer, decision } = pipeline.mutate(review(pod(40_000)));
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.patch).toBeUndefined();
    expect(answer.response.status?.code).toBe(403);
    expect(answer.response.status?.message).toMatch(
      /^Canopy could not mutate this request: the JSON Patch of \[mutations\.default-resources\] is larger than the limit of 16 MiB \(16777216 bytes\): Canopy stopped building it at \d+ bytes, after \d+ operations$/,
    );
    expect(decision.operations).toEqual([]);
  });

  it('stops at the first operation past the limit, and allows a patch of exactly the limit', () => {
    const request = parseAdmissionReview(review(pod(10)));
    const specs = set.mutations.filter((spec) => spec.id === 'mutations.default-resources');
    const full = runMutations(specs, request, { data: set.data });
    const bytes = Buffer.byteLength(JSON.stringify(full.operations));
    expect(full.operations).toHaveLength(60);

    expect(runMutations(specs, request, { data: set.data, maxPatchBytes: bytes }).operations).toEqual(full.operations);
    const error = (() => {
      try {
        runMutations(specs, request, { data: set.data, maxPatchBytes: bytes - 1 });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(MutationError);
    expect((error as MutationError).mutations).toEqual(['mutations.default-resources']);
    expect((error as MutationError).message).toMatch(
      new RegExp(
        `^the JSON Patch of \\[mutations\\.default-resources\\] is larger than the limit of \\d\\.\\d KiB \\(${bytes - 1} bytes\\): ` +
          `Canopy stopped building it at ${bytes} bytes, after 60 operations$`,
      ),
    );
    expect(MAX_PATCH_BYTES).toBe(16 * 1024 * 1024);
  });

  it('counts a patch in bytes exactly as it is sent, escapes and non-ASCII text included', () => {
    const operations: Operation[] = [
      { op: 'add', path: '/metadata/labels/canopy.io~1region', value: 'eu-west-1' },
      { op: 'replace', path: '/metadata/annotations/note', value: 'quote " backslash \\ tab \t newline \n é ☃ 😀 \u0001' },
      { op: 'add', path: '/spec/x', value: { nested: [1, 2.5, -3e-7, true, false, null, { 'ü': 'ü' }], empty: {} } },
      { op: 'remove', path: '/metadata/labels/é' },
      { op: 'add', path: '/spec/n', value: 12 },
      { op: 'add', path: '/spec/b', value: false },
      { op: 'add', path: '/spec/z', value: null },
    ];
    const size = new PatchSize();
    expect(size.bytes).toBe(Buffer.byteLength(JSON.stringify([])));
    operations.forEach((operation, i) => {
      size.add(operation);
      expect(size.bytes).toBe(Buffer.byteLength(JSON.stringify(operations.slice(0, i + 1))));
    });
  });
});
