// Shared by the Canopy k6 scripts: settings from `-e` variables, AdmissionReview bodies that get a fresh
// request.uid on every request, the calls to /validate and /mutate with their checks, and the metrics per
// outcome. Only k6 modules are imported: k6 is not Node, and npm packages are not available to it.
//
// open() is deliberately not called here. k6 resolves a relative open() path against the entry script's
// directory today and plans to resolve it against the calling module later; calling it from the entry scripts
// (all in load/) keeps both readings the same. The entry scripts read the files and hand the text to
// prepareReview().
import http from 'k6/http';
import { check } from 'k6';
import { Rate, Trend } from 'k6/metrics';

/** The example reviews shipped with Canopy, relative to load/ (where the entry scripts live). */
export const DEFAULT_REVIEWS = [
  '../examples/admission-reviews/pod.json',
  '../examples/admission-reviews/privileged-pod.json',
  '../examples/admission-reviews/pod-without-resources.json',
];

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

/** The review files to send: `-e REVIEWS=a.json,b.json` (`-e REVIEW=one.json` still works), else the examples. */
export function reviewFiles() {
  const list = env('REVIEWS', env('REVIEW', ''));
  const files = list === '' ? DEFAULT_REVIEWS : list.split(',').map((file) => file.trim()).filter((file) => file !== '');
  if (files.length === 0) throw new Error('-e REVIEWS names no file');
  return files;
}

// Stands in for request.uid in the serialized body; a fresh uid is spliced in per request, so a body of any size
// is serialized once in the init stage instead of once per request.
const UID_PLACEHOLDER = 'canopy-load-uid-placeholder-7c1e';

/**
 * Turns one AdmissionReview file into a template: `head + JSON.stringify(uid) + tail` is the body.
 * Plain strings, so the result can live in a SharedArray (one copy for all VUs).
 */
export function prepareReview(file, text) {
  let review;
  try {
    review = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not JSON: ${err}`);
  }
  if (review === null || typeof review !== 'object' || review.kind !== 'AdmissionReview' || review.request === null || typeof review.request !== 'object') {
    throw new Error(`${file} is not an AdmissionReview with a request`);
  }
  review.request.uid = UID_PLACEHOLDER;
  const parts = JSON.stringify(review).split(JSON.stringify(UID_PLACEHOLDER));
  if (parts.length !== 2) throw new Error(`${file} contains the text ${UID_PLACEHOLDER}; rename it`);
  return { name: file.split('/').pop(), head: parts[0], tail: parts[1] };
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
 * POSTs one review to /validate or /mutate with a fresh uid, checks the answer and records its outcome.
 * Returns the uid sent and the parsed `response` (null when there was none), for callers that want more.
 */
export function admit(webhook, review) {
  const uid = freshUid();
  const tags = { endpoint: webhook, review: review.name };
  const res = http.post(`${BASE_URL}/${webhook}`, review.head + JSON.stringify(uid) + review.tail, {
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
    // More VUs are started when answers slow down, so the arrival rate holds (an open model, like the API
    // server); when even MAX_VUS is not enough k6 reports dropped_iterations.
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
    // Canopy's generated certificate is signed by its own CA; k6 cannot be given a CA file, so TLS
    // verification is skipped here. Run it against a test deployment, not through an untrusted network.
    insecureSkipTLSVerify: true,
    scenarios,
    thresholds: limits,
    // Show p(99) next to the usual columns, since that is what the thresholds judge.
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  };
}
