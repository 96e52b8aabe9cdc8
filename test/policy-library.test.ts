// The policy library (policies/packs/): every case of every pack, sent as the API server sends it —
// POST /mutate, the patch applied, then POST /validate — over HTTPS to a server that evaluates in
// worker threads, gets what kubectl would show: admitted or not, denied by exactly the policies the
// case names, with exactly the warnings it names. The packs' data is what decides: a replica range
// from data is enforced at both ends. And the audit of a real application that policies/packs/README.md
// quotes is what canopy audit says of it today.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit, textReport } from '../src/cli/audit/index.js';
import { readFleetConfig } from '../src/operations/config/index.js';
import { createLogger } from '../src/operations/decision-log/index.js';
import { findFiles } from '../src/sources/files/find-files.js';
import { readTestFile, reviewOf, type TestCase } from '../src/policy/tests/index.js';
import type { RequestFacts } from '../src/policy/translate/index.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';
import { logSink } from './helpers/log-sink.js';
import { patched, type MutationResponse } from './helpers/patch.js';
import { admissionReview } from './helpers/review.js';

type Json = Record<string, unknown>;
interface ValidationResponse extends MutationResponse {
  warnings?: string[];
}

const PACKS = path.join(STARTER_POLICIES, 'packs');

/** What kubectl shows of an answer: the ids of the denying policies, in the message, and of the warnings. */
const deniedIds = (message: string) => [...message.matchAll(/(?:^Canopy denied this request: |\. )\[([^\]\s]+)\] /g)].map((m) => m[1] ?? '').sort();
const warnedIds = (warnings: readonly string[]) => warnings.map((warning) => /^\[([^\]\s]+)\] /.exec(warning)?.[1] ?? warning).sort();

interface Outcome {
  allowed: boolean;
  denied: string[];
  warnings: string[];
}

/** As the API server admits: mutate, apply the patch, validate what results. */
async function admit(server: TestServer, review: Json): Promise<Outcome> {
  const request = review['request'] as Json;
  const mutation = ((await server.post('/mutate', JSON.stringify(review))).json() as { response: MutationResponse }).response;
  if (!mutation.allowed) return { allowed: false, denied: deniedIds(mutation.status?.message ?? ''), warnings: [] };
  const object = request['object'] === null ? null : patched(request['object'] as Json, mutation);
  const validation = ((await server.post('/validate', JSON.stringify({ ...review, request: { ...request, object } }))).json() as { response: ValidationResponse }).response;
  return { allowed: validation.allowed, denied: validation.allowed ? [] : deniedIds(validation.status?.message ?? ''), warnings: warnedIds(validation.warnings ?? []) };
}

describe('every case of every pack, through /mutate and /validate over HTTPS', async () => {
  const files = await findFiles(PACKS, (name) => name.endsWith('.test.yaml'));
  const cases: TestCase[] = [];
  for (const file of files) {
    const read = await readTestFile(file, STARTER_POLICIES);
    expect(read.problems).toEqual([]);
    cases.push(...read.cases);
  }
  const factsByUid = new Map<string, RequestFacts>();
  const reviews = new Map<TestCase, Json>();
  let server: TestServer;

  beforeAll(async () => {
    for (const testCase of cases) {
      const review = await reviewOf(testCase);
      const uid = String((review['request'] as Json)['uid']);
      expect(factsByUid.has(uid), `${testCase.file}:${testCase.line} has a uid of its own`).toBe(false);
      factsByUid.set(uid, { ...testCase.facts, ...(testCase.namespaceLabels ? { namespaceLabels: testCase.namespaceLabels } : {}) });
      reviews.set(testCase, review);
    }
    server = await startServer({ policies: STARTER_POLICIES, workers: 2, facts: async (request) => factsByUid.get(request.uid) ?? {} });
  });
  afterAll(async () => server?.close());

  it('has cases for every pack, each denying and allowing', () => {
    const packs = new Set(cases.map((testCase) => path.relative(PACKS, testCase.file).split(path.sep)[0]));
    expect([...packs].sort()).toEqual(['best-practices', 'cloud-resources', 'kubevirt', 'models']);
    expect(cases.filter((testCase) => testCase.expect.allowed === false).length).toBeGreaterThan(30);
    expect(cases.filter((testCase) => testCase.expect.allowed === true).length).toBeGreaterThan(30);
  });

  it('answers each case as canopy test expects it', async () => {
    const mismatches: string[] = [];
    for (const testCase of cases) {
      const outcome = await admit(server, reviews.get(testCase) ?? {});
      const { expect: want } = testCase;
      const where = `${path.relative(STARTER_POLICIES, testCase.file)}:${testCase.line} ${testCase.name}`;
      if (want.allowed !== undefined && want.allowed !== outcome.allowed) mismatches.push(`${where}: ${outcome.allowed ? 'allowed' : 'denied'}`);
      if (want.denied && JSON.stringify([...want.denied].sort()) !== JSON.stringify(outcome.denied)) mismatches.push(`${where}: denied by ${outcome.denied.join(', ')}`);
      if (want.warnings && JSON.stringify([...want.warnings].sort()) !== JSON.stringify(outcome.warnings)) mismatches.push(`${where}: warnings ${outcome.warnings.join(', ')}`);
    }
    expect(mismatches).toEqual([]);
  });
});

