// The engine in process, on one thread, for the benchmark's table: no HTTP, no TLS, no JSON parsing.
//   node bench/engine.mjs MODE POLICY_DIR SECONDS
// MODE:
//   engine         evaluate() on the requests as the pipeline builds them (every fact, declared ones
//                  included, computed beforehand): Cedar's part of a decision (the policies in scope
//                  only; no cache)
//   engine-facts   the whole policy engine: per decision, the request's declared facts (the ones the
//                  policies that can apply to it read, as the pipeline computes them: scope look-up, CEL)
//                  and evaluate() on the request the pipeline built beforehand (no translation)
//   engine-mutations, engine-facts-mutations
//                  the same for the mutating webhook's set (the mutations)
//   whole-set      Cedar's statefulIsAuthorized on the whole set in one preparsed set: the engine without
//                  Canopy's scope index, for comparison
//   review         the pipeline's review() with the decision cache off: parse, facts, translate, evaluate,
//                  decide, respond (what /validate does in a worker-less process, without HTTP)
//   review-cached  the same with the decision cache on and the requests repeating: every decision a hit
//   facts          no timing: what each request computes of the set's declared facts, and its verdict
// Prints one JSON line: decisions, seconds, per-decision latency (p50, p99, max in µs), CPU and RSS (or,
// for facts, the requests that compute declared facts, how many, which failed, and which are denied).
import { cedar } from '../dist/policy/cedar/index.js';
import { parseAdmissionReview } from '../dist/kubernetes/admission/index.js';
import { evaluate, IMPLICIT_ALLOW_ID } from '../dist/policy/engine/index.js';
import { loadPolicyDirectory } from '../dist/policy/set/index.js';
import { AdmissionPipeline } from '../dist/pipeline/index.js';
import { declaredFactsOf } from '../dist/pipeline/declared-facts.js';
import { admissionReviews } from './requests.mjs';

const [mode = 'engine', dir = 'policies', seconds = '5'] = process.argv.slice(2);
const { reviews } = admissionReviews();
const bodies = reviews.map((review) => review.body);

const pipeline = new AdmissionPipeline({ decisionCacheSize: mode === 'review-cached' ? 10_000 : 0 });
const set = await pipeline.activate(await loadPolicyDirectory(dir));
// Every fact the webhook computes without a cluster (the benchmark's servers have none either), for
// the validating webhook's policies and, with allDeclared, for the mutations too.
const kind = mode.endsWith('-mutations') ? 'mutations' : 'validating';
const cedarRequests = bodies.map((body) => pipeline.cedarRequestFor(body, {}, { allDeclared: kind === 'mutations' }).cedarRequest);

if (mode === 'facts') {
  const summary = { policies: set.policies.size, facts: set.facts.declarations.length, requests: reviews.length, computing: 0, computed: 0, failures: [], denied: [], warnings: 0 };
  for (const { name, body } of reviews) {
    const declared = declaredFactsOf(set, parseAdmissionReview(body), {}, 'validating');
    if (declared) {
      summary.computing += 1;
      summary.computed += Object.keys(declared.current).length;
      for (const [fact, reason] of Object.entries(declared.failures)) summary.failures.push(`${name} ${fact}: ${reason}`);
    }
    const response = pipeline.review(body).review.response;
    if (!response.allowed) summary.denied.push(name);
    summary.warnings += response.warnings?.length ?? 0;
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exit(0);
}

let step;
if (mode === 'engine' || mode === 'engine-mutations') {
  step = (i) => evaluate(set, cedarRequests[i % cedarRequests.length], kind);
} else if (mode === 'engine-facts' || mode === 'engine-facts-mutations') {
  const requests = bodies.map((body) => parseAdmissionReview(body));
  step = (i) => {
    const at = i % requests.length;
    declaredFactsOf(set, requests[at], {}, kind);
    return evaluate(set, cedarRequests[at], kind);
  };
} else if (mode === 'whole-set') {
  const id = 'bench-whole-set';
  const prepared = cedar.preparsePolicySet(id, { staticPolicies: { ...set.texts, [IMPLICIT_ALLOW_ID]: 'permit (principal, action, resource);' } });
  if (prepared.type === 'failure') throw new Error('cannot preparse the whole set');
  step = (i) => {
    const request = cedarRequests[i % cedarRequests.length];
    return cedar.statefulIsAuthorized({ ...request, preparsedPolicySetId: id, preparsedSchemaName: set.cedarSchemaName, validateRequest: true });
  };
} else if (mode === 'review' || mode === 'review-cached') {
  step = (i) => pipeline.review(bodies[i % bodies.length]);
} else {
  throw new Error(`unknown mode ${mode}`);
}

// Warm up: every request twice (the cached mode then answers from the cache from the start).
for (let i = 0; i < bodies.length * 2; i++) step(i);

const samples = [];
const cpu = process.cpuUsage();
const until = process.hrtime.bigint() + BigInt(Math.round(Number(seconds) * 1e9));
const started = process.hrtime.bigint();
let now = started;
let i = 0;
while (now < until) {
  step(i++);
  const after = process.hrtime.bigint();
  samples.push(Number(after - now) / 1000);
  now = after;
}
const elapsed = Number(now - started) / 1e9;
const used = process.cpuUsage(cpu);
samples.sort((a, b) => a - b);
const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
process.stdout.write(
  `${JSON.stringify({
    mode,
    policies: set.policies.size,
    decisions: i,
    seconds: elapsed,
    perSecond: i / elapsed,
    latencyUs: { mean: (elapsed * 1e6) / i, p50: at(0.5), p99: at(0.99), max: samples[samples.length - 1] },
    cpuPercent: ((used.user + used.system) / 1e6 / elapsed) * 100,
    rssBytes: process.memoryUsage().rss,
  })}\n`,
);
