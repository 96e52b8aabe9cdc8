// Shared by the Canopy k6 scripts: settings from `-e` variables, AdmissionReview bodies that get a fresh
// request.uid and a unique label on every request, the calls to /validate and /mutate with their checks, and
// the metrics per outcome. Only k6 modules are imported: k6 is not Node, and npm packages are not available
// to it.
//
// Syntax: k6 before v0.53 passes every ES module through Babel 6, whose parser stops at anything newer than
// ES2015 (object spread `{ ...a }`, `?.`, `??`, `**`, async functions, trailing commas in calls, class
// fields). These files keep to ES2015 so that k6 v0.48 and later run them; test/load-scripts.test.ts parses
// them as ES2015 to hold that.
//
// open() is deliberately not called here. k6 resolves a relative open() path against the entry script's
// directory today and plans to resolve it against the calling module later; calling it from the entry scripts
// (all in load/) keeps both readings the same. The entry scripts hand loadReviews() a function that opens a
// file.
import http from 'k6/http';
import { check } from 'k6';
import { Rate, Trend } from 'k6/metrics';

/**
 * The reviews sent when -e REVIEWS is not given, relative to load/: the bundle `node load/bundle-reviews.mjs`
 * writes (by default from the 88 real AdmissionReviews in ../shared/fixtures/admission-reviews).
 */
export const DEFAULT_REVIEWS = 'reviews.json';

/** A `-e NAME=value` setting; an empty value counts as unset so `-e P99_MS=` falls back to the default. */
export function env(name, fallback) {
  const value = __ENV[name];
  return value === undefined || value === '' ? fallback : value;
}

/** A numeric setting; a typo stops the test in the init stage instead of running with NaN thresholds. */
export function numberEnv(name, fallback) {
  const raw = env(name, undefined);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`-e ${name}=${raw} is not a non-negative number`);
  return value;
}

/** The Canopy to load, without a trailing slash: the Service, a port-forward, or a local `canopy serve`. */
export const BASE_URL = env('CANOPY_URL', 'https://127.0.0.1:8443').replace(/\/+$/, '');

// The API server gives up on a webhook after its timeoutSeconds (5 s in the chart's values, 10 s in Kubernetes
// when unset); an answer slower than that is as good as none, so it counts as a failed request instead of
// waiting out k6's 60 s default. Set -e TIMEOUT to the webhooks' timeoutSeconds if it differs.
const TIMEOUT = env('TIMEOUT', '5s');

/**
 * The files to read reviews from: `-e REVIEWS=a.json,b.json` (`-e REVIEW=one.json` still works), else the
 * bundle load/reviews.json. Each file holds one AdmissionReview or a bundle (a JSON array of them).
 */
export function reviewFiles() {
  const list = env('REVIEWS', env('REVIEW', ''));
  const files = list === '' ? [DEFAULT_REVIEWS] : list.split(',').map((file) => file.trim()).filter((file) => file !== '');
  if (files.length === 0) throw new Error('-e REVIEWS names no file');
  return files;
}

/**
 * The label put on the object each request judges (the old object of a DELETE), with a value no other request
 * of the run has, as `npm run bench` does: Canopy's decision cache remembers evaluations by what the policies
 * see, so without it the same few objects would be answered from the cache and the engine barely measured.
 */
export const UNIQUE_LABEL = 'canopy.io/load';

// Stands in for the request's uid, and for the unique label's value, in the serialized body; the fresh uid is
// spliced in for both per request, so a body of any size is serialized once in the init stage instead of
// once per request.
const UID_PLACEHOLDER = 'canopy-load-uid-placeholder-7c1e';

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Turns one AdmissionReview into a template: `parts.join(JSON.stringify(uid))` is the body, with the uid as
 * request.uid and as the value of UNIQUE_LABEL. Plain strings, so the result can live in a SharedArray (one
 * copy for all VUs).
 */