describe("a pack's data decides", () => {
  let server: TestServer;
  beforeAll(async () => {
    // The same policies, with a replica range of 2..5 instead of the shipped 0..50.
    const dir = mkdtempSync(path.join(tmpdir(), 'canopy-library-'));
    cpSync(STARTER_POLICIES, dir, { recursive: true });
    const data = path.join(dir, 'packs/best-practices/data/best-practices.yaml');
    writeFileSync(data, readFileSync(data, 'utf8').replace(/replicas:\n {2}min: 0\n {2}max: 50/, 'replicas:\n  min: 2\n  max: 5'));
    server = await startServer({ policies: dir });
  });
  afterAll(async () => server?.close());

  const deployment = (replicas: number): Json => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'team-a' },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'registry.example.com/web:1.0' }] } } },
  });

  it('enforces a replica range from data at both ends, naming it', async () => {
    const below = await admit(server, admissionReview(deployment(1)));
    expect(below).toMatchObject({ allowed: false, denied: ['best-practices.replicas'] });
    const above = await admit(server, admissionReview(deployment(6)));
    expect(above).toMatchObject({ allowed: false, denied: ['best-practices.replicas'] });
    const answer = ((await server.post('/validate', JSON.stringify(admissionReview(deployment(6))))).json() as { response: MutationResponse }).response;
    expect(answer.status?.message).toContain('A Deployment runs between 2 and 5 replicas, and this request asks for 6');
    expect(await admit(server, admissionReview(deployment(3)))).toMatchObject({ allowed: true, denied: [] });
  });
});

describe('the audit of examples/shop that policies/packs/README.md quotes', () => {
  it('finds exactly the planted mistakes and upstream’s, and prints what the README shows', async () => {
    const root = path.join(STARTER_POLICIES, '..');
    const config = path.join(root, 'examples/shop-cluster.yaml');
    const { report } = await runAudit({
      policies: STARTER_POLICIES,
      contexts: [],
      allContexts: false,
      manifests: [path.join(root, 'examples/shop')],
      configs: [{ file: config, config: await readFleetConfig(config) }],
      logger: createLogger(logSink().stream),
    });
    expect(report.errors).toEqual([]);
    const failing = Object.fromEntries(report.results.filter((r) => r.failures.length > 0).map((r) => [`${r.kind} ${r.name}`, r.failures.map((f) => f.policy).sort()]));
    const upstream = ['adservice', 'cartservice', 'checkoutservice', 'currencyservice', 'emailservice', 'frontend', 'paymentservice', 'productcatalogservice', 'recommendationservice', 'shippingservice'];
    expect(failing).toEqual({
      'ClusterRoleBinding shop-deployer-admin': ['best-practices.cluster-admin-binding'],
      'Bucket shop-invoices': ['cloud-resources.region'],
      'VirtualMachine legacy-erp': ['kubevirt.regions'],
      'Service frontend-external': ['best-practices.load-balancer'],
      'Role deployer': ['best-practices.rbac-wildcards'],
      'Ingress promo': ['best-practices.unique-ingress'],
      'Ingress shop': ['best-practices.unique-ingress'],
      ...Object.fromEntries(upstream.map((name) => [`Deployment ${name}`, ['supply-chain.allowed-sources']])),
      'Deployment loadgenerator': ['supply-chain.allowed-sources', 'supply-chain.no-latest'],
      'InferenceService recommender': ['models.approved-sources'],
    });
    // Every line of the README's quote, but the elided ones, is in the report as canopy audit prints it.
    const readme = readFileSync(path.join(PACKS, 'README.md'), 'utf8');
    const quote = /```\n\$ canopy audit --policies policies --manifests examples\/shop --config examples\/shop-cluster.yaml\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const printed = textReport(report).split('\n');
    const quoted = quote.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('…'));
    expect(quoted.length).toBeGreaterThan(15);
    expect(quoted.filter((line) => !printed.includes(line))).toEqual([]);
  });
});
