// All 88 real AdmissionReview requests through the webhook over HTTPS and through `canopy eval`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCanopy } from './helpers/cli.js';
import { FIXTURE_DIR, STARTER_POLICIES, fixture, fixtureNames } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';

// The only captured requests that break a starter policy: `kubectl create namespace scratch` makes a
// Namespace without a team label. (No captured pod is privileged or shares host namespaces; the
// denials the capturing webhook gave, 044/046/058/088, came from its own test labels, not our policies.)
const DENIED: Record<string, { policy: string; advice: string }> = {
  '063-Namespace-CREATE.json': { policy: 'baseline.namespace-team', advice: 'Add a non-empty team label' },
  '064-Namespace-CREATE.json': { policy: 'baseline.namespace-team', advice: 'Add a non-empty team label' },
};

interface ReviewResponse {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; status?: { code: number; message: string } };
}

function expectVerdict(name: string, review: ReviewResponse): void {
  expect(review.apiVersion).toBe('admission.k8s.io/v1');
  expect(review.kind).toBe('AdmissionReview');
  expect(review.response.uid).toBe(fixture(name).request.uid);
  const denial = DENIED[name];
  expect(review.response.allowed, `${name} allowed`).toBe(denial === undefined);
  if (denial) {
    expect(review.response.status?.code).toBe(403);
    expect(review.response.status?.message).toContain(`[${denial.policy}]`);
    expect(review.response.status?.message).toContain(denial.advice);
  } else {
    expect(review.response.status).toBeUndefined();
  }
}

describe('the 88 captured requests through POST /validate over HTTPS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ policies: STARTER_POLICIES });
  });
  afterAll(async () => server.close());

  it('has all 88 fixtures to work with', () => {
    expect(fixtureNames()).toHaveLength(88);
  });

  it.each(fixtureNames())('%s gets a well-formed answer with the right verdict', async (name) => {
    const result = await server.post('/validate', JSON.stringify(fixture(name)));
    expect(result.status).toBe(200);
    expectVerdict(name, result.json() as ReviewResponse);
  });

  it('logged one decision line per request, with the policy set revision', () => {
    const decisions = server.logLines.filter((line) => line['msg'] === 'decision');
    expect(decisions).toHaveLength(88);
    const denied = decisions.filter((line) => line['decision'] === 'deny');
    expect(denied.map((line) => line['uid']).sort()).toEqual(
      Object.keys(DENIED).map((name) => fixture(name).request.uid).sort(),
    );
    for (const line of decisions) {
      expect(line['revision']).toBe(server.pipeline.policySet?.revision);
      expect(typeof line['latencyUs']).toBe('number');
    }
  });
});

describe('the 88 captured requests through canopy eval', () => {
  it('answers each file with its AdmissionReview response, one per line, and exits 1 for the denials', async () => {
    const names = fixtureNames();
    const result = await runCanopy(['eval', '--json', '--policies', STARTER_POLICIES, ...names.map((n) => FIXTURE_DIR + n)]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(88);
    lines.forEach((line, index) => expectVerdict(names[index] ?? '', JSON.parse(line) as ReviewResponse));
  });

  it('exits 0 when every file is allowed', async () => {
    const allowed = fixtureNames().filter((name) => !(name in DENIED));
    const result = await runCanopy(['eval', '--policies', STARTER_POLICIES, ...allowed.map((n) => FIXTURE_DIR + n)]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${allowed.length} judged: ${allowed.length} allowed, 0 denied; 0 unreadable`);
  });
});