export function prepareReview(name, review) {
  if (!isObject(review) || review.kind !== 'AdmissionReview' || !isObject(review.request)) {
    throw new Error(`${name} is not an AdmissionReview with a request`);
  }
  const copy = JSON.parse(JSON.stringify(review));
  const request = copy.request;
  request.uid = UID_PLACEHOLDER;
  const judged = request.operation === 'DELETE' ? 'oldObject' : 'object';
  if (!isObject(request[judged])) request[judged] = {};
  const object = request[judged];
  if (!isObject(object.metadata)) object.metadata = {};
  if (!isObject(object.metadata.labels)) object.metadata.labels = {};
  object.metadata.labels[UNIQUE_LABEL] = UID_PLACEHOLDER;
  const parts = JSON.stringify(copy).split(JSON.stringify(UID_PLACEHOLDER));
  if (parts.length !== 3) throw new Error(`${name} contains the text ${UID_PLACEHOLDER}; rename it`);
  return { name, parts };
}

/**
 * The templates for the text of one file: a single AdmissionReview, or a bundle (a JSON array whose items are
 * AdmissionReviews or `{ name, review }`, as load/bundle-reviews.mjs writes them).
 */
export function prepareReviews(file, text) {
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not JSON: ${err}`);
  }
  const base = file.split('/').pop();
  if (!Array.isArray(parsed)) return [prepareReview(base, parsed)];
  if (parsed.length === 0) throw new Error(`${file} holds no review`);
  return parsed.map((item, index) => {
    const named = isObject(item) && item.kind === undefined && isObject(item.review);
    const name = named && typeof item.name === 'string' && item.name !== '' ? item.name : `${base}#${index + 1}`;
    return prepareReview(name, named ? item.review : item);
  });
}

/**
 * Every review of every file, as templates, read with `read` (the entry script's `(file) => open(file)`).
 * A missing default bundle gets a message that says how to make it.
 */
export function loadReviews(files, read) {
  const templates = [];
  files.forEach((file) => {
    let text;
    try {
      text = read(file);
    } catch (err) {
      if (file === DEFAULT_REVIEWS) {
        const how = 'make it with `node load/bundle-reviews.mjs` (the 88 real AdmissionReviews), or name review files with -e REVIEWS=';
        throw new Error(`load/${DEFAULT_REVIEWS} cannot be read (${err}): ${how}`);
      }
      throw err;
    }
    prepareReviews(file, text).forEach((template) => templates.push(template));
  });
  return templates;
}

// Per VU: every VU has its own JavaScript runtime, so this counter numbers the requests of one VU.
let sequence = 0;

function hex(value, width) {
  return value.toString(16).padStart(width, '0').slice(-width);
}

function randomHex(width) {
  let out = '';
  for (let i = 0; i < width; i += 1) out += Math.floor(Math.random() * 16).toString(16);
  return out;
}

/**
 * A uid no other request of this run has: the VU number and that VU's request count make it unique within the
 * run, the random middle makes it differ between runs. Shaped like the UUIDs the API server sends.
 */
export function freshUid() {
  sequence += 1;
  const variant = (8 + Math.floor(Math.random() * 4)).toString(16);
  return `${hex(__VU, 8)}-${randomHex(4)}-4${randomHex(3)}-${variant}${randomHex(3)}-${hex(sequence, 12)}`;
}

// The outcome of each answered review. A denial is a correct answer, not an error: it is counted here and never
// in http_req_failed or checks.
export const denied = new Rate('canopy_denied');
export const patched = new Rate('canopy_patched');
export const allowedDuration = new Trend('canopy_allowed_duration', true);
export const deniedDuration = new Trend('canopy_denied_duration', true);
export const patchedDuration = new Trend('canopy_patched_duration', true);

function parseAnswer(res) {
  try {
    const answer = res.json();
    return answer !== null && typeof answer === 'object' && answer.response !== null && typeof answer.response === 'object' ? answer.response : null;
  } catch (err) {
    return null; // no body (timeout, refused) or not JSON: the checks below fail
  }
}

/**
 * POSTs one review to /validate or /mutate with a fresh uid (also the value of its UNIQUE_LABEL), checks the
 * answer and records its outcome. Returns the uid sent and the parsed `response` (null when there was none),
 * for callers that want more.
 */
