// k6 load script: a weighted mix of /validate and /mutate over many AdmissionReviews, at a constant total rate,
// as the API server sends them when both webhooks are registered.
//
//   node load/bundle-reviews.mjs     # once: load/reviews.json, the 88 real AdmissionReviews
//   k6 run -e CANOPY_URL=https://127.0.0.1:8443 -e RATE=300 -e VALIDATE_WEIGHT=2 -e MUTATE_WEIGHT=1 load/mixed.js
//
// RATE is the total of both webhooks. With the default weights 1:1 every review goes to each webhook equally
// often (the API server calls the mutating webhooks, then the validating ones, for each admitted object).
// Settings and how to read the result: load/README.md.
import { SharedArray } from 'k6/data';
import { admit, arrivalScenario, baseOptions, loadReviews, mixCycle, nextInCycle, numberEnv, reviewFiles, thresholds } from './lib/common.js';

// open() is called here, in the init stage of the entry script, so relative paths are relative to load/.
const reviews = new SharedArray('reviews', () => loadReviews(reviewFiles(), (file) => open(file)));

const P99_DEFAULT_MS = 50;

// Plain assignments rather than an object spread: k6 before v0.53 cannot parse `{ ...a }` (see lib/common.js).
const limits = thresholds({ p99Ms: P99_DEFAULT_MS, errorRate: 0.001 });
// The same p99 limit per webhook: a slow mutate hidden by fast validates still fails the run, and k6 prints
// these sub-metrics in the summary only because they have thresholds.
limits['http_req_duration{endpoint:validate}'] = [`p(99)<${numberEnv('P99_MS', P99_DEFAULT_MS)}`];
limits['http_req_duration{endpoint:mutate}'] = [`p(99)<${numberEnv('P99_MS', P99_DEFAULT_MS)}`];

export const options = baseOptions({ mixed: arrivalScenario({ rate: 200, duration: '1m', vus: 20, maxVUs: 100 }, 'default') }, limits);

const cycle = mixCycle(reviews.length, { validate: numberEnv('VALIDATE_WEIGHT', 1), mutate: numberEnv('MUTATE_WEIGHT', 1) });

export default function () {
  const next = nextInCycle(cycle);
  admit(next.webhook, reviews[next.index]);
}
