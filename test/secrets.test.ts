// No Secret data, environment values or bearer tokens in logs, decision logs, recorded requests or
// reports. Secrets are planted in AdmissionReviews (a Secret's data, stringData and last-applied
// annotation; env values of containers, init and ephemeral containers in Pods and pod templates, old
// objects included), in the HTTP requests (a bearer token), and in the environment and config of
// `canopy serve` (bundle token, registry passwords, an unrelated variable); real processes run
// (`canopy serve` four ways, `eval`, `audit`, `impact`), and every output is searched for each secret,
// in plaintext and in base64.
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { runCanopyProcess, type CliResult } from './helpers/cli.js';
import { fixture, podSpecOf, STARTER_POLICIES } from './helpers/fixtures.js';
import { describeLeaks, findLeaks, readTree } from './helpers/leaks.js';
import { admissionReview } from './helpers/review.js';
import { killServers, startServe, type ServeProcess } from './helpers/serve.js';
import { REDACTED, redactObject, redactSecrets } from '../src/operations/recording/index.js';

type Json = Record<string, unknown>;

/** Every secret planted, by what it is; each is distinct, so a hit names where it came from. */
const PLANTED = {
  'Secret data': 'PLANTED-secret-data-7f3a',
  'Secret stringData': 'PLANTED-secret-stringdata-91c2',
  'Secret last-applied annotation': 'PLANTED-secret-lastapplied-5d0e',
  'old Secret data (UPDATE)': 'PLANTED-old-secret-data-c4b8',
  'Pod env': 'PLANTED-env-value-pod-2b61',
  'Pod init container env': 'PLANTED-env-value-init-8e07',
  'Pod ephemeral container env': 'PLANTED-env-value-ephemeral-a93d',
  'Pod last-applied annotation env': 'PLANTED-env-value-lastapplied-03fa',
  'updated Pod env': 'PLANTED-env-value-newpod-51b9',
  'old Pod env (UPDATE)': 'PLANTED-env-value-oldpod-6c5e',
  'deleted Pod env (DELETE)': 'PLANTED-env-value-deleted-e2d4',
  'denied Pod env': 'PLANTED-env-value-denied-77a1',
  'Deployment env': 'PLANTED-env-value-deployment-3c9f',
  'Deployment init container env': 'PLANTED-env-value-deployinit-0b4e',
  'StatefulSet env': 'PLANTED-env-value-statefulset-9d12',
  'CronJob env': 'PLANTED-env-value-cronjob-4f86',
  'Job env': 'PLANTED-env-value-job-a0c7',
  'DaemonSet env': 'PLANTED-env-value-daemonset-18e5',
  'PodTemplate env': 'PLANTED-env-value-podtemplate-6a3b',
  'invalid review env': 'PLANTED-env-value-invalid-c81d',
  'bearer token of the API server': 'PLANTED-bearer-token-4e2a',
  CANOPY_BUNDLE_TOKEN: 'PLANTED-bundle-token-b7d3',
  'registry password (--registries)': 'PLANTED-registry-password-2f8c',
  'second registry password (--registries)': 'PLANTED-registry-password-other-90ad',
  CANOPY_REGISTRY_PASSWORD: 'PLANTED-registry-env-password-5e1f',
  'registry bearer token (issued by the registry)': 'PLANTED-registry-token-d63b',
  'registry password (audit --config)': 'PLANTED-audit-registry-password-17c0',
  SOME_APP_SECRET: 'PLANTED-app-secret-8b5e',
} as const;
const P = PLANTED;

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const clone = <T>(value: T): T => structuredClone(value);

// ---------------------------------------------------------------------------------------------------
// The AdmissionReviews, from the real fixtures, with secrets planted.

function withUid(review: Json, suffix: string): Json {
  const request = review['request'] as Json;
  request['uid'] = `${String(request['uid']).slice(0, 24)}-${suffix}`;
  return review;
}

function lastApplied(object: Json): string {
  return `${JSON.stringify(object)}\n`;
}

