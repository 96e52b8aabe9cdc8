// npm run bench: Canopy's admission webhooks measured side by side on this machine, over HTTPS
// keep-alive on 127.0.0.1, with the real AdmissionReview requests a kube-apiserver sent:
//   (a) the null webhook: the same server stack answering allowed: true without evaluating (the ceiling);
//   (b) the engine in process, one thread, no HTTP (bench/engine.mjs): the policy set's declared facts
//       (CEL) and Cedar, on the requests as the pipeline builds them; Cedar alone beside it;
//   (c) `canopy serve` /validate and /mutate with the shipped policies and with 1,000 policies;
//   (d) declared facts (bench/facts.mjs): the shipped set plus 30 facts and 31 policies that read them,
//       served and in process; 10 policies + their facts against 1,000 policies + 100 facts, per decision;
//   (e) the Pod Security pack: the shipped set before it, and the restricted level enforced everywhere;
//   (f) the policy library: the shipped set (every pack of policies/packs/ on) against every pack off;
//   (g) budgets (bench/fleet-budgets.mjs): `canopy serve` connected to a cluster and to a fleet store (fake
//       API servers on 127.0.0.1, bench/fake-kube.mjs), /validate for GPU pods of a tenant with a local
//       budget and of a tenant with a fleet budget within its share, in turn; and the latency of requests
//       that each fetch more share from the fleet store (one conditional update), sent one at a time.
// The /validate rows that a ratio target compares ((c) shipped, (f) and (d); (e)'s two; (g)'s two) are measured in
// turn, two passes each (measureInTurn), so that both sides of a ratio meet the same drift of the machine.
// Then the machine's limit per webhook, what each webhook reaches of it, the targets, each PASS or FAIL, a
// table with the CPU time of every row per request, and the whole run as JSON (--json FILE).
//
// The limit is what the cores could answer if a request cost only the engine and the HTTP layer:
// cores / (CPU per request of (b) + CPU per request of (a)), from rows of the same run.
// autocannon drives the load from this process; every server runs in a process of its own, so its CPU
// and RSS are its own. This process's own CPU per request during a row (the load generator's, and in
// (g) the fake API servers') is the *client* column: it runs on the same cores, so the most any server
// could reach here is cores / (server's CPU per request + client's), and the run prints what that
// leaves of the limit. Not part of `npm test`.
//
//   npm run bench                       everything, with a 5-minute soak at half load
//   npm run bench -- --soak-seconds 0   without the soak
//   npm run bench -- --duration 5       shorter measurement runs (default 10 s each)
//   BENCH_ONLY=fleet npm run bench      only the rows of (g), their target and lines (for development)
//   BENCH_ONLY=soak npm run bench -- --soak-seconds 1800
//                                       the full-load /validate row (for the half rate) and the soak alone
//   BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' BENCH_ONLY=fleet npm run bench
//                                       Node options for every server process (Node refuses --cpu-prof in
//                                       NODE_OPTIONS); servers then stop with SIGTERM, so profiles are written
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { get as httpsGet } from 'node:https';
import { paced } from './paced.mjs';
import { admissionReviews, describeMix, policySets, REPO, UNIQUE_PLACEHOLDER, withUniqueLabel } from './requests.mjs';
import { fleetPolicies, fleetServeArgs, oneAtATime, podRequests, startFakeCluster, startFleetStore, STEP_POD_GPUS, TENANTS, waitReady } from './fleet-budgets.mjs';

const { values: options } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    'soak-seconds': { type: 'string', default: '300' },
    json: { type: 'string', default: path.join(REPO, 'bench', 'last-run.json') },
  },
});
const DURATION = Number(options.duration);
const WARMUP = Number(options.warmup);
const CONNECTIONS = Number(options.connections);
const SOAK_SECONDS = Number(options['soak-seconds']);
// BENCH_ONLY=SECTION measures that section's rows alone (and prints only its targets); unset, everything.
const SECTIONS = {
  fleet: '(g) budgets: a local budget, a fleet budget within its share, fetching share from the fleet store',
  soak: 'serve /validate at full load (for the half rate), then the soak at half load for --soak-seconds, and the memory targets',
};
const ONLY = process.env.BENCH_ONLY ?? '';
if (ONLY !== '' && !Object.hasOwn(SECTIONS, ONLY)) {
  throw new Error(`BENCH_ONLY=${ONLY}: not a section; one of ${Object.entries(SECTIONS).map(([name, what]) => `${name} (${what})`).join(', ')}`);
}
const ALL = ONLY === '';

const say = (line) => process.stderr.write(`${line}\n`);
const CLOCK_TICKS = 100; // Linux's USER_HZ: /proc/PID/stat counts CPU time in 1/100 s

/** CPU seconds (user + system, all threads) and RSS of a process, from /proc. */
function processUsage(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
}

/** Server processes still running: killed if the benchmark stops on an error, so that none is left behind. */
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts a server process and waits for "listening on https://127.0.0.1:PORT" on its stderr. */
const SERVER_NODE_ARGS = (process.env['BENCH_SERVER_NODE_ARGS'] ?? '').split(' ').filter(Boolean);

