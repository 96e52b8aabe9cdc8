// Property-based fuzzing of the webhooks over real HTTPS, with the shipped policies evaluated in real
// worker threads. Thousands of AdmissionReviews made from the real fixtures (fields removed or retyped,
// nesting thousands of levels deep, megabytes, bytes that are not UTF-8, odd numbers, unknown kinds and
// operations, custom resources, invalid JSON) must each get a 4xx with a JSON error or a well-formed
// AdmissionReview, in time, from a process that keeps serving; and noise no policy reads must never turn
// a denial into an allow.
//
// CANOPY_FUZZ_RUNS multiplies every property's number of runs (default 1; 10 for a long run, 0.1 for a
// quick one); CANOPY_FUZZ_SEED replaces the seed. A failure prints fast-check's counterexample (a recipe:
// the fixture and what was changed in it) with the HTTP status and the start of the answer.
import { readdirSync, readFileSync } from 'node:fs';
import fc, { type Arbitrary } from 'fast-check';
import { applyPatch, type Operation } from 'rfc6902';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BODY_LIMIT } from '../src/operations/config/index.js';
import { FIXTURE_DIR, REPO_ROOT, STARTER_POLICIES, fixtureNames } from './helpers/fixtures.js';
import {
  addNoise,
  hugeCase,
  invalidJsonCase,
  invalidUtf8Case,
  isObject,
  mutatedCase,
  nestedCase,
  noise,
  pathsOf,
  renderCase,
  setAt,
  type Endpoint,
  type FuzzCase,
  type Json,
  type JsonObject,
} from './helpers/fuzz-arbitraries.js';
import { startServer, type HttpResult, type TestServer } from './helpers/https.js';

function envNumber(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${text}"`);
  return value;
}

const SEED = envNumber('CANOPY_FUZZ_SEED') ?? 20261121;
const SCALE = envNumber('CANOPY_FUZZ_RUNS') ?? 1;
const runs = (base: number) => Math.max(1, Math.round(base * SCALE));
/** The API server waits at most 30 s for a webhook; anything slower than this is treated as a hang. */
const DEADLINE_MS = 10_000;
/** Generous: a failing property shrinks its counterexample, which may take many requests. */
const TEST_TIMEOUT = 180_000 * Math.max(1, SCALE);
const MiB = 1024 * 1024;
const EXAMPLES_DIR = `${REPO_ROOT}examples/admission-reviews/`;

/**
 * Found by CANOPY_FUZZ_SEED=7 CANOPY_FUZZ_RUNS=3: a Pod with 150,000 containers (a 5.9 MB body, under the
 * limit) keeps /mutate busy on the event loop for longer than the deadline (the default-resources
 * mutation costs ~0.1 ms a container, and its patch is ~94 MB). Kept so that it runs whatever the seed.
 */
const MANY_CONTAINERS: FuzzCase = {
  fixture: '034-Pod-CREATE.json',
  endpoint: '/mutate',
  mutations: [{ op: 'raw', path: ['request', 'object', 'spec', 'containers'], raw: { raw: 'huge', shape: 'containers', bytes: 5_900_000 } }],
};

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as JsonObject;

// ---------------------------------------------------------------------------------------------------
// What every answer must be

interface ReviewResponse {
  uid: string;
  allowed: boolean;
  status?: { message: string };
  patchType?: string;
  patch?: string;
}

interface Judged {
  answer: HttpResult;
  /** Absent for a 4xx. */
  response?: ReviewResponse;
}

/** What the body itself dictates: a status, or the uid a 200 must echo (undefined: no string uid). */
type Expected = { status: 400 | 413 } | { uid: string | undefined };

function expectedFor(body: Buffer): Expected {
  if (body.length > DEFAULT_BODY_LIMIT) return { status: 413 };
  let parsed: Json;
  try {
    // As the server decodes it: invalid UTF-8 becomes U+FFFD, then JSON.parse.
    parsed = JSON.parse(body.toString('utf8')) as Json;
  } catch {
    return { status: 400 };
  }
  const request = isObject(parsed) ? parsed['request'] : undefined;
  const uid = isObject(request) ? request['uid'] : undefined;
  return { uid: typeof uid === 'string' ? uid : undefined };
}