function secretObject(base: Json, data: string, stringData: string, applied: string): Json {
  const object = clone(base);
  object['data'] = { password: b64(data), username: b64('app') };
  object['stringData'] = { token: stringData };
  const metadata = object['metadata'] as Json;
  metadata['annotations'] = {
    'kubectl.kubernetes.io/last-applied-configuration': lastApplied({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: metadata['name'], namespace: metadata['namespace'] },
      stringData: { password: applied },
      type: 'Opaque',
    }),
  };
  return object;
}

function setEnv(spec: Json, container: number, env: Json[]): void {
  const containers = spec['containers'] as Json[];
  (containers[container] as Json)['env'] = env;
}

const envFromSecret = { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'db-credentials', key: 'password' } } };

function podTemplateObject(kind: string, apiVersion: string, name: string, value: string): Json {
  const template = { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.25', env: [{ name: 'DB_PASSWORD', value }] }] } };
  const metadata = { name, namespace: 'team-a' };
  if (kind === 'PodTemplate') return { apiVersion, kind, metadata, template };
  return { apiVersion, kind, metadata, spec: { selector: { matchLabels: { app: name } }, template } };
}

/** Each planted review by a short name; images as in the fixtures unless `image` replaces them all. */
function plantedReviews(image?: string): [string, Json][] {
  const reviews: [string, Json][] = [];

  // A Secret, created and updated.
  const secretCreate = fixture(68) as unknown as Json;
  const secretRequest = secretCreate['request'] as Json;
  secretRequest['object'] = secretObject(secretRequest['object'] as Json, P['Secret data'], P['Secret stringData'], P['Secret last-applied annotation']);
  reviews.push(['secret-create', withUid(secretCreate, 'secret-create')]);
  const secretUpdate = clone(secretCreate);
  const updateRequest = secretUpdate['request'] as Json;
  updateRequest['operation'] = 'UPDATE';
  updateRequest['options'] = { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-client-side-apply' };
  updateRequest['oldObject'] = secretObject(fixture(68).request.object as Json, P['old Secret data (UPDATE)'], P['old Secret data (UPDATE)'], P['old Secret data (UPDATE)']);
  reviews.push(['secret-update', withUid(secretUpdate, 'secret-update')]);

  // A Pod with env values in a container, an init container, an ephemeral container and last-applied.
  const pod = fixture(12) as unknown as Json;
  const podObject = (pod['request'] as Json)['object'] as Json;
  const podSpec = podSpecOf(podObject);
  setEnv(podSpec, 0, [{ name: 'DB_PASSWORD', value: P['Pod env'] }, envFromSecret]);
  podSpec['initContainers'] = [{ name: 'migrate', image: 'nginx:1.25', env: [{ name: 'DB_PASSWORD', value: P['Pod init container env'] }] }];
  podSpec['ephemeralContainers'] = [{ name: 'debugger', image: 'busybox:1.36', env: [{ name: 'API_TOKEN', value: P['Pod ephemeral container env'] }] }];
  ((podObject['metadata'] as Json)['annotations'] as Json)['kubectl.kubernetes.io/last-applied-configuration'] = lastApplied({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'team-a' },
    spec: { containers: [{ name: 'nginx', image: 'nginx:1.25', env: [{ name: 'DB_PASSWORD', value: P['Pod last-applied annotation env'] }] }] },
  });
  reviews.push(['pod-create', withUid(pod, 'pod-create')]);

  // An UPDATE (object and oldObject) and a DELETE (oldObject only).
  const podUpdate = fixture(14) as unknown as Json;
  const updated = podUpdate['request'] as Json;
  setEnv(podSpecOf(updated['object'] as Json), 0, [{ name: 'DB_PASSWORD', value: P['updated Pod env'] }]);
  setEnv(podSpecOf(updated['oldObject'] as Json), 0, [{ name: 'DB_PASSWORD', value: P['old Pod env (UPDATE)'] }]);
  reviews.push(['pod-update', withUid(podUpdate, 'pod-update')]);
  const podDelete = fixture(16) as unknown as Json;
  setEnv(podSpecOf((podDelete['request'] as Json)['oldObject'] as Json), 0, [{ name: 'DB_PASSWORD', value: P['deleted Pod env (DELETE)'] }]);
  reviews.push(['pod-delete', withUid(podDelete, 'pod-delete')]);

  // A Pod that is denied (privileged), and patched on the way (no resources: default-resources applies).
  const denied = fixture(12) as unknown as Json;
  const deniedRequest = denied['request'] as Json;
  deniedRequest['name'] = 'web-privileged';
  const deniedObject = deniedRequest['object'] as Json;
  (deniedObject['metadata'] as Json)['name'] = 'web-privileged';
  delete ((deniedObject['metadata'] as Json)['annotations'] as Json)['kubectl.kubernetes.io/last-applied-configuration'];
  const deniedContainer = (podSpecOf(deniedObject)['containers'] as Json[])[0] as Json;
  delete deniedContainer['resources'];
  deniedContainer['securityContext'] = { privileged: true };
  deniedContainer['env'] = [{ name: 'DB_PASSWORD', value: P['denied Pod env'] }];
  reviews.push(['pod-privileged', withUid(denied, 'pod-privileged')]);

  // Pod templates: a Deployment (init containers too), a StatefulSet, a CronJob from the fixtures; a
  // Job, a DaemonSet and a PodTemplate made here.
  const deployment = fixture(22) as unknown as Json;
  const deploymentSpec = podSpecOf((deployment['request'] as Json)['object'] as Json);
  setEnv(deploymentSpec, 0, [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'DB_PASSWORD', value: P['Deployment env'] }]);
  deploymentSpec['initContainers'] = [{ name: 'migrate', image: 'registry.example.com/team-a/api:1.4.2', env: [{ name: 'DB_PASSWORD', value: P['Deployment init container env'] }] }];
  reviews.push(['deployment', withUid(deployment, 'deployment')]);
  const statefulSet = fixture(70) as unknown as Json;
  setEnv(podSpecOf((statefulSet['request'] as Json)['object'] as Json), 0, [{ name: 'POSTGRES_PASSWORD', value: P['StatefulSet env'] }]);
  reviews.push(['statefulset', withUid(statefulSet, 'statefulset')]);
  const cronJob = fixture(72) as unknown as Json;
  setEnv(podSpecOf((cronJob['request'] as Json)['object'] as Json), 0, [{ name: 'DB_PASSWORD', value: P['CronJob env'] }]);
  reviews.push(['cronjob', withUid(cronJob, 'cronjob')]);
  reviews.push(['job', admissionReview(podTemplateObject('Job', 'batch/v1', 'migrate', P['Job env']))]);
  reviews.push(['daemonset', admissionReview(podTemplateObject('DaemonSet', 'apps/v1', 'agent', P['DaemonSet env']))]);
  reviews.push(['podtemplate', admissionReview(podTemplateObject('PodTemplate', 'v1', 'template', P['PodTemplate env']))]);

  if (image) for (const [, review] of reviews) setImages(review, image);
  return reviews;
}