function startServer(args, label) {
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS, ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start: ${stderr}`)), 60_000);
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const match = /listening on https:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        const signal = SERVER_NODE_ARGS.length > 0 ? 'SIGTERM' : 'SIGKILL';
        resolve({ child, port: Number(match[1]), stop: () => new Promise((done) => (child.once('exit', done), child.kill(signal))) });
      }
    });
    child.once('exit', (code) => reject(new Error(`${label} exited ${code}: ${stderr}`)));
  });
}

function startServe(policies, extraArgs = []) {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'canopy-bench-serve-'));
  // stdout (one decision record per request, as in production) goes to /dev/null, not through this process.
  return startServer(
    [path.join(REPO, 'bin', 'canopy.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--policies', policies, '--state-dir', stateDir, ...extraArgs],
    'canopy serve',
  ).then((server) => ({ ...server, ca: readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8') }));
}

function startNull() {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'canopy-bench-null-'));
  return startServer([path.join(REPO, 'bench', 'null-webhook.mjs'), stateDir], 'null webhook').then((server) => ({
    ...server,
    ca: readFileSync(path.join(stateDir, 'tls', 'ca.crt'), 'utf8'),
  }));
}

/** The q-quantile of sorted values. */
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

let requestCounter = 0;

/** A fresh value for the placeholder of a body. */
const nextId = () => `n${(requestCounter += 1)}`;

/**
 * One autocannon run against a server, as fast as it answers. Latency is timed here per request
 * (autocannon's own histogram keeps whole milliseconds). With `unique`,
 * the placeholder in each body becomes a fresh number, so no two requests are alike. `onAnswer(index,
 * id, status, body)`, if given, is told of every answer: the body's index, the placeholder's value.
 */
function load(server, route, bodies, { seconds, unique, onAnswer }) {
  const latencies = [];
  const status = { ok: 0, other: 0 };
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `https://127.0.0.1:${server.port}`,
        connections: CONNECTIONS,
        duration: seconds,
        tlsOptions: { ca: server.ca, servername: 'localhost' },
        requests: bodies.map((body, index) => ({
          method: 'POST',
          path: route,
          headers: { 'content-type': 'application/json' },
          body,
          setupRequest: (request, context) => {
            context.sentAt = process.hrtime.bigint();
            context.id = unique ? nextId() : undefined;
            return unique ? { ...request, body: body.replaceAll(UNIQUE_PLACEHOLDER, context.id) } : request;
          },
          onResponse: (code, answer, context) => {
            latencies.push(Number(process.hrtime.bigint() - context.sentAt) / 1e6);
            if (code === 200) status.ok += 1;
            else status.other += 1;
            onAnswer?.(index, context.id, code, answer);
          },
        })),
      },
      (error, result) => {
        if (error) return reject(error);
        latencies.sort((a, b) => a - b);
        resolve({
          requests: result.requests.total,
          errors: result.errors + result.timeouts + status.other,
          latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? 0 },
          latencies,
        });
      },
    );
    instance.on('error', reject);
  });
}

/**
 * From the server's /metrics: the event-loop delay p99 since the previous scrape (prom-client resets its
 * histogram on every scrape; it samples the loop every 10 ms and records the time between samples, so an
 * idle loop reads 10 ms: the delay is what is recorded beyond that interval), and the counts of its
 * request-duration histogram (canopy_admission_request_duration_seconds: from the body received to the
 * answer, by the server's own clock), per webhook and bucket, summed over decisions.
 */
const LAG_SAMPLING_MS = 10;
function serverMetrics(server) {
  return new Promise((resolve) => {
    const request = httpsGet({ host: '127.0.0.1', port: server.port, path: '/metrics', ca: server.ca, servername: 'localhost' }, (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => {
        const lag = /^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text);
        const latency = {};
        for (const [, labels, count] of text.matchAll(/^canopy_admission_request_duration_seconds_bucket\{([^}]*)\} (\S+)$/gm)) {
          const webhook = /webhook="([^"]*)"/.exec(labels)?.[1] ?? '';
          const le = /le="([^"]*)"/.exec(labels)?.[1] ?? '';
          latency[webhook] ??= {};
          latency[webhook][le] = (latency[webhook][le] ?? 0) + Number(count);
        }
        resolve({ lagP99Ms: lag ? Math.max(0, Number(lag[1]) * 1000 - LAG_SAMPLING_MS) : undefined, latency });
      });
    });
    request.on('error', () => resolve({ lagP99Ms: undefined, latency: {} }));
  });
}

/**
 * The requests of a pass by the server's own clock (serverMetrics, the difference of two scrapes): how
 * many it answered and how many of them took over 10 ms. The histogram's buckets say no more than that.
 */