class AnswerError extends Error {
  constructor(endpoint: string, answer: HttpResult, reason: string) {
    super(`${reason}\n    ${endpoint} answered HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
  }
}

function parseBody(endpoint: string, answer: HttpResult): JsonObject {
  let body: Json;
  try {
    body = JSON.parse(answer.body) as Json;
  } catch {
    throw new AnswerError(endpoint, answer, 'the answer is not JSON');
  }
  if (!isObject(body)) throw new AnswerError(endpoint, answer, 'the answer is not a JSON object');
  return body;
}

function checkError(endpoint: string, answer: HttpResult): void {
  if (!String(answer.headers['content-type']).startsWith('application/json')) throw new AnswerError(endpoint, answer, 'a 4xx without a JSON content type');
  const body = parseBody(endpoint, answer);
  if (typeof body['error'] !== 'string' || typeof body['message'] !== 'string') throw new AnswerError(endpoint, answer, 'a 4xx without string error and message');
}

/** A JSON Patch as the API server reads it: base64 of a JSON array, with patchType JSONPatch. */
function checkPatch(endpoint: string, answer: HttpResult, response: JsonObject): void {
  const patch = response['patch'];
  if (patch === undefined && response['patchType'] === undefined) return;
  if (response['patchType'] !== 'JSONPatch') throw new AnswerError(endpoint, answer, 'a patch whose patchType is not JSONPatch');
  // A round trip rather than a regular expression: a patch may be megabytes, more than a regex's backtracking stack holds.
  if (typeof patch !== 'string' || Buffer.from(patch, 'base64').toString('base64') !== patch) {
    throw new AnswerError(endpoint, answer, 'a patch that is not base64');
  }
  let operations: Json;
  try {
    operations = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Json;
  } catch {
    throw new AnswerError(endpoint, answer, 'a patch that is not base64 of JSON');
  }
  if (!Array.isArray(operations)) throw new AnswerError(endpoint, answer, 'a patch that is not a JSON array');
}

function checkReview(endpoint: Endpoint, answer: HttpResult, uid: string | undefined): ReviewResponse {
  const review = parseBody(endpoint, answer);
  if (review['apiVersion'] !== 'admission.k8s.io/v1' || review['kind'] !== 'AdmissionReview') throw new AnswerError(endpoint, answer, 'not an AdmissionReview v1');
  const response = review['response'];
  if (!isObject(response)) throw new AnswerError(endpoint, answer, 'no response object');
  if (uid === undefined) throw new AnswerError(endpoint, answer, 'a 200 for a body without a string request.uid');
  if (response['uid'] !== uid) throw new AnswerError(endpoint, answer, `response.uid is not the request's uid ${JSON.stringify(uid)}`);
  if (typeof response['allowed'] !== 'boolean') throw new AnswerError(endpoint, answer, 'response.allowed is not a boolean');
  const status = response['status'];
  if (!response['allowed'] && !(isObject(status) && typeof status['message'] === 'string')) {
    throw new AnswerError(endpoint, answer, 'a denial without a status.message string');
  }
  if (endpoint === '/mutate') checkPatch(endpoint, answer, response);
  return response as unknown as ReviewResponse;
}

/** Invariant 1: a 4xx with a JSON error, or a 200 with a well-formed AdmissionReview; never a 5xx. */
function checkAnswer(endpoint: Endpoint, answer: HttpResult, expected: Expected): Judged {
  const wanted = 'status' in expected ? expected.status : undefined;
  if (wanted !== undefined && answer.status !== wanted) throw new AnswerError(endpoint, answer, `expected HTTP ${wanted}`);
  if (answer.status >= 400 && answer.status < 500) {
    checkError(endpoint, answer);
    return { answer };
  }
  if (answer.status !== 200) throw new AnswerError(endpoint, answer, 'neither a 4xx nor a 200');
  return { answer, response: checkReview(endpoint, answer, 'uid' in expected ? expected.uid : undefined) };
}

// ---------------------------------------------------------------------------------------------------
// The server and its client

let server: TestServer;

async function withDeadline<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function post(endpoint: Endpoint, body: Buffer): Promise<HttpResult> {
  return withDeadline(`POST ${endpoint} (${body.length} bytes)`, server.post(endpoint, body));
}

async function judge(endpoint: Endpoint, review: JsonObject): Promise<Judged> {
  const body = Buffer.from(JSON.stringify(review));
  return checkAnswer(endpoint, await post(endpoint, body), expectedFor(body));
}

let fixtures: Map<string, JsonObject>;
/** Reviews the shipped policies deny, by name: fixtures, examples, and fixtures made privileged. */
let denied: Map<string, JsonObject>;
let knownDenied: JsonObject;
let knownAllowed: JsonObject;
let probes = 0;

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`no ${what}`);
  return value;
}