/** Points every container of every pod spec at `image` (the production serve's registry is local). */
function setImages(review: Json, image: string): void {
  const request = review['request'] as Json;
  for (const object of [request['object'], request['oldObject']]) {
    if (!object || typeof object !== 'object') continue;
    const o = object as Json;
    if (!['Pod', 'Deployment', 'StatefulSet', 'CronJob', 'Job', 'DaemonSet', 'PodTemplate'].includes(String(o['kind']))) continue;
    const spec = o['kind'] === 'PodTemplate' ? ((o['template'] as Json)['spec'] as Json) : podSpecOf(o);
    for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
      for (const container of (spec[list] as Json[] | undefined) ?? []) container['image'] = image;
    }
    const annotations = (o['metadata'] as Json)['annotations'] as Json | undefined;
    if (annotations) delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  }
}

/** Not an AdmissionReview v1 (v1beta1), carrying an env value: answered 400, never judged. */
function invalidReview(): Json {
  const review = fixture(12) as unknown as Json;
  review['apiVersion'] = 'admission.k8s.io/v1beta1';
  setEnv(podSpecOf((review['request'] as Json)['object'] as Json), 0, [{ name: 'DB_PASSWORD', value: P['invalid review env'] }]);
  return review;
}

// ---------------------------------------------------------------------------------------------------
// Servers on 127.0.0.1 that canopy talks to: an OCI registry that wants a token, and a bundle store.