function latencyBetween(before, after, route) {
  const webhook = route.replace(/^\//, '');
  const count = (scrape, le) => scrape[webhook]?.[le] ?? 0;
  const answered = count(after, '+Inf') - count(before, '+Inf');
  const within10ms = count(after, '0.01') - count(before, '0.01');
  return { answered, over10ms: answered - within10ms };
}

/** At a steady rate (paced.mjs), each body made unique as `load` does. */
function steady(server, route, bodies, { seconds, rate, unique }) {
  const prepare = unique ? (body) => body.replace(UNIQUE_PLACEHOLDER, nextId()) : undefined;
  return paced({ port: server.port, ca: server.ca, route, bodies, rate, seconds, connections: CONNECTIONS, ...(prepare ? { prepare } : {}) });
}

/**
 * Warms up, then measures one pass against a server: requests answered, their latencies, the server's CPU
 * time and RSS. Without a rate, autocannon sends as fast as the server answers (the maximum); with one,
 * requests go at that steady rate (paced.mjs, whose latencies arrive as percentiles only).
 */
async function measurePass(server, route, bodies, { rate, unique = true, seconds = DURATION, withLag = false, onAnswer } = {}) {
  const run = rate ? steady : load;
  await run(server, route, bodies, { seconds: WARMUP, rate, unique, onAnswer });
  const metricsBefore = withLag ? await serverMetrics(server) : undefined;
  const before = processUsage(server.child.pid);
  const client = process.cpuUsage();
  const result = await run(server, route, bodies, { seconds, rate, unique, onAnswer });
  const clientUsage = process.cpuUsage(client);
  const after = processUsage(server.child.pid);
  const metricsAfter = withLag ? await serverMetrics(server) : undefined;
  return {
    seconds,
    result,
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    clientCpuSeconds: (clientUsage.user + clientUsage.system) / 1e6,
    rssBytes: after.rssBytes,
    lag: metricsAfter?.lagP99Ms,
    ...(metricsBefore && metricsAfter ? { serverLatency: latencyBetween(metricsBefore.latency, metricsAfter.latency, route) } : {}),
  };
}

/** One row of the table from one or more passes against the same server: their sums, latencies pooled. */
function rowOf(label, passes) {
  const seconds = passes.reduce((sum, pass) => sum + pass.seconds, 0);
  const requests = passes.reduce((sum, pass) => sum + pass.result.requests, 0);
  const cpuSeconds = passes.reduce((sum, pass) => sum + pass.cpuSeconds, 0);
  const pooled = passes.length === 1 ? undefined : passes.flatMap((pass) => pass.result.latencies ?? []).sort((a, b) => a - b);
  const lags = passes.map((pass) => pass.lag).filter((lag) => lag !== undefined);
  const clientCpuSeconds = passes.reduce((sum, pass) => sum + (pass.clientCpuSeconds ?? 0), 0);
  const serverLatencies = passes.map((pass) => pass.serverLatency).filter((latency) => latency !== undefined);
  const serverAnswered = serverLatencies.reduce((sum, latency) => sum + latency.answered, 0);
  return {
    row: label,
    requestsPerSecond: requests / seconds,
    latencyMs: pooled && pooled.length > 0 ? { p50: quantile(pooled, 0.5), p99: quantile(pooled, 0.99), max: pooled.at(-1) ?? 0 } : passes[0].result.latencyMs,
    cpuPercent: (cpuSeconds / seconds) * 100,
    // The server's CPU time (every thread) per request answered.
    cpuUsPerRequest: (cpuSeconds / Math.max(1, requests)) * 1e6,
    rssMiB: (passes.at(-1)?.rssBytes ?? 0) / 2 ** 20,
    errors: passes.reduce((sum, pass) => sum + pass.result.errors, 0),
    ...(lags.length > 0 ? { eventLoopLagP99Ms: Math.max(...lags) } : {}),
    // This process's CPU per request meanwhile: the load generator's (and in (g) the fake API servers').
    clientCpuUsPerRequest: (clientCpuSeconds / Math.max(1, requests)) * 1e6,
    ...(passes[0]?.result.clientLoopDelayP99Ms !== undefined ? { clientLoopDelayP99Ms: Math.max(...passes.map((pass) => pass.result.clientLoopDelayP99Ms ?? 0)) } : {}),
    ...(serverAnswered > 0 ? { serverAnswered, serverOver10msShare: serverLatencies.reduce((sum, latency) => sum + latency.over10ms, 0) / serverAnswered } : {}),
    ...(passes.length > 1 ? { passes: passes.length } : {}),
  };
}

/** Measures one HTTP row (measurePass): throughput, latency, the server's CPU and RSS. */
async function measureHttp(label, server, route, bodies, options = {}) {
  say(`  ${label}${options.rate ? ` at ${options.rate} req/s` : ''} ...`);
  return rowOf(label, [await measurePass(server, route, bodies, options)]);
}

/**
 * The rows a ratio target compares, measured in turn: A, B, …, then A, B, … again (`passes` rounds), each
 * row the sum of its passes. On a shared machine throughput drifts by ±15% over a minute; rows measured a
 * minute apart can then differ by more than what a target asks about, while rows taken turn by turn meet
 * the same drift. An entry may bring its own `bodies` and `onAnswer` (measurePass).
 */
async function measureInTurn(entries, route, bodies, { passes = 2, ...options } = {}) {
  const done = entries.map(() => []);
  for (let round = 0; round < passes; round++) {
    for (const [index, entry] of entries.entries()) {
      say(`  ${entry.label} (pass ${round + 1} of ${passes}) ...`);
      done[index]?.push(await measurePass(entry.server, route, entry.bodies ?? bodies, { ...options, ...(entry.onAnswer ? { onAnswer: entry.onAnswer } : {}) }));
    }
  }
  return entries.map(({ label }, index) => rowOf(label, done[index] ?? []));
}

/** What the requests compute of a set's declared facts, and their verdicts (bench/engine.mjs facts). */
function factsSummary(policies) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bench', 'engine.mjs'), 'facts', policies], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`engine.mjs facts exited ${code}`))));
  });
}

/** Runs bench/engine.mjs in a process of its own and returns its line. */
function measureEngine(label, mode, policies) {
  say(`  ${label} ...`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bench', 'engine.mjs'), mode, policies, String(DURATION)], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`engine.mjs ${mode} exited ${code}`));
      const line = JSON.parse(out.trim());
      resolve({
        row: label,
        requestsPerSecond: line.perSecond,
        latencyMs: { p50: line.latencyUs.p50 / 1000, p99: line.latencyUs.p99 / 1000, max: line.latencyUs.max / 1000 },
        cpuPercent: line.cpuPercent,
        rssMiB: line.rssBytes / 2 ** 20,
        errors: 0,
        costUs: line.latencyUs.mean,
        // CPU time per decision: what a decision costs when other processes take the core part of the time.
        cpuCostUs: (line.latencyUs.mean * line.cpuPercent) / 100,
        cpuUsPerRequest: (line.latencyUs.mean * line.cpuPercent) / 100,
        policies: line.policies,
      });
    });
  });
}

const { dir, reviews } = admissionReviews();
const plain = reviews.map(({ body }) => JSON.stringify(body));
const unique = reviews.map(({ body }) => JSON.stringify(withUniqueLabel(body)));
const { root: policyRoot, sets } = policySets();

const started = new Date();
say(`canopy bench: ${reviews.length} AdmissionReviews from ${dir}; ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}); ${CONNECTIONS} connections; ${DURATION} s per row after ${WARMUP} s of warm-up`);

