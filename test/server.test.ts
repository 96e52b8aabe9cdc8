// The webhook over real HTTPS: bad input gets clear JSON errors, odd objects are judged, health and
// readiness tell the truth, and the process keeps serving throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STARTER_POLICIES, fixture } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';

const BODY_LIMIT = 64 * 1024;

describe('POST /validate over HTTPS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ policies: STARTER_POLICIES, bodyLimit: BODY_LIMIT });
  });
  afterAll(async () => server.close());

  const badRequests: [string, string | Buffer, RegExp][] = [
    ['a body that is not JSON', 'kind: AdmissionReview', /^request body is not JSON: /],
    ['an empty body', '', /^request body is not JSON: the body is empty/],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), /^request body is not JSON/],
    ['a JSON array', '[]', /^not a valid AdmissionReview v1: the body must be an object, got an array/],
    ['another kind', JSON.stringify({ ...fixture(12), kind: 'Pod' }), /kind must be "AdmissionReview", got "Pod"/],
    [
      'AdmissionReview v1beta1',
      JSON.stringify({ ...fixture(12), apiVersion: 'admission.k8s.io/v1beta1' }),
      /apiVersion must be "admission.k8s.io\/v1", got "admission.k8s.io\/v1beta1"/,
    ],
    ['no request', JSON.stringify({ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }), /request must be an object, got undefined/],
  ];

  it.each(badRequests.flatMap(([what, body, message]) => ['/validate', '/mutate'].map((path) => [path, what, body, message] as const)))(
    'POST %s answers %s with 400 and a JSON error',
    async (path, _what, body, message) => {
      const result = await server.post(path, body);
      expect(result.status).toBe(400);
      expect(result.headers['content-type']).toMatch(/^application\/json/);
      const error = result.json() as { error: string; message: string };
      expect(error.error).toBe('Bad Request');
      expect(error.message).toMatch(message);
    },
  );

  it.each([
    ['no request.uid', (r: Record<string, unknown>) => delete r['uid'], 'request.uid is missing'],
    ['an empty request.uid', (r: Record<string, unknown>) => (r['uid'] = ''), 'request.uid must not be empty'],
    ['a numeric request.uid', (r: Record<string, unknown>) => (r['uid'] = 42), 'request.uid must be a string, got number'],
    ['an unknown operation', (r: Record<string, unknown>) => (r['operation'] = 'PATCH'), 'request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got "PATCH"'],
    ['no userInfo', (r: Record<string, unknown>) => delete r['userInfo'], 'request.userInfo must be an object, got undefined'],
  ])('answers a request with %s with 400 saying so', async (_what, change, message) => {
    const review = fixture(12);
    change(review.request);
    const result = await server.post('/validate', JSON.stringify(review));
    expect(result.status).toBe(400);
    expect((result.json() as { message: string }).message).toBe(`not a valid AdmissionReview v1: ${message}`);
  });

  it('answers a body over the limit with 413', async () => {
    const review = fixture(28);
    (review.request.object as Record<string, unknown>)['data'] = { big: 'x'.repeat(BODY_LIMIT) };
    const result = await server.post('/validate', JSON.stringify(review));
    expect(result.status).toBe(413);
    expect(result.json()).toEqual({ error: 'Payload Too Large', message: `request body is larger than the limit of ${BODY_LIMIT} bytes` });
  });

  it('judges a valid review whatever its Content-Type', async () => {
    const result = await server.post('/validate', JSON.stringify(fixture(12)), { 'content-type': 'text/plain' });
    expect(result.status).toBe(200);
    expect((result.json() as { response: { allowed: boolean } }).response.allowed).toBe(true);
  });

  const oddObjects: [string, (review: ReturnType<typeof fixture>) => void][] = [
    ['floats and nulls', (r) => Object.assign(r.request.object ?? {}, { spec: { containers: [{ name: 'a', resources: { limits: { cpu: 0.5 } } }], priority: null }, status: null })],
    ['no object at all', (r) => (r.request.object = null)],
    [
      'a huge label set',
      (r) => {
        const labels: Record<string, string> = {};
        for (let i = 0; i < 2000; i++) labels[`label-${i}`] = `value-${i}`;
        (r.request.object?.['metadata'] as Record<string, unknown>)['labels'] = labels;
      },
    ],
    [
      'an unknown kind of a custom resource',
      (r) => {
        r.request['kind'] = { group: 'example.com', version: 'v1alpha1', kind: 'Widget' };
        r.request['resource'] = { group: 'example.com', version: 'v1alpha1', resource: 'widgets' };
        r.request.object = { apiVersion: 'example.com/v1alpha1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 1.5, nested: [[{}]] } };
      },
    ],
    ['a deeply nested object', (r) => {
      let deep: Record<string, unknown> = {};
      const root = deep;
      for (let i = 0; i < 500; i++) deep = (deep['x'] = {}) as Record<string, unknown>;
      Object.assign(r.request.object ?? {}, { extra: root });
    }],
  ];

  it.each(oddObjects)('judges an object with %s instead of rejecting it', async (_what, change) => {
    const review = fixture(12);
    change(review);
    const result = await server.post('/validate', JSON.stringify(review));
    expect(result.status).toBe(200);
    const answer = result.json() as { response: { uid: string; allowed: boolean } };
    expect(answer.response.uid).toBe(review.request.uid);
    expect(answer.response.allowed).toBe(true);
  });

  it('still judges correctly after all the bad input above', async () => {
    const review = fixture(12);
    (review.request.object?.['spec'] as Record<string, unknown>)['hostNetwork'] = true;
    const result = await server.post('/validate', JSON.stringify(review));
    expect(result.status).toBe(200);
    expect((result.json() as { response: { allowed: boolean } }).response.allowed).toBe(false);
  });

  it('writes one decision line with what an operator needs', async () => {
    const review = fixture(34); // dry-run Pod create
    await server.post('/validate', JSON.stringify(review));
    const line = server.logLines.filter((l) => l['msg'] === 'decision').find((l) => l['uid'] === review.request.uid);
    expect(line).toMatchObject({
      user: 'kubernetes-admin',
      operation: 'CREATE',
      kind: 'Pod',
      namespace: 'team-a',
      name: 'web',
      dryRun: true,
      decision: 'allow',
      denied: [],
      // The shipped Pod Security defaults warn at restricted: the plain Pod's restricted controls, by id. The
      // best-practices pack (on by default) warns too: the Pod has no app.kubernetes.io/name label, no probes,
      // and does not set automountServiceAccountToken: false.
      warned: [
        'best-practices.automount-token',
        'best-practices.require-labels',
        'best-practices.require-probes',
        'pod-security.restricted.capabilities',
        'pod-security.restricted.privilege-escalation',
        'pod-security.restricted.run-as-non-root',
        'pod-security.restricted.seccomp',
      ],
      revision: server.pipeline.policySet?.revision,
    });
    expect(typeof line?.['time']).toBe('string');
    expect(line?.['latencyUs']).toBeGreaterThan(0);
  });

  it('answers an unknown route with a JSON 404', async () => {
    const result = await server.get('/mutate-nothing');
    expect(result.status).toBe(404);
    expect((result.json() as { message: string }).message).toBe('no route for GET /mutate-nothing');
  });

  it('reports the active policy set on GET /status', async () => {
    const status = await server.get('/status');
    expect(status.status).toBe(200);
    // The 35 policies and 3 mutations of the base set, and the packs' rules, all on by default: best-practices 15,
    // cloud-resources 2, kubevirt 1, models 4 validating and 1 mutation (models.pin-digests).
    const body = status.json() as Record<string, unknown>;
    expect(body['policySet']).toEqual({ revision: server.pipeline.policySet?.revision, policies: 57, mutations: 4 });
    // The server is `canopy serve`'s composition: its policy source, engine and fleet context report too.
    expect(Object.keys(body).sort()).toEqual(['engine', 'fleet', 'policyDirectory', 'policySet']);
  });

  it('reports health and readiness with the active revision', async () => {
    expect((await server.get('/healthz')).status).toBe(200);
    const ready = await server.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', revision: server.pipeline.policySet?.revision, policies: 57 });
  });
});

describe('a server with no policy set active', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => server.close());

  it('is alive but not ready', async () => {
    expect((await server.get('/healthz')).status).toBe(200);
    const ready = await server.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json()).toEqual({ status: 'not ready', reason: 'no validated policy set is active yet' });
  });

  it('denies rather than allowing anything by accident', async () => {
    const result = await server.post('/validate', JSON.stringify(fixture(28)));
    expect(result.status).toBe(200);
    const answer = result.json() as { response: { allowed: boolean; status: { code: number; message: string } } };
    expect(answer.response.allowed).toBe(false);
    expect(answer.response.status.code).toBe(403);
    expect(answer.response.status.message).toContain('no validated policy set is active yet');
  });
});