interface FakeServer {
  server: Server;
  port: number;
  /** Method, path and Authorization header of each request, in order. */
  seen: { method: string; url: string; authorization: string }[];
}

async function listen(handle: (req: IncomingMessage, res: ServerResponse, fake: FakeServer) => void): Promise<FakeServer> {
  const fake = { seen: [], port: 0 } as unknown as FakeServer;
  fake.server = createServer((req, res) => {
    fake.seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization ?? '' });
    req.resume();
    req.on('end', () => handle(req, res, fake));
  });
  await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
  fake.port = (fake.server.address() as { port: number }).port;
  return fake;
}

/** Basic auth at its token endpoint for a bearer token; with the token, every request fails (500). */
function fakeRegistry(): Promise<FakeServer> {
  return listen((req, res, fake) => {
    const auth = req.headers.authorization ?? '';
    if ((req.url ?? '').startsWith('/token')) {
      if (auth !== `Basic ${b64(`u:${P['registry password (--registries)']}`)}`) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: P['registry bearer token (issued by the registry)'], expires_in: 300 }));
      return;
    }
    if (auth !== `Bearer ${P['registry bearer token (issued by the registry)']}`) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${fake.port}/token",service="fake-registry"` }).end();
      return;
    }
    res.writeHead(500, { 'content-type': 'text/plain' }).end('the registry broke');
  });
}

/** The first poll gets a 503, later ones a body that is no bundle. */
function fakeBundleStore(): Promise<FakeServer> {
  return listen((_req, res, fake) => {
    if (fake.seen.length === 1) res.writeHead(503).end('try later');
    else res.writeHead(200, { etag: '"not-a-bundle"' }).end('this is not a bundle');
  });
}

// ---------------------------------------------------------------------------------------------------
// Talking to canopy serve with the API server's bearer token.

