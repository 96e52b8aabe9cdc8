// The hardening soak (issue 12): `canopy serve` under a steady load for --minutes, taking policies from
// signed bundles that are re-published every minute, with its image registry flapping (up, stopped,
// up, hanging). Every answer is checked:
//   - requests without images must get the answer they got at the start (same verdict, same patch);
//   - a Pod whose image must be pinned (environment production), sent to /mutate and then, patched, to
//     /validate as the API server does, must end admitted with the image pinned to the digest the
//     registry holds, or refused by one of the two: never admitted unpinned.
// Memory (RSS of the serve process) is sampled every 10 s. Not run in CI: `npm run soak -- --minutes 30`.
// Traffic goes only to 127.0.0.1. Needs Debian's docker-registry.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { applyPatch } from 'rfc6902';
import YAML from 'yaml';
import { OciClient, pushImage } from '../dist/sources/oci/index.js';
import { admissionReviews, REPO, UNIQUE_PLACEHOLDER, withUniqueLabel } from './requests.mjs';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '300' },
    'reload-seconds': { type: 'string', default: '60' },
    'flap-seconds': { type: 'string', default: '15' },
    tags: { type: 'string', default: '3000' },
    json: { type: 'string' },
  },
});
const MINUTES = Number(args.minutes);
const RATE = Number(args.rate);
const RELOAD_MS = Number(args['reload-seconds']) * 1000;
const FLAP_MS = Number(args['flap-seconds']) * 1000;
// Many tags, so that image look-ups keep missing the cache (5 min) and meet the registry in every state.
const TAGS = Number(args.tags);

const work = mkdtempSync(path.join(tmpdir(), 'canopy-soak-'));
const children = new Set();
// Whatever ends the soak (an error included) ends the registry, the store and the server with it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (message) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function run(command, argv, options = {}) {
  const child = spawn(command, argv, { stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'], ...options.spawn });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
  child.on('exit', () => children.delete(child));
  return { child, stderr: () => stderr };
}

function canopy(argv) {
  return new Promise((resolve, reject) => {
    const { child, stderr } = run(process.execPath, [path.join(REPO, 'bin/canopy.js'), ...argv]);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`canopy ${argv[0]} ${argv[1]} exited ${code}: ${stderr()}`))));
  });
}

