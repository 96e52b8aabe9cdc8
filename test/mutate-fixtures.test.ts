// The 88 captured requests through POST /mutate over HTTPS with the shipped policies: every answer is
// well-formed, its patch applies and gives the expected object, and a second pass yields no patch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STARTER_POLICIES, fixture, fixtureNames, podSpecOf, type AdmissionReviewFixture } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';
import { decodePatch, patched, type MutationResponse } from './helpers/patch.js';

// The shipped mutation (mutations/default-resources.cedar, data/resources.yaml) gives containers
// without requests 100m CPU and 128Mi memory, and without a memory limit 512Mi. These captured
// requests create or update a workload whose container lacks some of that; every other one is left
// alone (it has them, is not a workload, is a Pod UPDATE, a DELETE, a CONNECT or a subresource, or
// is an UPDATE that leaves the pod template as it was: 81 and 82 only change the replicas, and a
// patch there would roll every pod of a Deployment created before Canopy).
const PATCHED = new Set([21, 22, 31, 32, 43, 44, 45, 46, 47, 48, 55, 56, 69, 70, 71, 72]);
const number = (name: string) => Number(name.slice(0, 3));

describe('the 88 captured requests through POST /mutate over HTTPS', () => {
  let server: TestServer;
  const mutate = async (review: AdmissionReviewFixture): Promise<MutationResponse> => {
    const result = await server.post('/mutate', JSON.stringify(review));
    expect(result.status).toBe(200);
    const body = result.json() as { apiVersion: string; kind: string; response: MutationResponse };
    expect(body.apiVersion).toBe('admission.k8s.io/v1');
    expect(body.kind).toBe('AdmissionReview');
    expect(body.response.uid).toBe(review.request.uid);
    return body.response;
  };

  beforeAll(async () => {
    server = await startServer({ policies: STARTER_POLICIES });
  });
  afterAll(async () => server.close());

  it.each(fixtureNames())('%s: a well-formed answer whose patch applies, and no patch on a second pass', async (name) => {
    const review = fixture(name);
    const response = await mutate(review);
    expect(response.allowed).toBe(true);
    expect(response.patch !== undefined, 'has a patch').toBe(PATCHED.has(number(name)));
    if (response.patch === undefined) return;
    const object = patched(review.request.object, response);
    const again = await mutate({ ...review, request: { ...review.request, object } });
    expect(again).toEqual({ uid: review.request.uid, allowed: true });
  });

  it('gives a Pod without resources the defaults on every container', async () => {
    const review = fixture(43);
    const object = patched(review.request.object, await mutate(review));
    const containers = podSpecOf(object as Record<string, unknown>)['containers'] as { resources: unknown }[];
    for (const container of containers) {
      expect(container.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    }
  });

  const DEPLOYMENT_PATCH = [
    { op: 'add', path: '/spec/template/spec/containers/0/resources/limits', value: {} },
    { op: 'add', path: '/spec/template/spec/containers/0/resources/limits/memory', value: '512Mi' },
  ];

  it('adds only what is missing: a Deployment with requests gets the memory limit alone', async () => {
    const review = fixture(21);
    const response = await mutate(review);
    expect(decodePatch(response)).toEqual(DEPLOYMENT_PATCH);
    const containers = podSpecOf(patched(review.request.object, response) as Record<string, unknown>)['containers'] as { resources: unknown }[];
    expect(containers[0]?.resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } });
  });

  it('records each mutation and the patch size in the decision log', () => {
    const lines = server.logLines.filter((line) => line['msg'] === 'mutation');
    const uid = fixture(21).request.uid;
    const line = lines.find((l) => l['uid'] === uid);
    expect(line).toMatchObject({ decision: 'allow', mutations: ['mutations.default-resources'], patchOperations: 2, kind: 'Deployment' });
    expect(line?.['patchBytes']).toBe(Buffer.byteLength(JSON.stringify(DEPLOYMENT_PATCH)));
  });
});