export function admit(webhook, review) {
  const uid = freshUid();
  const tags = { endpoint: webhook, review: review.name };
  const res = http.post(`${BASE_URL}/${webhook}`, review.parts.join(JSON.stringify(uid)), {
    headers: { 'Content-Type': 'application/json' },
    tags,
    timeout: TIMEOUT,
  });
  const response = parseAnswer(res);
  const checks = {
    'status is 200': () => res.status === 200,
    'answer echoes the uid': () => response !== null && response.uid === uid,
    'answer says allowed or not': () => response !== null && typeof response.allowed === 'boolean',
  };
  if (webhook === 'mutate') {
    // The API server rejects a patch of any other type, which would fail the user's request.
    checks['a patch is a JSONPatch'] = () => response !== null && (response.patch === undefined || response.patchType === 'JSONPatch');
  }
  check(res, checks, tags);

  if (response !== null && typeof response.allowed === 'boolean' && res.status === 200) {
    const isDenied = response.allowed === false;
    const isPatched = !isDenied && typeof response.patch === 'string' && response.patch !== '';
    denied.add(isDenied, tags);
    if (webhook === 'mutate') patched.add(isPatched, tags);
    const outcome = isDenied ? deniedDuration : isPatched ? patchedDuration : allowedDuration;
    outcome.add(res.timings.duration, tags);
  }
  return { uid, status: res.status, response };
}

/**
 * The requests a VU cycles through: every review for each webhook, `weights.validate` and `weights.mutate`
 * times over. A fixed cycle rather than Math.random() keeps the mix exact over a run and repeatable.
 */
export function mixCycle(reviewCount, weights) {
  for (const webhook of ['validate', 'mutate']) {
    if (!Number.isInteger(weights[webhook])) throw new Error(`the ${webhook} weight must be a whole number, got ${weights[webhook]}`);
  }
  const cycle = [];
  for (let index = 0; index < reviewCount; index += 1) {
    for (let i = 0; i < weights.validate; i += 1) cycle.push({ webhook: 'validate', index });
    for (let i = 0; i < weights.mutate; i += 1) cycle.push({ webhook: 'mutate', index });
  }
  if (cycle.length === 0) throw new Error('VALIDATE_WEIGHT and MUTATE_WEIGHT are both 0: nothing to send');
  return cycle;
}

let position = -1;

/** The next entry of a cycle for this VU; VUs start at different places so the reviews interleave. */
export function nextInCycle(cycle) {
  if (position < 0) position = __VU;
  position += 1;
  return cycle[position % cycle.length];
}

/** A whole-number setting of at least 1: k6 refuses a fractional rate or VU count, and 0 would send nothing. */
export function countEnv(name, fallback) {
  const value = numberEnv(name, fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`-e ${name}=${value} must be a whole number of at least 1`);
  return value;
}

/** A constant-arrival-rate scenario: RATE iterations (requests) per second, however slow the answers get. */
export function arrivalScenario(defaults, exec) {
  const preAllocatedVUs = countEnv('VUS', defaults.vus);
  return {
    executor: 'constant-arrival-rate',
    rate: countEnv('RATE', defaults.rate),
    timeUnit: '1s',
    duration: env('DURATION', defaults.duration),
    preAllocatedVUs,
    // An open model, like the API server: each second RATE iterations start, each on a VU that is free at
    // that moment. When none of the VUs started so far is free, k6 drops that iteration (dropped_iterations)
    // and starts one more VU in the background, up to MAX_VUS. So enough VUS up front, not MAX_VUS alone,
    // keeps the rate whole.
    maxVUs: Math.max(preAllocatedVUs, countEnv('MAX_VUS', defaults.maxVUs)),
    exec,
  };
}

/**
 * The pass/fail thresholds every script shares: p99 latency, the share of failed requests and the share of
 * failed checks. k6 exits with code 99 when one of them is crossed.
 */
export function thresholds(defaults) {
  const p99 = numberEnv('P99_MS', defaults.p99Ms);
  const errorRate = numberEnv('ERROR_RATE', defaults.errorRate);
  return {
    http_req_duration: [`p(99)<${p99}`],
    http_req_failed: [`rate<=${errorRate}`],
    checks: [`rate>=${1 - errorRate}`],
  };
}

/** k6 options shared by all scripts, with the scenarios and thresholds of one. */
export function baseOptions(scenarios, limits) {
  return {
    // Canopy's certificate is signed by its own CA, which k6 does not trust unless told to, so verification is
    // off by default. To verify, give k6 the CA through SSL_CERT_FILE (Linux) and turn this back on from the
    // command line, which k6 lets override a script's options:
    //   SSL_CERT_FILE=ca.crt k6 run --insecure-skip-tls-verify=false load/validate.js
    insecureSkipTLSVerify: true,
    scenarios,
    thresholds: limits,
    // Show p(99) next to the usual columns, since that is what the thresholds judge.
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  };
}