// ---- the registry: Debian's docker-registry, stopped and replaced by a listener that never answers in turn
const registryPort = await freePort();
const registryHost = `127.0.0.1:${registryPort}`;
const registryConfig = path.join(work, 'registry.yml');
writeFileSync(registryConfig, ['version: 0.1', 'log: {level: error}', `storage: {filesystem: {rootdirectory: ${work}/registry}}`, `http: {addr: "${registryHost}"}`].join('\n'));
let registry;
async function startRegistry() {
  registry = run('/usr/bin/docker-registry', ['serve', registryConfig]);
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://${registryHost}/v2/`)).status === 200) return;
    } catch {
      // not yet listening
    }
    await sleep(50);
  }
  throw new Error(`docker-registry did not start: ${registry.stderr()}`);
}
async function stopRegistry() {
  const exited = new Promise((resolve) => registry.child.once('exit', resolve));
  registry.child.kill('SIGKILL');
  await exited;
}
let hanging;
const hangingSockets = new Set();
async function hangRegistry() {
  hanging = createServer((socket) => {
    hangingSockets.add(socket);
    socket.on('close', () => hangingSockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise((resolve) => hanging.listen(registryPort, '127.0.0.1', resolve));
}
async function unhangRegistry() {
  for (const socket of hangingSockets) socket.destroy();
  await new Promise((resolve) => hanging.close(resolve));
}

await startRegistry();
const client = new OciClient([{ host: registryHost, insecure: true }]);
const digest = await pushImage(client, registryHost, 'soak/app', 't0', 'soak image');
for (let i = 1; i < TAGS; i++) await pushImage(client, registryHost, 'soak/app', `t${i}`, 'soak image');
log(`registry ${registryHost}: soak/app with ${TAGS} tags, digest ${digest}`);

// ---- policies: the shipped ones, with the soak registry allowed in production
const policies = path.join(work, 'policies');
cpSync(path.join(REPO, 'policies'), policies, { recursive: true });
const supplyFile = path.join(policies, 'data/supply-chain.yaml');
const supply = YAML.parse(readFileSync(supplyFile, 'utf8'));
supply.allowedSources.environments.production.push(registryHost);
writeFileSync(supplyFile, YAML.stringify(supply));
const keys = generateKeyPairSync('ed25519');
const keyFile = path.join(work, 'signing.pem');
const pubFile = path.join(work, 'signing.pub');
writeFileSync(keyFile, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
writeFileSync(pubFile, keys.publicKey.export({ type: 'spki', format: 'pem' }));

const storeDir = path.join(work, 'store');
let published = 0;
async function publish() {
  published += 1;
  // Each revision differs (a comment in a data file), so each is a real activation: verify, validate, warm up, load into every worker.
  writeFileSync(path.join(policies, 'data/resources.yaml'), `${readFileSync(path.join(REPO, 'policies/data/resources.yaml'), 'utf8')}\n# soak revision ${published}\n`);
  const bundle = path.join(work, `bundle-${published}.tar.gz`);
  await canopy(['bundle', 'build', policies, '-o', bundle, '--revision', `soak-${published}`]);
  await canopy(['bundle', 'sign', bundle, '--key', keyFile]);
  renameSync(bundle, path.join(storeDir, 'policies.tar.gz'));
}
mkdirSync(storeDir);
await publish();
const storePort = await freePort();
const storeToken = 'soak-store-token';
run(process.execPath, [path.join(REPO, 'bin/canopy.js'), 'bundle', 'serve', storeDir, '--host', '127.0.0.1', '--port', String(storePort), '--token', storeToken]);

// ---- canopy serve
const stateDir = path.join(work, 'state');
const servePort = await freePort();
const serve = run(
  process.execPath,
  [
    path.join(REPO, 'bin/canopy.js'), 'serve', '--host', '127.0.0.1', '--port', String(servePort), '--state-dir', stateDir,
    '--bundle', `http://127.0.0.1:${storePort}/policies.tar.gz`, '--bundle-token', storeToken, '--bundle-pub', pubFile, '--bundle-interval', '5',
    '--environment', 'production', '--registries', `[{host: "${registryHost}", insecure: true}]`, '--log-level', 'warn',
  ],
  { stdout: 'ignore' },
);
let serveExit;
serve.child.on('exit', (code, signal) => (serveExit = { code, signal }));
// Enough sockets that requests waiting on a hanging registry do not queue the others in the client.
const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
let ca;
function call(method, route, body) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = httpsRequest(
      { host: '127.0.0.1', port: servePort, path: route, method, agent, ca, servername: 'localhost', timeout: 10_000, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode, text, ms: performance.now() - started }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ status: 0, text: error.message, ms: performance.now() - started }));
    req.end(body);
  });
}
for (let i = 0; ; i++) {
  try {
    ca = readFileSync(path.join(stateDir, 'tls/ca.crt'), 'utf8');
    if ((await call('GET', '/readyz')).status === 200) break;
  } catch {
    // not started yet
  }
  if (serveExit || i > 300) throw new Error(`canopy serve did not become ready: ${serve.stderr()}`);
  await sleep(100);
}
log(`canopy serve ready on ${servePort} (pid ${serve.child.pid})`);

// ---- the requests and their expected answers
const verdict = (text) => {
  const response = JSON.parse(text).response;
  return { allowed: response.allowed, patch: response.patch ?? null, message: response.status?.message ?? '' };
};
// Each request's object gets a label with its own number, so that every request is evaluated (no decision cache hits).
const plain = admissionReviews()
  .reviews.map((review) => review.body)
  .filter((review) => !JSON.stringify(review).includes('"image"'));
