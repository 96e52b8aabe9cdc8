// A mutation changes a running workload only when the request itself changes what the mutation is
// about: an UPDATE that leaves the pod template (or a Pod's spec) as it was gets no patch, so labelling,
// scaling or suspending an existing Deployment, StatefulSet or CronJob created before Canopy (without
// the default resources) never rolls its pods. Through POST /mutate over HTTPS with the shipped
// policies, on objects from the real requests in ../shared.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STARTER_POLICIES, fixture, podSpecOf, type AdmissionReviewFixture } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';
import { decodePatch, patched, type MutationResponse } from './helpers/patch.js';

type Json = Record<string, unknown>;

/** The workload of a captured CREATE as it would exist had it been created before Canopy: no resources. */
function existingWithoutResources(number: number): Json {
  const object = structuredClone(fixture(number).request.object) as Json;
  const spec = podSpecOf(object);
  for (const list of ['initContainers', 'containers']) {
    for (const container of (spec[list] as Json[] | undefined) ?? []) delete container['resources'];
  }
  object['metadata'] = { ...(object['metadata'] as Json), resourceVersion: '4711', generation: 1 };
  return object;
}

function update(number: number, oldObject: Json, change: (object: Json) => void): AdmissionReviewFixture {
  const review = fixture(number);
  const object = structuredClone(oldObject);
  change(object);
  return { ...review, request: { ...review.request, operation: 'UPDATE', object, oldObject } };
}

const label = (object: Json) => {
  const metadata = object['metadata'] as Json;
  metadata['labels'] = { ...(metadata['labels'] as Json | undefined), 'cost-center': 'cc-42' };
};
const scale = (object: Json) => {
  (object['spec'] as Json)['replicas'] = 7;
};
const suspend = (object: Json) => {
  (object['spec'] as Json)['suspend'] = true;
};
const recordStatus = (object: Json) => {
  object['status'] = { observedGeneration: 1, replicas: 3, readyReplicas: 3 };
};
const newImage = (object: Json) => {
  const containers = podSpecOf(object)['containers'] as Json[];
  (containers[0] as Json)['image'] = 'registry.example.com/team-a/api:1.5';
};

// The captured CREATEs of each kind: 21 Deployment, 69 StatefulSet, 71 CronJob.
const WORKLOADS = [
  { kind: 'Deployment', number: 21, quiet: { label, scale, recordStatus } },
  { kind: 'StatefulSet', number: 69, quiet: { label, scale, recordStatus } },
  { kind: 'CronJob', number: 71, quiet: { label, suspend } },
] as const;

describe('quiet updates: no patch unless the request changes the pods', () => {
  let server: TestServer;
  const mutate = async (review: AdmissionReviewFixture): Promise<MutationResponse> => {
    const result = await server.post('/mutate', JSON.stringify(review));
    expect(result.status).toBe(200);
    const response = (result.json() as { response: MutationResponse }).response;
    expect(response.uid).toBe(review.request.uid);
    return response;
  };

  beforeAll(async () => {
    server = await startServer({ policies: STARTER_POLICIES });
  });
  afterAll(async () => server.close());

  for (const { kind, number, quiet } of WORKLOADS) {
    for (const [what, change] of Object.entries(quiet)) {
      it(`${kind} without resources, ${what}: allowed with no patch`, async () => {
        const response = await mutate(update(number, existingWithoutResources(number), change));
        expect(response).toEqual({ uid: fixture(number).request.uid, allowed: true });
      });
    }

    it(`${kind} without resources, a new image: the pods roll anyway, so they get the default resources`, async () => {
      const response = await mutate(update(number, existingWithoutResources(number), newImage));
      expect(response.allowed).toBe(true);
      const paths = decodePatch(response).map((op) => op.path);
      expect(paths.length).toBeGreaterThan(0);
      expect(paths.every((path) => path.includes('/resources'))).toBe(true);
    });

    it(`${kind}, server-side apply of the same manifest (resources Canopy added are dropped): the patch restores exactly them`, async () => {
      // What Canopy made of the CREATE is what is stored; re-applying the manifest without the
      // defaults sends the object with them removed, and the patched object must equal the stored one.
      const created = fixture(number);
      const stored = patched(created.request.object, await mutate(created)) as Json;
      const reapplied = existingWithoutResources(number);
      reapplied['metadata'] = stored['metadata'];
      const original = podSpecOf(created.request.object as Json);
      const dropped = podSpecOf(reapplied);
      for (const list of ['initContainers', 'containers']) {
        ((dropped[list] as Json[] | undefined) ?? []).forEach((container, index) => {
          const resources = ((original[list] as Json[] | undefined)?.[index] as Json | undefined)?.['resources'];
          if (resources !== undefined) container['resources'] = structuredClone(resources);
        });
      }
      const review = update(number, stored, () => {});
      review.request.object = reapplied;
      const response = await mutate(review);
      expect(response.allowed).toBe(true);
      expect(podSpecOf(patched(reapplied, response))).toEqual(podSpecOf(stored));
    });
  }

  it('a Pod UPDATE that only changes a label: no patch', async () => {
    const pod = structuredClone(fixture(43).request.object) as Json;
    const response = await mutate(update(43, pod, label));
    expect(response).toEqual({ uid: fixture(43).request.uid, allowed: true });
  });
});