const rows = {};
// Filled by the full run (everything but BENCH_ONLY); the declared facts summaries, the half-load rate and the soak.
let facts;
let withFacts;
let describeFacts;
let sameVerdicts;
let half;
let soak;
if (ALL) {
  // The declared-facts sets must load, compute facts for the requests without failing, and keep the
  // shipped set's verdicts (their policies are enforce only where the requests never match).
  facts = {
    shipped: await factsSummary(sets.shipped),
    shippedFacts: await factsSummary(sets.shippedFacts),
    tenFacts: await factsSummary(sets.tenFacts),
    thousandFacts: await factsSummary(sets.thousandFacts),
  };
  // 30 with the examples policies/examples/ holds today (bench/facts.mjs adopts whichever it holds).
  withFacts = `shipped + ${facts.shippedFacts.facts} facts`;
  describeFacts = (summary) =>
    `${summary.policies} policies, ${summary.facts} facts: ${summary.computing} of ${summary.requests} requests compute declared facts, ${summary.computed} in all, ` +
    `${summary.failures.length} failed, ${summary.denied.length} denied, ${summary.warnings} warnings`;
  say(`${withFacts}: ${describeFacts(facts.shippedFacts)} (shipped: ${facts.shipped.denied.length} denied)`);
  say(`10 policies + facts: ${describeFacts(facts.tenFacts)}`);
  say(`1,000 policies + 100 facts: ${describeFacts(facts.thousandFacts)}`);
  for (const [name, summary] of Object.entries(facts)) {
    if (summary.failures.length > 0) throw new Error(`${name}: declared facts failed: ${summary.failures.join('; ')}`);
  }
  sameVerdicts = facts.shippedFacts.denied.join() === facts.shipped.denied.join();
  if (!sameVerdicts) say(`warning: ${withFacts} denies ${facts.shippedFacts.denied.join(', ')}; the shipped set ${facts.shipped.denied.join(', ')}`);

  say('(b) the engine in process, one thread');
  rows.engineShipped = await measureEngine('engine (declared facts + Cedar), 1 thread, shipped policies', 'engine-facts', sets.shipped);
  rows.engineCedarShipped = await measureEngine('engine, Cedar alone, 1 thread, shipped policies', 'engine', sets.shipped);
  rows.engineMutations = await measureEngine('engine (declared facts + Cedar), 1 thread, shipped mutations', 'engine-facts-mutations', sets.shipped);
  rows.engineTen = await measureEngine('engine, 1 thread, 10 policies', 'engine', sets.ten);
  rows.engineThousand = await measureEngine('engine, 1 thread, 1,000 policies', 'engine', sets.thousand);
  rows.wholeSetThousand = await measureEngine('Cedar whole set (no scope index), 1,000 policies', 'whole-set', sets.thousand);
  rows.reviewUncached = await measureEngine('pipeline review(), 1 thread, cache off', 'review', sets.shipped);
  rows.reviewCached = await measureEngine('pipeline review(), 1 thread, every decision cached', 'review-cached', sets.shipped);

  say('(d) declared facts in process, one thread');
  rows.reviewShippedFacts = await measureEngine(`pipeline review(), 1 thread, cache off, ${withFacts}`, 'review', sets.shippedFacts);
  rows.engineFactsTen = await measureEngine('engine + declared facts, 1 thread, 10 policies + 10 facts', 'engine-facts', sets.tenFacts);
  rows.engineFactsThousand = await measureEngine('engine + declared facts, 1 thread, 1,000 policies + 100 facts', 'engine-facts', sets.thousandFacts);
  rows.reviewFactsTen = await measureEngine('pipeline review(), 1 thread, cache off, 10 policies + 10 facts', 'review', sets.tenFacts);
  rows.reviewFactsThousand = await measureEngine('pipeline review(), 1 thread, cache off, 1,000 policies + 100 facts', 'review', sets.thousandFacts);

  say('(a) the null webhook');
  const nullServer = await startNull();
  rows.nullValidate = await measureHttp('null webhook /validate', nullServer, '/validate', unique);
  await nullServer.stop();

  // The rows that the policy-library and declared-facts targets compare (issue 22, issue 19), measured in
  // turn: the shipped set (every pack of policies/packs/ on), the shipped set with every pack off, and the
  // shipped set with declared facts added.
  say(`(c), (f), (d) canopy serve /validate in turn: shipped policies, every pack off, ${withFacts}`);
  let serve = await startServe(sets.shipped);
  const withoutPacksServer = await startServe(sets.withoutPacks);
  const shippedFactsServer = await startServe(sets.shippedFacts);
  [rows.validate, rows.validateWithoutPacks, rows.validateShippedFacts] = await measureInTurn(
    [
      { label: 'serve /validate, shipped policies', server: serve },
      { label: 'serve /validate, shipped policies with every pack off', server: withoutPacksServer },
      { label: `serve /validate, ${withFacts}`, server: shippedFactsServer },
    ],
    '/validate',
    unique,
    { withLag: true },
  );
  await withoutPacksServer.stop();

  say('(c) canopy serve, shipped policies');
  rows.mutate = await measureHttp('serve /mutate, shipped policies', serve, '/mutate', unique, { withLag: true });
  half = Math.max(1, Math.round(rows.validate.requestsPerSecond / 2));
  rows.validateHalf = await measureHttp('serve /validate, shipped policies, half load', serve, '/validate', unique, { rate: half, withLag: true });
  rows.validateCached = await measureHttp('serve /validate, shipped policies, re-applied objects (cached)', serve, '/validate', plain, { unique: false, withLag: true });
  await serve.stop();

  say(`(d) canopy serve, ${withFacts}`);
  rows.mutateShippedFacts = await measureHttp(`serve /mutate, ${withFacts}`, shippedFactsServer, '/mutate', unique, { withLag: true });
  await shippedFactsServer.stop();

  // The Pod Security pack (issue 21): the shipped set before it, and with the whole restricted level
  // enforced everywhere, in turn.
  say('(e) canopy serve /validate in turn: Pod Security');
  serve = await startServe(sets.beforePack);
  const restrictedServer = await startServe(sets.restricted);
  [rows.validateBeforePack, rows.validateRestricted] = await measureInTurn(
    [
      { label: 'serve /validate, shipped policies before the Pod Security pack', server: serve },
      { label: 'serve /validate, restricted Pod Security enforced everywhere', server: restrictedServer },
    ],
    '/validate',
    unique,
    { withLag: true },
  );
  await serve.stop();
  await restrictedServer.stop();

  say('(c) canopy serve, 1,000 policies');
  serve = await startServe(sets.thousand);
  rows.validateThousand = await measureHttp('serve /validate, 1,000 policies', serve, '/validate', unique, { withLag: true });
  rows.mutateThousand = await measureHttp('serve /mutate, 1,000 policies', serve, '/mutate', unique, { withLag: true });
  await serve.stop();

  say('(d) canopy serve, 1,000 policies + 100 facts');
  serve = await startServe(sets.thousandFacts);
  rows.validateThousandFacts = await measureHttp('serve /validate, 1,000 policies + 100 facts', serve, '/validate', unique, { withLag: true });
  await serve.stop();
}