const unique = (template, n) => template.replaceAll(UNIQUE_PLACEHOLDER, String(n));
const expected = [];
for (const review of plain) {
  const body = JSON.stringify(withUniqueLabel(review));
  for (const route of ['/validate', '/mutate']) {
    const answer = await call('POST', route, unique(body, 'baseline'));
    if (answer.status !== 200) throw new Error(`baseline ${route} answered ${answer.status}: ${answer.text}`);
    expected.push({ route, body, want: verdict(answer.text) });
  }
}
const imagePod = (tag, n) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `soak-${n}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'soak',
      operation: 'CREATE',
      userInfo: { username: 'soak' },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `soak-${n}`, namespace: 'soak' },
        spec: { containers: [{ name: 'app', image: `${registryHost}/soak/app:${tag}`, resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '16Mi' } } }] },
      },
    },
  });
log(`${expected.length} baseline answers for ${plain.length} reviews without images; ${TAGS} registry tags`);

// ---- faults on a schedule: a new bundle every RELOAD_MS; the registry up, stopped, up, hanging in FLAP_MS turns
// requests counts HTTP calls; pinned and imageRefused count image Pods, judged by /mutate then /validate.
const counts = { requests: 0, wrong: 0, failed: 0, pinned: 0, imageRefused: 0, lateDenials: 0 };
const wrongExamples = [];
const latencies = [];
const rss = [];
const events = [];
let stopping = false;
const reloads = (async () => {
  while (!stopping) {
    await sleep(RELOAD_MS);
    if (stopping) break;
    await publish().catch((error) => events.push(`publish failed: ${error.message}`));
  }
})();
const flaps = (async () => {
  const phases = ['stopped', 'up', 'hanging', 'up'];
  for (let i = 0; !stopping; i++) {
    await sleep(FLAP_MS);
    if (stopping) break;
    const phase = phases[i % phases.length];
    if (phase === 'stopped') await stopRegistry();
    if (phase === 'hanging') {
      await stopRegistry();
      await hangRegistry();
    }
    if (phase === 'up') {
      if (hanging?.listening) await unhangRegistry();
      if (registry.child.exitCode !== null || registry.child.signalCode !== null) await startRegistry();
    }
    events.push(`${new Date().toISOString().slice(11, 19)} registry ${phase}`);
  }
})();
const revisions = new Set();
const sampler = setInterval(async () => {
  try {
    const status = readFileSync(`/proc/${serve.child.pid}/status`, 'utf8');
    rss.push({ t: Math.round((Date.now() - startedAt) / 1000), mib: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024) });
    const state = await call('GET', '/status');
    if (state.status === 200) revisions.add(JSON.parse(state.text).policySet?.revision);
  } catch (error) {
    events.push(`sample failed: ${error.message}`);
  }
}, 10_000);

function recordWrong(example) {
  counts.wrong += 1;
  if (wrongExamples.length < 20) {
    wrongExamples.push(example);
    log(`wrong answer: ${JSON.stringify(example).slice(0, 600)}`);
  }
}

/** A review without images: the verdict and patch it had at the start, or a fail-closed deadline denial. */
function checkPlain(route, answer, want) {
  counts.requests += 1;
  latencies.push(answer.ms);
  if (answer.status !== 200) return recordFailure(route, answer);
  const got = verdict(answer.text);
  if (got.allowed === want.allowed && got.patch === want.patch) return;
  if (!got.allowed && got.message.includes('deadline')) counts.lateDenials += 1;
  else recordWrong({ kind: 'plain', route, got, want });
}

function recordFailure(route, answer) {
  counts.failed += 1;
  if (wrongExamples.length < 20) wrongExamples.push({ route, status: answer.status, text: answer.text.slice(0, 300) });
}

/**
 * A Pod whose image production requires pinned, judged as the API server would: /mutate, the patch
 * applied, then /validate. Right: pinned to the pushed digest and admitted; or refused by either webhook
 * (the registry could not be asked, or the deadline passed). Wrong: admitted without the digest.
 */
async function checkImage(n) {
  const body = imagePod(`t${n % TAGS}`, n);
  const mutated = await call('POST', '/mutate', body);
  counts.requests += 1;
  latencies.push(mutated.ms);
  if (mutated.status !== 200) return recordFailure('/mutate', mutated);
  const mutation = verdict(mutated.text);
  if (!mutation.allowed) {
    counts.imageRefused += 1;
    return;
  }
  const review = JSON.parse(body);
  if (mutation.patch) {
    const failures = applyPatch(review.request.object, JSON.parse(Buffer.from(mutation.patch, 'base64').toString())).filter(Boolean);
    if (failures.length > 0) return recordWrong({ kind: 'image', route: '/mutate', problem: 'the patch does not apply', failures: String(failures) });
  }
  const validated = await call('POST', '/validate', JSON.stringify(review));
  counts.requests += 1;
  latencies.push(validated.ms);
  if (validated.status !== 200) return recordFailure('/validate', validated);
  const validation = verdict(validated.text);
  const image = review.request.object.spec.containers[0].image;
  if (validation.allowed && image.endsWith(`@${digest}`)) counts.pinned += 1;
  else if (!validation.allowed) counts.imageRefused += 1;
  else recordWrong({ kind: 'image', route: '/validate', image, got: validation });
}

const startedAt = Date.now();
const total = Math.floor(RATE * MINUTES * 60);
log(`${RATE} req/s for ${MINUTES} min (${total} requests); a bundle every ${RELOAD_MS / 1000} s; the registry changes every ${FLAP_MS / 1000} s`);
let sent = 0;
let inFlight = 0;
let minutesLogged = 0;
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const due = Math.min(total, Math.floor(((Date.now() - startedAt) * RATE) / 1000) + 1);
    while (sent < due && !serveExit) {
      const n = sent++;
      inFlight += 1;
      // One in four carries an image the registry must resolve.
      const request =
        n % 4 === 3
          ? checkImage(n)
          : (() => {
              const item = expected[n % expected.length];
              return call('POST', item.route, unique(item.body, n)).then((answer) => checkPlain(item.route, answer, item.want));
            })();
      void request.finally(() => (inFlight -= 1));
    }
    if (Math.floor(sent / (RATE * 60)) > minutesLogged) {
      minutesLogged = Math.floor(sent / (RATE * 60));
      log(`${sent} sent, ${counts.wrong} wrong, ${counts.failed} failed, rss ${rss.at(-1)?.mib ?? '?'} MiB, revisions seen ${revisions.size}`);
    }
    if (sent >= total || serveExit) {
      clearInterval(tick);
      const wait = setInterval(() => {
        if (inFlight === 0) {
          clearInterval(wait);
          resolve();
        }
      }, 50);
    }
  }, 2);
});

stopping = true;
clearInterval(sampler);
await Promise.all([reloads, flaps]);
latencies.sort((a, b) => a - b);
const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 100) / 100;
const thirds = (list) => {
  const n = Math.max(1, Math.floor(list.length / 3));
  const mean = (part) => Math.round(part.reduce((sum, sample) => sum + sample.mib, 0) / Math.max(1, part.length));
  return { firstThird: mean(list.slice(0, n)), middleThird: mean(list.slice(n, 2 * n)), lastThird: mean(list.slice(2 * n)) };
};
const result = {
  date: new Date().toISOString(),
  minutes: MINUTES,
  rate: RATE,
  counts,
  serveExit: serveExit ?? 'still running',
  bundlesPublished: published,
  revisionsSeenInStatus: revisions.size,
  latencyMs: { p50: at(0.5), p99: at(0.99), max: at(1) },
  rssMiB: { ...thirds(rss), min: Math.min(...rss.map((s) => s.mib)), max: Math.max(...rss.map((s) => s.mib)), samples: rss },
  events,
  wrongExamples,
  serveStderrTail: serve.stderr().slice(-3000),
};
if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 2));
const { samples, ...memory } = result.rssMiB;
console.log(JSON.stringify({ ...result, rssMiB: memory, events: events.length, serveStderrTail: undefined }, null, 2));
void samples;
for (const child of children) child.kill('SIGKILL');
if (hanging?.listening) await unhangRegistry();
agent.destroy();
process.exit(counts.wrong === 0 && counts.failed === 0 && !serveExit ? 0 : 1);