/**
 * A review as sent again: a new uid, and a group no other request has, so that the decision cache
 * cannot answer and a worker thread must evaluate it.
 */
function probe(review: JsonObject): JsonObject {
  probes += 1;
  const copy = structuredClone(review);
  const request = copy['request'];
  if (isObject(request) && isObject(request['userInfo'])) {
    request['uid'] = `canopy-fuzz-probe-${probes}`;
    const groups = request['userInfo']['groups'];
    request['userInfo']['groups'] = [...(Array.isArray(groups) ? groups : []), `canopy-fuzz-probe-${probes}`];
  }
  return copy;
}

/** Invariant 2: the process still serves, and still judges a denied and an allowed review as before. */
async function assertAlive(): Promise<void> {
  const health = await withDeadline('GET /healthz', server.get('/healthz'));
  if (health.status !== 200) throw new AnswerError('/healthz', health, 'the server is not healthy');
  const deny = await judge('/validate', probe(knownDenied));
  if (deny.response?.allowed !== false) throw new AnswerError('/validate', deny.answer, 'the known denied review is no longer denied');
  const allow = await judge('/validate', probe(knownAllowed));
  if (allow.response?.allowed !== true) throw new AnswerError('/validate', allow.answer, 'the known allowed review is no longer allowed');
}

/** Runs a property with the seed and the scaled number of runs, then checks the server survived it. */
async function fuzz<T>(arbitrary: Arbitrary<T>, numRuns: number, property: (value: T) => Promise<void>): Promise<void> {
  await fc.assert(fc.asyncProperty(arbitrary, property), { seed: SEED, numRuns: runs(numRuns) });
  await assertAlive();
}

/**
 * Sends a generated case to its endpoint and checks the answer against what its bytes dictate. With
 * `needsRaw`, a case whose raw value did not make it into the body (its parent was missing) is skipped:
 * it would not test what its property is about.
 */
async function sendCase(fuzzCase: FuzzCase, needsRaw = false): Promise<void> {
  const { body, raws } = renderCase(fixtures, fuzzCase);
  fc.pre(!needsRaw || raws > 0);
  checkAnswer(fuzzCase.endpoint, await post(fuzzCase.endpoint, body), expectedFor(body));
}

// ---------------------------------------------------------------------------------------------------
// Reviews the policies deny

/** The fixture with its first container made privileged, for workload kinds: pod-security.baseline.privileged denies those. */
function madePrivileged(review: JsonObject): JsonObject | undefined {
  const copy = structuredClone(review);
  const containers = pathsOf(copy).find((path) => path[0] === 'request' && path[1] === 'object' && path.at(-1) === 'containers');
  if (!containers) return undefined;
  setAt(copy, [...containers, 0, 'securityContext'], { privileged: true });
  return copy;
}

function deniedCandidates(): Map<string, JsonObject> {
  const candidates = new Map<string, JsonObject>(fixtures);
  for (const name of readdirSync(EXAMPLES_DIR).filter((n) => n.endsWith('.json'))) candidates.set(`examples/${name}`, readJson(`${EXAMPLES_DIR}${name}`));
  for (const [name, review] of fixtures) {
    const privileged = madePrivileged(review);
    if (privileged) candidates.set(`${name} made privileged`, privileged);
  }
  return candidates;
}

/** Asks the server which candidates it denies. */
async function findDenied(): Promise<Map<string, JsonObject>> {
  const found = new Map<string, JsonObject>();
  for (const [name, review] of deniedCandidates()) {
    const { response } = await judge('/validate', review);
    if (response?.allowed === false) found.set(name, review);
  }
  return found;
}

/** The review with the object a mutation response's patch produces, as the API server would validate it. */
function patchedReview(judged: Judged, review: JsonObject): JsonObject {
  const copy = structuredClone(review);
  const request = copy['request'];
  const patch = judged.response?.patch;
  if (!patch || !isObject(request)) return copy;
  const object = request['object'] ?? null;
  const failures = applyPatch(object, JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[]).filter((result) => result !== null);
  if (failures.length > 0) throw new AnswerError('/mutate', judged.answer, `the patch does not apply: ${failures.map(String).join('; ')}`);
  return copy;
}