// (g) Budgets. Two `canopy serve` with the same policies (the shipped set, whose budgets.yaml gives
// bench-local a local budget, bench-fleet and bench-fleet-step fleet budgets) and the same arguments,
// each connected to a cluster of its own and to the one fleet store, sent the same pods (the Pod CREATEs,
// each asking for a GPU): in the namespace of the tenant with a local budget, and in that of the tenant
// with a fleet budget whose share step is large enough that the first request claims what the whole run
// needs. Then, one at a time, requests that each need more share than is claimed (a step of 1 GPU, pods
// of 2): the latency of a request that goes to the fleet store, beside the same requests within the share.
const FETCH_REQUESTS = 200;
/** Requests sent before those, not counted. */
const FETCH_WARMUP = 20;
let fleetBudgets;
if (ALL || ONLY === 'fleet') {
  say('(g) budgets: canopy serve with a cluster and a fleet store (fake API servers on 127.0.0.1)');
  const budgetPolicies = fleetPolicies(policyRoot, sets.shipped);
  const store = await startFleetStore();
  const localCluster = await startFakeCluster();
  const fleetCluster = await startFakeCluster();
  const localServer = await startServe(budgetPolicies, fleetServeArgs(localCluster, store, 'bench-local-budget'));
  const fleetServer = await startServe(budgetPolicies, fleetServeArgs(fleetCluster, store, 'bench-fleet-budget'));
  await Promise.all([waitReady(localServer), waitReady(fleetServer)]);

  say('(g) canopy serve /validate in turn: a local budget, a fleet budget within its share');
  const localPods = podRequests(reviews, TENANTS.local, { gpus: 1, persistInto: localCluster });
  const fleetPods = podRequests(reviews, TENANTS.fleet, { gpus: 1, persistInto: fleetCluster });
  const storeBefore = { updates: store.counts.PUT, conflicts: store.conflicts };
  [rows.validateLocalBudget, rows.validateFleetBudget] = await measureInTurn(
    [
      { label: 'serve /validate, tenant with a local budget', server: localServer, ...localPods },
      { label: 'serve /validate, tenant with a fleet budget, within its share', server: fleetServer, ...fleetPods },
    ],
    '/validate',
    undefined,
    { withLag: true },
  );
  // The store's updates while the fleet tenant was measured (warm-ups included), for as many answers.
  const inTurn = {
    local: localPods.counts,
    fleet: { ...fleetPods.counts, storeUpdates: store.counts.PUT - storeBefore.updates, conflicts: store.conflicts - storeBefore.conflicts },
  };
  await localServer.stop();

  say(`(g) canopy serve /validate, one at a time: ${FETCH_REQUESTS} requests within the share, then ${FETCH_REQUESTS} that each fetch more share`);
  const atATime = { withDryRuns: false, gpus: STEP_POD_GPUS, persistInto: fleetCluster };
  const usage = () => processUsage(fleetServer.child.pid);
  const warmup = FETCH_WARMUP;
  const within = await oneAtATime(fleetServer, { ...podRequests(reviews, TENANTS.fleet, atATime), count: FETCH_REQUESTS, warmup, nextId, store, usage });
  const fetching = await oneAtATime(fleetServer, { ...podRequests(reviews, TENANTS.step, atATime), count: FETCH_REQUESTS, warmup, nextId, store, usage });
  rows.validateFleetFetch = rowOf(`serve /validate, fleet budget, each request fetching more share from the fleet store (${FETCH_REQUESTS}, one at a time)`, [
    { seconds: fetching.seconds, result: fetching.result, cpuSeconds: fetching.after.cpuSeconds - fetching.before.cpuSeconds, rssBytes: fetching.after.rssBytes },
  ]);
  await fleetServer.stop();
  await Promise.all([store.stop(), localCluster.stop(), fleetCluster.stop()]);
  const summary = (run) => ({ requests: run.result.requests, allowed: run.allowed, fetched: run.fetched, storeUpdates: run.storeUpdates, conflicts: run.conflicts, latencyMs: run.result.latencyMs });
  fleetBudgets = { inTurn, oneAtATimeWithinShare: summary(within), oneAtATimeFetching: summary(fetching) };
}

if (ONLY === 'soak') {
  say('(c) canopy serve /validate, shipped policies, for the half-load rate of the soak');
  const serve = await startServe(sets.shipped);
  rows.validate = await measureHttp('serve /validate, shipped policies', serve, '/validate', unique, { withLag: true });
  half = Math.max(1, Math.round(rows.validate.requestsPerSecond / 2));
  await serve.stop();
}