function call(serve: ServeProcess, ca: string, method: string, urlPath: string, body?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: serve.port,
        method,
        path: urlPath,
        ca,
        servername: 'localhost',
        agent: false,
        timeout: 15_000,
        headers: { authorization: `Bearer ${P['bearer token of the API server']}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () => resolve(`HTTP ${res.statusCode}\n${JSON.stringify(res.headers)}\n${text}`));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const ENVIRONMENT = {
  CANOPY_BUNDLE_TOKEN: P.CANOPY_BUNDLE_TOKEN,
  CANOPY_REGISTRY_PASSWORD: P.CANOPY_REGISTRY_PASSWORD,
  SOME_APP_SECRET: P.SOME_APP_SECRET,
};

function registriesYaml(registryPort: number): string {
  return toYaml(
    [
      { host: `127.0.0.1:${registryPort}`, insecure: true, username: 'u', password: P['registry password (--registries)'] },
      { host: '127.0.0.1:1', username: 'u', password: P['second registry password (--registries)'] },
    ],
    { flow: true },
  );
}

// ---------------------------------------------------------------------------------------------------

const outputs = new Map<string, string>();
const work = mkdtempSync(path.join(tmpdir(), 'canopy-secrets-'));
let registry: FakeServer;
let store: FakeServer;

function keep(name: string, result: CliResult): CliResult {
  outputs.set(`${name}: stdout`, result.stdout);
  outputs.set(`${name}: stderr`, result.stderr);
  return result;
}

function keepTree(name: string, dir: string): void {
  for (const [file, text] of readTree(dir)) outputs.set(`${name}: ${path.relative(work, file)}`, text);
}

async function until(condition: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!condition() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Runs one `canopy serve`, sends it every review at both webhooks and reads every endpoint; then stops it. */
async function exercise(name: string, args: string[], reviews: [string, Json][], ready?: () => boolean): Promise<void> {
  const state = path.join(work, name, 'state');
  const serve = await startServe(['--state-dir', state, '--log-level', 'trace', '--registries', registriesYaml(registry.port), ...args], { env: ENVIRONMENT });
  try {
    if (ready) await until(ready, 8_000);
    const ca = readFileSync(path.join(state, 'tls', 'ca.crt'), 'utf8');
    const answers: [string, Promise<string>][] = [];
    for (const [reviewName, review] of reviews) {
      for (const endpoint of ['/validate', '/mutate']) {
        answers.push([`POST ${endpoint} ${reviewName}`, call(serve, ca, 'POST', `${endpoint}?timeout=10s`, JSON.stringify(review))]);
      }
    }
    answers.push(['POST /validate invalid review', call(serve, ca, 'POST', '/validate', JSON.stringify(invalidReview()))]);
    answers.push(['POST /validate cut-off body', call(serve, ca, 'POST', '/validate', JSON.stringify(invalidReview()).slice(0, 4000))]);
    for (const [label, answer] of answers) outputs.set(`serve ${name}: ${label}`, await answer);
    for (const endpoint of ['/healthz', '/readyz', '/status', '/metrics', '/no-such-route']) {
      outputs.set(`serve ${name}: GET ${endpoint}`, await call(serve, ca, 'GET', endpoint));
    }
  } finally {
    serve.proc.kill('SIGTERM');
    await serve.exited;
    outputs.set(`serve ${name}: stdout (decision log)`, serve.stdout());
    outputs.set(`serve ${name}: stderr`, serve.stderr());
    keepTree(`serve ${name}`, path.join(work, name));
  }
}

const reviewsDir = path.join(work, 'requests', 'reviews');
const recordedDir = path.join(work, 'requests', 'recorded');

/** Runs the tasks at most `width` at a time (two shared cores), in order. */
async function inTurn<T>(width: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: width }, lane));
  return results;
}

/** A copy of the starter policies, changed by `edit` (relative file → its new text from the old). */
function policiesCopy(name: string, edits: Record<string, (text: string) => string>): string {
  const dir = path.join(work, name);
  cpSync(STARTER_POLICIES, dir, { recursive: true });
  for (const [file, edit] of Object.entries(edits)) writeFileSync(path.join(dir, file), edit(readFileSync(path.join(dir, file), 'utf8')));
  return dir;
}

beforeAll(async () => {
  [registry, store] = await Promise.all([fakeRegistry(), fakeBundleStore()]);
  const publicKey = path.join(work, 'bundle.pub');
  writeFileSync(publicKey, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));

  const reviews = plantedReviews();
  const reviewFiles = reviews.map(([name], index) => path.join(reviewsDir, `${String(index).padStart(2, '0')}-${name}.json`));
  mkdirSync(reviewsDir, { recursive: true });
  reviews.forEach(([, review], index) => writeFileSync(reviewFiles[index] ?? '', JSON.stringify(review, null, 2)));
  const invalidFile = path.join(work, 'invalid-review.json');
  writeFileSync(invalidFile, JSON.stringify(invalidReview()));

  // In production images must be pinned, and only images from allowed sources are looked up: the
  // local registry is allowed there.
  const registryHost = `127.0.0.1:${registry.port}`;
  const production = policiesCopy('production-policies', {
    'data/supply-chain.yaml': (text) => text.replace('production: [registry.example.com', `production: ["${registryHost}", registry.example.com`),
  });
  const serves: (() => Promise<void>)[] = [
    // The starter policies from a directory, in worker threads, recording requests.
    () => exercise('directory', ['--policies', STARTER_POLICIES, '--record-requests', path.join(recordedDir, 'directory'), '--workers', '1'], reviews),
    // Production: the registry is asked for digests, with its password, then with the token it issues.
    () =>
      exercise(
        'production',
        ['--policies', production, '--record-requests', path.join(recordedDir, 'production'), '--workers', '0', '--environment', 'production'],
        plantedReviews(`${registryHost}/team-a/app:1.0`),
      ),
    // Bundles from an HTTP store with the bearer token (CANOPY_BUNDLE_TOKEN): it fails, then sends junk.
    () =>
      exercise('http-bundle', ['--bundle', `http://127.0.0.1:${store.port}/bundles/canopy.tar.gz`, '--bundle-pub', publicKey, '--bundle-interval', '1', '--workers', '0'], reviews, () => store.seen.length >= 2),
    // Bundles from the OCI registry, with the registry's password.
    () =>
      exercise('oci-bundle', ['--bundle', `oci://${registryHost}/team-a/policies:v1`, '--bundle-pub', publicKey, '--workers', '0'], reviews, () =>
        registry.seen.some((seen) => seen.url.includes('/policies/') && seen.authorization.startsWith('Bearer')),
      ),
  ];

  // The objects as manifests (and a List), for the audit; a config with a registry password.
  const manifests = path.join(work, 'manifests');
  mkdirSync(path.join(manifests, 'nested'), { recursive: true });
  const objects = reviews.flatMap(([, review]) => [(review['request'] as Json)['object'], (review['request'] as Json)['oldObject']]).filter((o): o is Json => !!o);
  writeFileSync(path.join(manifests, 'objects.yaml'), objects.map((object) => toYaml(object)).join('---\n'));
  writeFileSync(path.join(manifests, 'nested', 'list.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects.slice(0, 4) }));
  const auditConfig = path.join(work, 'audit-config.yaml');
  writeFileSync(auditConfig, toYaml({ cluster: { name: 'audit-cluster', environment: 'production' }, registries: [{ host: '127.0.0.1:1', username: 'u', password: P['registry password (audit --config)'] }] }));
  const reports = path.join(work, 'reports');
  mkdirSync(reports);
  const evalArgs = ['eval', '--policies', STARTER_POLICIES, ...reviewFiles, invalidFile];
  const commands: [string, string[], NodeJS.ProcessEnv?][] = [
    // A start refused because of the config (an unknown key next to a password), with the stack printed.
    ['serve refused', ['serve', '--port', '0', '--state-dir', path.join(work, 'refused'), '--registries', `[{host: 127.0.0.1:1, username: u, password: ${P['registry password (--registries)']}, token: x}]`], { CANOPY_DEBUG: '1' }],
    ['eval', evalArgs],
    ['eval --json', [...evalArgs, '--json']],
    ['eval --mutate', [...evalArgs, '--mutate']],
    ['eval --mutate --json', [...evalArgs, '--mutate', '--json']],
    // Every format, on standard output or into a file.
    ...['text', 'json', 'markdown', 'html', 'policyreport'].map((format, index): [string, string[]] => [
      `audit --format ${format}`,
      ['audit', '--policies', STARTER_POLICIES, '--manifests', manifests, '--config', auditConfig, '--format', format, ...(index % 2 ? ['-o', path.join(reports, `audit.${format}`)] : [])],
    ]),
  ];
  const run = ([name, args, env]: [string, string[], NodeJS.ProcessEnv?]) => async () => {
    keep(name, await runCanopyProcess(args, { env: { ...ENVIRONMENT, ...env } }));
  };
  await inTurn(4, [...serves, ...commands.map(run)]);
  for (const dir of ['directory', 'production']) keepTree(`serve ${dir}: recorded`, path.join(recordedDir, dir));

  // What reads the serves' outputs: the decision log summarised, the recorded requests replayed.
  const decisionLog = path.join(work, 'decisions.log');
  writeFileSync(decisionLog, outputs.get('serve directory: stdout (decision log)') ?? '');
  // Privileged containers only warned about: the privileged Pod's outcome changes, so impact lists it.
  // (@level and @mode exclude each other: the control leaves the namespace's levels for a fixed warn.)
  const changed = policiesCopy('changed-policies', { 'pod-security/baseline/privileged.cedar': (text) => text.replace('@level("baseline")', '@mode("warn")') });
  await inTurn(2, [
    run(['audit --decisions', ['audit', '--decisions', decisionLog]]),
    // The recorded requests and the review files as they were sent (nothing redacted); Markdown on
    // standard output and the JSON report in a file.
    run(['impact', ['impact', '--from', STARTER_POLICIES, '--to', changed, '--requests', path.dirname(recordedDir), '--json', path.join(reports, 'impact.json')]]),
  ]);
  keepTree('report file', reports);
}, 90_000);

afterAll(async () => {
  killServers();
  await Promise.all([registry, store].filter(Boolean).map((fake) => new Promise((resolve) => fake.server.close(resolve))));
  rmSync(work, { recursive: true, force: true });
});

const outputsOf = (prefix: string) => new Map([...outputs].filter(([name]) => name.startsWith(prefix)));

describe('planted secrets appear in no output', () => {
  it('reached canopy: the reviews carry them, the registry and the bundle store got the credentials', () => {
    const sent = readTree(reviewsDir);
    expect([...sent.values()].join('\n')).toContain(P['Pod env']);
    expect([...sent.values()].join('\n')).toContain(b64(P['Secret data']));
    expect(registry.seen.some((seen) => seen.authorization === `Basic ${b64(`u:${P['registry password (--registries)']}`)}`)).toBe(true);
    expect(registry.seen.some((seen) => seen.url.startsWith('/v2/team-a/app/') && seen.authorization === `Bearer ${P['registry bearer token (issued by the registry)']}`)).toBe(true);
    expect(registry.seen.some((seen) => seen.url.startsWith('/v2/team-a/policies/'))).toBe(true);
    expect(store.seen.length).toBeGreaterThanOrEqual(2);
    expect(store.seen.every((seen) => seen.authorization === `Bearer ${P.CANOPY_BUNDLE_TOKEN}`)).toBe(true);
  });

  it('and the paths that could leak them ran: denials, patches, recordings, bundle failures, reports', () => {
    const log = outputs.get('serve directory: stdout (decision log)') ?? '';
    expect(log).toMatch(/"name":"web-privileged".*"decision":"deny","denied":\["pod-security.baseline.privileged"\]/);
    expect(log).toMatch(/"msg":"mutation"/);
    expect(outputs.get('serve directory: POST /validate pod-privileged')).toContain('pod-security.baseline.privileged');
    expect(outputs.get('serve directory: POST /validate invalid review')).toMatch(/^HTTP 400/);
    expect(outputs.get('serve production: POST /validate pod-create')).toMatch(/Canopy could not resolve their digests: 127\.0\.0\.1:\d+\/team-a\/app:1\.0/);
    expect(outputs.get('serve http-bundle: stdout (decision log)')).toContain('bundle check');
    expect(outputs.get('serve oci-bundle: stdout (decision log)')).toContain('bundle check');
    const recorded = [...outputsOf('serve directory: recorded')].map(([, text]) => text).join('\n');
    expect(recorded.trim().split('\n')).toHaveLength(2 * plantedReviews().length);
    expect(recorded).toContain('"name":"DB_PASSWORD","value":"<redacted>"');
    expect(recorded).toContain('"password":"<redacted>"');
    expect(outputs.get('eval --mutate: stdout')).toContain('mutated object');
    expect(outputs.get('audit --format text: stdout')).toContain('pod-security.baseline.privileged');
    expect(outputs.get('impact: stdout')).toMatch(/web-privileged.*pod-security\.baseline\.privileged/);
    expect(outputsOf('report file:').size).toBe(3);
  });

  const check = (prefix: string) => () => {
    const scope = prefix ? outputsOf(prefix) : outputs;
    expect(scope.size).toBeGreaterThan(0);
    const leaks = findLeaks(scope, PLANTED);
    // And anything planted, by its marker, in case a secret were missing above.
    const named = new Set(leaks.map((leak) => `${leak.output}@${leak.at}`));
    leaks.push(...findLeaks(scope, { 'a planted value': 'PLANTED-' }).filter((leak) => leak.form === 'plaintext' && !named.has(`${leak.output}@${leak.at}`)));
    expect(leaks.length, `planted secrets found:\n${describeLeaks(leaks)}`).toBe(0);
  };
  it('in canopy serve from a policy directory: decision log, stderr, recorded requests, HTTPS answers', check('serve directory:'));
  it('in canopy serve in production, asking the registry', check('serve production:'));
  it('in canopy serve with an HTTP bundle store and its token', check('serve http-bundle:'));
  it('in canopy serve with an OCI bundle from the registry', check('serve oci-bundle:'));
  it('in canopy serve refusing its config', check('serve refused:'));
  it('in canopy eval, --json, --mutate', check('eval'));
  it('in canopy audit, every format, and audit --decisions', check('audit'));
  it('in canopy impact and its JSON files', check('impact'));
  it('in the report files', check('report file:'));
  it('anywhere (nothing missed by the groups above)', check(''));
});

describe('the recorder redacts', () => {
  const reviews = new Map(plantedReviews());

  it('env values of every pod spec and template, in object, oldObject and last-applied, keeping names', () => {
    for (const [name, review] of reviews) {
      const before = JSON.stringify(review);
      const redacted = redactSecrets(review);
      expect(JSON.stringify(review), `${name} was modified`).toBe(before);
      const leaks = findLeaks(new Map([[name, JSON.stringify(redacted)]]), PLANTED);
      expect(leaks, describeLeaks(leaks)).toEqual([]);
    }
    const pod = redactSecrets(reviews.get('pod-create')) as { request: { object: Json } };
    const spec = pod.request.object['spec'] as Record<string, Json[]>;
    expect(spec['containers']?.[0]?.['env']).toEqual([{ name: 'DB_PASSWORD', value: REDACTED }, envFromSecret]);
    expect(spec['initContainers']?.[0]?.['env']).toEqual([{ name: 'DB_PASSWORD', value: REDACTED }]);
    expect(spec['ephemeralContainers']?.[0]?.['env']).toEqual([{ name: 'API_TOKEN', value: REDACTED }]);
    const applied = JSON.parse(String(((pod.request.object['metadata'] as Json)['annotations'] as Json)['kubectl.kubernetes.io/last-applied-configuration']));
    expect(applied.spec.containers[0].env).toEqual([{ name: 'DB_PASSWORD', value: REDACTED }]);
    const secret = redactSecrets(reviews.get('secret-update')) as { request: { object: Json; oldObject: Json } };
    expect(secret.request.object['data']).toEqual({ password: REDACTED, username: REDACTED });
    expect(secret.request.object['stringData']).toEqual({ token: REDACTED });
    expect(secret.request.oldObject['data']).toEqual({ password: REDACTED, username: REDACTED });
    expect(JSON.stringify(secret)).not.toContain(b64(P['Secret data']));
  });

  it('one object, for printing: a Secret known by its own kind, env values in any pod spec', () => {
    for (const [name, review] of reviews) {
      const object = (review['request'] as Json)['object'];
      const leaks = findLeaks(new Map([[name, JSON.stringify(redactObject(object))]]), PLANTED);
      expect(leaks, describeLeaks(leaks)).toEqual([]);
    }
    expect(redactObject(null)).toBe(null);
    expect(redactObject({ apiVersion: 'v1', kind: 'Secret', data: { a: 'eA==' } })).toEqual({ apiVersion: 'v1', kind: 'Secret', data: { a: REDACTED } });
  });

  it('leaves other objects as they are, and never throws on odd shapes', () => {
    for (const n of [2, 12, 16, 70, 72]) {
      const plain = fixture(n); // no env values, no Secret
      expect(redactSecrets(plain), `fixture ${n}`).toBe(plain);
    }
    const odd: unknown[] = [
      null,
      'text',
      [],
      { request: null },
      { request: { kind: 'Pod', object: 'x', oldObject: 7 } },
      { request: { object: { spec: null, template: [] } } },
      { request: { object: { spec: { containers: 'x', initContainers: [null, 3, { env: 'x' }, { env: [null, 'x', { name: 'A' }] }] } } } },
      { request: { object: { spec: { template: { spec: { containers: { env: [] } } } }, metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{not json' } } } } },
      { request: { object: { spec: { jobTemplate: { spec: null } }, metadata: { annotations: null } } } },
      { request: { kind: { group: '', kind: 'Secret' }, object: { data: 'not a map', stringData: null, metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 5 } } } } },
    ];
    for (const review of odd) expect(() => redactSecrets(review)).not.toThrow();
    const malformed = redactSecrets(odd[7]) as { request: { object: { metadata: { annotations: Json } } } };
    expect(malformed.request.object.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toBe(REDACTED);
  });
});
