// k6 soak script: the mixed /validate and /mutate load at a moderate constant rate for a long time (30 minutes by
// default), to find what only time shows: memory that grows, latency that creeps up, errors that start late.
//
//   node load/bundle-reviews.mjs     # once: load/reviews.json, the 88 real AdmissionReviews
//   k6 run -e CANOPY_URL=https://127.0.0.1:8443 -e RATE=50 -e DURATION=30m load/soak.js
//
// Unlike the other scripts any failed request or check fails the run (ERROR_RATE defaults to 0). A second
// scenario reads GET /metrics every SCRAPE_EVERY (30s) and records process_resident_memory_bytes in the trend
// canopy_rss_bytes; -e RSS_MB=... turns that into a threshold. Settings and how to read the result:
// load/README.md.
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import { Trend } from 'k6/metrics';
import { BASE_URL, admit, arrivalScenario, baseOptions, env, loadReviews, mixCycle, nextInCycle, numberEnv, reviewFiles, thresholds } from './lib/common.js';

// open() is called here, in the init stage of the entry script, so relative paths are relative to load/.
const reviews = new SharedArray('reviews', () => loadReviews(reviewFiles(), (file) => open(file)));

const scrapeEvery = env('SCRAPE_EVERY', '30s');
const rssLimitMb = numberEnv('RSS_MB', 0);

const scenarios = { soak: arrivalScenario({ rate: 50, duration: '30m', vus: 10, maxVUs: 50 }, 'default') };
if (scrapeEvery !== 'off') {
  // One scrape per SCRAPE_EVERY for the whole run. Behind a Service each scrape may reach a different replica;
  // to follow one pod, port-forward to it (or read the metric in Prometheus per pod).
  scenarios.rss = {
    executor: 'constant-arrival-rate',
    rate: 1,
    timeUnit: scrapeEvery,
    duration: scenarios.soak.duration,
    preAllocatedVUs: 1,
    maxVUs: 1,
    exec: 'rss',
  };
}

const limits = thresholds({ p99Ms: 50, errorRate: 0 });
if (rssLimitMb > 0 && scenarios.rss) limits.canopy_rss_bytes = [`max<${rssLimitMb * 1024 * 1024}`];

export const options = baseOptions(scenarios, limits);

const cycle = mixCycle(reviews.length, { validate: numberEnv('VALIDATE_WEIGHT', 1), mutate: numberEnv('MUTATE_WEIGHT', 1) });

export default function () {
  const next = nextInCycle(cycle);
  admit(next.webhook, reviews[next.index]);
}

// Canopy's resident set size in bytes, as its /metrics reports it; min and max over the run show the growth.
const rssBytes = new Trend('canopy_rss_bytes');

export function rss() {
  const res = http.get(`${BASE_URL}/metrics`, { tags: { endpoint: 'metrics' }, timeout: '10s' });
  const match = /^process_resident_memory_bytes\s+(\S+)/m.exec(typeof res.body === 'string' ? res.body : '');
  check(res, {
    'metrics status is 200': (r) => r.status === 200,
    'metrics report process_resident_memory_bytes': () => match !== null,
  });
  if (match !== null) rssBytes.add(Number(match[1]));
}