if ((ALL || ONLY === 'soak') && SOAK_SECONDS > 0) {
  say(`soak: serve /validate at half load (${half} req/s) for ${SOAK_SECONDS} s, RSS every 10 s`);
  const serve = await startServe(sets.shipped);
  await steady(serve, '/validate', unique, { seconds: WARMUP, rate: half, unique: true });
  const rss = [];
  const sample = () => rss.push(Math.round(processUsage(serve.child.pid).rssBytes / 2 ** 20));
  sample();
  const timer = setInterval(sample, 10_000);
  const result = await steady(serve, '/validate', unique, { seconds: SOAK_SECONDS, rate: half, unique: true });
  clearInterval(timer);
  sample();
  await serve.stop();
  soak = {
    seconds: SOAK_SECONDS,
    rate: half,
    requests: result.requests,
    errors: result.errors,
    latencyMs: result.latencyMs,
    rssMiB: rss,
  };
}

// ---- the figures against issue 11's targets
const ratio = (a, b) => a / b;
const secondHalfMax = (values) => Math.max(...values.slice(Math.floor(values.length / 2)));
const firstHalfMax = (values) => Math.max(...values.slice(0, Math.ceil(values.length / 2)));
const CORES = availableParallelism();
const describeLimit = (name, { limit, ratio, engineUs, httpUs, webhookUs, clientUs, ceiling, ceilingRatio }) =>
  `${name}: limit ${CORES} / (${engineUs.toFixed(0)} + ${httpUs.toFixed(0)} µs) = ${limit.toFixed(0)} req/s; reached ${(ratio * 100).toFixed(0)}% (CPU per request ${webhookUs.toFixed(0)} µs); ` +
  `with the load generator's ${clientUs.toFixed(0)} µs per request on the same cores, a server costing only (a) + (b) would reach ${CORES} / (${engineUs.toFixed(0)} + ${httpUs.toFixed(0)} + ${clientUs.toFixed(0)} µs) = ${ceiling.toFixed(0)} req/s, ${(ceilingRatio * 100).toFixed(0)}% of the limit`;
