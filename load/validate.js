// k6 load script: POSTs AdmissionReviews to a deployed Canopy's /validate at a constant rate and checks each answer.
//
//   node load/bundle-reviews.mjs     # once: load/reviews.json, the 88 real AdmissionReviews
//   k6 run -e CANOPY_URL=https://127.0.0.1:8443 -e RATE=200 -e DURATION=1m load/validate.js
//
// Every request carries a fresh request.uid, which the answer must echo, and the same value in the label
// canopy.io/load on the object, so that no two requests are alike and none is answered from Canopy's decision
// cache. Denials (allowed: false) are correct answers, counted in canopy_denied, not errors. Settings and how
// to read the result: load/README.md.
import { SharedArray } from 'k6/data';
import { admit, arrivalScenario, baseOptions, loadReviews, mixCycle, nextInCycle, reviewFiles, thresholds } from './lib/common.js';

// open() is called here, in the init stage of the entry script, so relative paths are relative to load/.
const reviews = new SharedArray('reviews', () => loadReviews(reviewFiles(), (file) => open(file)));

export const options = baseOptions(
  { validate: arrivalScenario({ rate: 200, duration: '1m', vus: 20, maxVUs: 100 }, 'default') },
  thresholds({ p99Ms: 50, errorRate: 0.001 })
);

const cycle = mixCycle(reviews.length, { validate: 1, mutate: 0 });

export default function () {
  admit('validate', reviews[nextInCycle(cycle).index]);
}