// ---------------------------------------------------------------------------------------------------

describe('fuzzing /validate and /mutate over HTTPS', () => {
  beforeAll(async () => {
    server = await startServer({ policies: STARTER_POLICIES, workers: 2 });
    fixtures = new Map(fixtureNames().map((name) => [name, readJson(`${FIXTURE_DIR}${name}`)]));
    denied = await findDenied();
    knownDenied = required(denied.get('examples/privileged-pod.json'), 'denial of examples/privileged-pod.json');
    knownAllowed = required(fixtures.get('012-Pod-CREATE.json'), 'fixture 012-Pod-CREATE.json');
  });
  afterAll(async () => server?.close());

  it('denies some of the real reviews, to have denials to add noise to', async () => {
    expect([...denied.keys()]).toContain('examples/privileged-pod.json');
    expect(denied.size).toBeGreaterThan(5);
    await assertAlive();
  });

  it('answers fixtures with fields removed, retyped, renumbered, of unknown kinds and operations', { timeout: TEST_TIMEOUT }, async () => {
    await fuzz(mutatedCase(fixtures), 2000, (c) => sendCase(c));
  });

  it('answers objects nested 5,000 to 20,000 levels deep, and around where recursion runs out', { timeout: TEST_TIMEOUT }, async () => {
    // V8's recursion (structuredClone, isDeepStrictEqual, JSON.stringify) gives out between 1,000 and 5,000 levels.
    const depth = fc.oneof(fc.integer({ min: 5_000, max: 20_000 }), fc.integer({ min: 300, max: 2_500 }));
    await fuzz(nestedCase(fixtures, depth), 80, (c) => sendCase(c, true));
  });

  it('refuses bodies over the body limit with 413', { timeout: TEST_TIMEOUT }, async () => {
    await fuzz(hugeCase(fixtures, { min: DEFAULT_BODY_LIMIT + 64 * 1024, max: 7 * MiB }), 4, (c) => sendCase(c, true));
  });

  it('answers bodies holding bytes that are not UTF-8', { timeout: TEST_TIMEOUT }, async () => {
    await fuzz(invalidUtf8Case(fixtures), 400, (c) => sendCase(c, true));
  });

  it('answers bodies cut short or with text before or after them, with 400 when they are not JSON', { timeout: TEST_TIMEOUT }, async () => {
    await fuzz(invalidJsonCase(fixtures), 400, (c) => sendCase(c));
  });

  it('never lets noise turn a denial into an allow on /validate', { timeout: TEST_TIMEOUT }, async () => {
    await fuzz(fc.tuple(fc.constantFrom(...denied.keys()), noise), 800, async ([name, added]) => {
      const judged = await judge('/validate', addNoise(required(denied.get(name), name), added));
      if (judged.response?.allowed === true) throw new AnswerError('/validate', judged.answer, `noise turned the denial of ${name} into an allow`);
    });
  });

  it('never lets noise turn a denial into an allow through /mutate and /validate of the patched object', { timeout: TEST_TIMEOUT }, async () => {
    await fuzz(fc.tuple(fc.constantFrom(...denied.keys()), noise), 400, async ([name, added]) => {
      const review = addNoise(required(denied.get(name), name), added);
      const mutated = await judge('/mutate', review);
      // A 4xx or a denial from the mutating webhook ends the request: nothing gets through.
      if (mutated.response?.allowed !== true) return;
      const judged = await judge('/validate', patchedReview(mutated, review));
      if (judged.response?.allowed === true) throw new AnswerError('/validate', judged.answer, `noise turned the denial of ${name} into an allow after /mutate`);
    });
  });

  // These two last: a body that keeps the server busy past the deadline would fail the tests after it too.
  it('answers enormous strings, arrays and maps under the body limit', { timeout: TEST_TIMEOUT }, async () => {
    await fuzz(hugeCase(fixtures, { min: 256 * 1024, max: 5 * MiB }), 16, (c) => sendCase(c, true));
  });

  it('answers a Pod with 150,000 containers on /mutate in time (a counterexample found before)', { timeout: TEST_TIMEOUT }, async () => {
    await sendCase(MANY_CONTAINERS);
    await assertAlive();
  });
});