const CHART_MEMORY_LIMIT_MIB = 768; // charts/canopy/values.yaml resources.limits.memory
function fiveMinuteMeans(samples) {
  // One sample at the start and one every 10 s: samples[30 * k + 1 .. 30 * (k + 1)] are minutes 5k..5k+5.
  const means = [];
  for (let start = 1; start + 30 <= samples.length; start += 30) means.push(samples.slice(start, start + 30).reduce((a, b) => a + b, 0) / 30);
  const baseline = means[1];
  const later = means.slice(2);
  return { means: means.map((mean) => Math.round(mean)), baseline, worst: Math.max(...later), peak: Math.max(...samples) };
}
// The full run's figures (not with BENCH_ONLY).
let ratios;
let limits;
let soakMemory;
const targets = [];
if (ALL) {
  ratios = {
    validateOverNull: ratio(rows.validate.requestsPerSecond, rows.nullValidate.requestsPerSecond),
    validateOverEngine: ratio(rows.validate.requestsPerSecond, rows.engineShipped.requestsPerSecond),
    mutateOverNull: ratio(rows.mutate.requestsPerSecond, rows.nullValidate.requestsPerSecond),
    mutateOverEngine: ratio(rows.mutate.requestsPerSecond, rows.engineMutations.requestsPerSecond),
    thousandOverTenEngineCost: ratio(rows.engineThousand.costUs, rows.engineTen.costUs),
    thousandOverShippedValidateCost: ratio(rows.validate.requestsPerSecond, rows.validateThousand.requestsPerSecond),
    cachedOverUncachedCost: ratio(rows.reviewCached.costUs, rows.reviewUncached.costUs),
    shippedFactsOverShippedValidate: ratio(rows.validateShippedFacts.requestsPerSecond, rows.validate.requestsPerSecond),
    restrictedOverBeforePack: ratio(rows.validateRestricted.requestsPerSecond, rows.validateBeforePack.requestsPerSecond),
    packsOverWithoutPacks: ratio(rows.validate.requestsPerSecond, rows.validateWithoutPacks.requestsPerSecond),
    // Requests per CPU-second of the server: less at the mercy of what else the machine runs than req/s.
    shippedFactsOverShippedValidatePerCpu: ratio(
      rows.validateShippedFacts.requestsPerSecond / rows.validateShippedFacts.cpuPercent,
      rows.validate.requestsPerSecond / rows.validate.cpuPercent,
    ),
    shippedFactsOverShippedMutate: ratio(rows.mutateShippedFacts.requestsPerSecond, rows.mutate.requestsPerSecond),
    shippedFactsOverShippedReviewCost: ratio(rows.reviewShippedFacts.costUs, rows.reviewUncached.costUs),
    thousandFactsOverTenFactsEngineCost: ratio(rows.engineFactsThousand.costUs, rows.engineFactsTen.costUs),
    thousandFactsOverTenFactsEngineCpuCost: ratio(rows.engineFactsThousand.cpuCostUs, rows.engineFactsTen.cpuCostUs),
    thousandFactsOverTenFactsReviewCost: ratio(rows.reviewFactsThousand.costUs, rows.reviewFactsTen.costUs),
  };
  // ---- the machine's limit per webhook (issue 24)
  const limitOf = (engine, webhook) => {
    const limit = CORES / ((engine.cpuUsPerRequest + rows.nullValidate.cpuUsPerRequest) / 1e6);
    // The load generator shares the cores: a server costing exactly (a) + (b) would still leave it what it
    // spends per request in the webhook's row, so no server could reach more than this here.
    const clientUs = webhook.clientCpuUsPerRequest;
    const ceiling = CORES / ((engine.cpuUsPerRequest + rows.nullValidate.cpuUsPerRequest + clientUs) / 1e6);
    return {
      limit,
      ratio: webhook.requestsPerSecond / limit,
      engineUs: engine.cpuUsPerRequest,
      httpUs: rows.nullValidate.cpuUsPerRequest,
      webhookUs: webhook.cpuUsPerRequest,
      clientUs,
      ceiling,
      ceilingRatio: ceiling / limit,
    };
  };
  limits = {
    validate: limitOf(rows.engineShipped, rows.validate),
    mutate: limitOf(rows.engineMutations, rows.mutate),
    // Stricter, for comparison: as if the declared facts' CEL were not part of the engine.
    validateCedarAlone: limitOf(rows.engineCedarShipped, rows.validate),
  };

  targets.push(
    [
      `/validate ≥ 65% of this machine's limit, ${CORES} / (CPU per request of the engine (b) + of the HTTP layer (a))`,
      limits.validate.ratio >= 0.65,
      `${(limits.validate.ratio * 100).toFixed(0)}% (${rows.validate.requestsPerSecond.toFixed(0)} of ${limits.validate.limit.toFixed(0)} req/s)`,
    ],
    ['/validate ≥ 1,500 requests/s', rows.validate.requestsPerSecond >= 1500, `${rows.validate.requestsPerSecond.toFixed(0)} req/s`],
    [
      'p99 < 10 ms at half load',
      rows.validateHalf.latencyMs.p99 < 10,
      `${rows.validateHalf.latencyMs.p99.toFixed(2)} ms at ${half} req/s` +
        (rows.validateHalf.serverOver10msShare !== undefined ? `; by the server's own clock (its request-duration histogram) ${(rows.validateHalf.serverOver10msShare * 100).toFixed(2)}% of ${rows.validateHalf.serverAnswered} took over 10 ms` : '') +
        (rows.validateHalf.clientLoopDelayP99Ms !== undefined ? `; the load generator's event-loop delay p99 ${rows.validateHalf.clientLoopDelayP99Ms.toFixed(1)} ms` : ''),
    ],
    [
      'event-loop delay p99 < 10 ms under load',
      Math.max(rows.validate.eventLoopLagP99Ms, rows.mutate.eventLoopLagP99Ms, rows.validateHalf.eventLoopLagP99Ms) < 10,
      `${Math.max(rows.validate.eventLoopLagP99Ms, rows.mutate.eventLoopLagP99Ms, rows.validateHalf.eventLoopLagP99Ms).toFixed(1)} ms (worst row)`,
    ],
    ['1,000 policies cost ≤ 1.5× 10 policies (engine, per decision)', ratios.thousandOverTenEngineCost <= 1.5, `${ratios.thousandOverTenEngineCost.toFixed(2)}×`],
    ['a cached decision costs ≤ 1/10 of an uncached one', ratios.cachedOverUncachedCost <= 0.1, `1/${(1 / ratios.cachedOverUncachedCost).toFixed(0)}`],
    [
      'Pod Security: /validate with the restricted level enforced everywhere ≥ 80% of the shipped set before the pack',
      ratios.restrictedOverBeforePack >= 0.8,
      `${(ratios.restrictedOverBeforePack * 100).toFixed(0)}% (${rows.validateRestricted.requestsPerSecond.toFixed(0)} vs ${rows.validateBeforePack.requestsPerSecond.toFixed(0)} req/s)`,
    ],
    [
      'policy library: /validate with every pack on (the shipped set) ≥ 75% of the shipped set with every pack off',
      ratios.packsOverWithoutPacks >= 0.75,
      `${(ratios.packsOverWithoutPacks * 100).toFixed(0)}% (${rows.validate.requestsPerSecond.toFixed(0)} vs ${rows.validateWithoutPacks.requestsPerSecond.toFixed(0)} req/s)`,
    ],
    [
      `declared facts: /validate with ${withFacts} ≥ 85% of the shipped set`,
      ratios.shippedFactsOverShippedValidate >= 0.85,
      `${(ratios.shippedFactsOverShippedValidate * 100).toFixed(0)}% (${rows.validateShippedFacts.requestsPerSecond.toFixed(0)} vs ${rows.validate.requestsPerSecond.toFixed(0)} req/s)`,
    ],
    [
      'declared facts: 1,000 policies + 100 facts cost ≤ 1.5× 10 policies + facts (engine + facts, per decision)',
      ratios.thousandFactsOverTenFactsEngineCost <= 1.5,
      `${ratios.thousandFactsOverTenFactsEngineCost.toFixed(2)}× (${rows.engineFactsThousand.costUs.toFixed(0)} vs ${rows.engineFactsTen.costUs.toFixed(0)} µs)`,
    ],
  );
}

// ---- RSS over the soak: 5-minute means, against minutes 5-10 (issue 24)
soakMemory = soak && soak.seconds >= 15 * 60 ? fiveMinuteMeans(soak.rssMiB) : undefined;
targets.push(
  ...(soak
    ? [['RSS flat over the soak (second half ≤ first half + 10%)', secondHalfMax(soak.rssMiB) <= firstHalfMax(soak.rssMiB) * 1.1, `${soak.rssMiB[0]} → ${soak.rssMiB.at(-1)} MiB`]]
    : []),
  ...(soakMemory
    ? [
        [
          'RSS settled by minute 10: every 5-minute mean after it ≤ the mean of minutes 5-10 + 10%',
          soakMemory.worst <= soakMemory.baseline * 1.1,
          `5-minute means ${soakMemory.means.join(', ')} MiB; worst after minute 10 ${soakMemory.worst.toFixed(0)} vs ${soakMemory.baseline.toFixed(0)} MiB`,
        ],
        [
          `RSS peak ≤ 60% of the chart's memory limit (${CHART_MEMORY_LIMIT_MIB} MiB)`,
          soakMemory.peak <= CHART_MEMORY_LIMIT_MIB * 0.6,
          `${soakMemory.peak} MiB`,
        ],
      ]
    : []),
);

if (rows.validateFleetBudget && rows.validateLocalBudget) {
  const fleetOverLocal = ratio(rows.validateFleetBudget.requestsPerSecond, rows.validateLocalBudget.requestsPerSecond);
  fleetBudgets.fleetOverLocal = fleetOverLocal;
  targets.push([
    'fleet budget within its share ≥ 90% of a local budget (req/s, same run)',
    fleetOverLocal >= 0.9,
    `${(fleetOverLocal * 100).toFixed(0)}% (${rows.validateFleetBudget.requestsPerSecond.toFixed(0)} vs ${rows.validateLocalBudget.requestsPerSecond.toFixed(0)} req/s)`,
  ]);
}
const describeFleetBudgets = ({ inTurn, oneAtATimeWithinShare: within, oneAtATimeFetching: fetching }) =>
  `fleet budgets: in turn, warm-ups included, the local budget allowed ${inTurn.local.allowed} of ${inTurn.local.answers} pods, the fleet budget within its share ${inTurn.fleet.allowed} of ${inTurn.fleet.answers} ` +
  `(conditional updates of the fleet store meanwhile: ${inTurn.fleet.storeUpdates}, conflicts: ${inTurn.fleet.conflicts}); ` +
  `one at a time, ${fetching.requests} requests that need more share: ${fetching.fetched} went to the store (updates: ${fetching.storeUpdates}, conflicts: ${fetching.conflicts}), ${fetching.allowed} allowed, ` +
  `p50 ${fetching.latencyMs.p50.toFixed(2)} ms, p99 ${fetching.latencyMs.p99.toFixed(2)} ms; the same ${within.requests} within the share (${within.fetched} to the store): ` +
  `p50 ${within.latencyMs.p50.toFixed(2)} ms, p99 ${within.latencyMs.p99.toFixed(2)} ms`;

// ---- the table
const fmt = (value, digits = 0) => (value === undefined ? '' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const header = ['row', 'req/s', 'CPU µs/req', 'client µs/req', 'p50 ms', 'p99 ms', 'max ms', 'CPU %', 'RSS MiB', 'loop delay p99 ms', 'errors'];
const lines = Object.values(rows).map((row) => [
  row.passes ? `${row.row} (${row.passes} passes, in turn)` : row.row,
  fmt(row.requestsPerSecond),
  fmt(row.cpuUsPerRequest),
  fmt(row.clientCpuUsPerRequest),
  fmt(row.latencyMs.p50, 2),
  fmt(row.latencyMs.p99, 2),
  fmt(row.latencyMs.max, 2),
  fmt(row.cpuPercent),
  fmt(row.rssMiB),
  fmt(row.eventLoopLagP99Ms, 1),
  String(row.errors),
]);
const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column].length)));
const render = (cells) => `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join(' | ')} |`;
const out = [
  `canopy bench ${started.toISOString()} on ${availableParallelism()} cores, Node ${process.version}; ${reviews.length} real AdmissionReviews (${Object.keys(describeMix(reviews)).length} kinds × operations)`,
  '',
  render(header),
  `|${widths.map((width, column) => (column === 0 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|`,
  ...lines.map(render),
  '',
  ...(ALL
    ? [
        describeLimit('/validate', limits.validate),
        describeLimit('/mutate', limits.mutate),
        describeLimit('/validate against Cedar alone', limits.validateCedarAlone),
        `ratios: /validate over null webhook (c/a) ${ratios.validateOverNull.toFixed(2)}, over engine (c/b) ${ratios.validateOverEngine.toFixed(2)}; ` +
          `/mutate c/a ${ratios.mutateOverNull.toFixed(2)}, c/b ${ratios.mutateOverEngine.toFixed(2)}`,
        `declared facts: ${withFacts} over shipped, /validate ${ratios.shippedFactsOverShippedValidate.toFixed(2)} (per server CPU-second ${ratios.shippedFactsOverShippedValidatePerCpu.toFixed(2)}), /mutate ${ratios.shippedFactsOverShippedMutate.toFixed(2)}, ` +
          `review() cost ${ratios.shippedFactsOverShippedReviewCost.toFixed(2)}× (${rows.reviewShippedFacts.costUs.toFixed(0)} vs ${rows.reviewUncached.costUs.toFixed(0)} µs); ` +
          `1,000 + 100 facts over 10 + facts, engine + facts CPU time per decision ${ratios.thousandFactsOverTenFactsEngineCpuCost.toFixed(2)}×, review() cost ${ratios.thousandFactsOverTenFactsReviewCost.toFixed(2)}×`,
        `declared facts computed: ${withFacts}, ${describeFacts(facts.shippedFacts)}${sameVerdicts ? ' (the shipped set\'s verdicts)' : ' (NOT the shipped set\'s verdicts)'}; ` +
          `10 + facts, ${describeFacts(facts.tenFacts)}; 1,000 + 100 facts, ${describeFacts(facts.thousandFacts)}`,
      ]
    : []),
  ...(fleetBudgets ? [describeFleetBudgets(fleetBudgets)] : []),
  ...(soak ? [`soak: ${soak.requests} requests at ${soak.rate} req/s over ${soak.seconds} s, ${soak.errors} errors, p99 ${soak.latencyMs.p99.toFixed(2)} ms, RSS MiB every 10 s: ${soak.rssMiB.join(' ')}`] : []),
  '',
  'targets:',
  ...targets.map(([name, ok, figure]) => `  ${ok ? 'PASS' : 'FAIL'}  ${name}: ${figure}`),
];
process.stdout.write(`${out.join('\n')}\n`);
writeFileSync(
  options.json,
  `${JSON.stringify({ date: started.toISOString(), cores: availableParallelism(), cpu: cpus()[0]?.model, node: process.version, connections: CONNECTIONS, seconds: DURATION, ...(ONLY ? { only: ONLY } : {}), requests: describeMix(reviews), declaredFacts: facts, rows, ratios, limits, fleetBudgets, soak, soakMemory, targets: targets.map(([name, ok, figure]) => ({ name, ok, figure })) }, null, 2)}\n`,
);
say(`written ${options.json}`);
// The generated policy directories (the 1,000-policy sets, the declared-facts sets) are not kept.
rmSync(policyRoot, { recursive: true, force: true });
