// Policy test files: YAML next to the policies (`*.test.yaml`), each a list of cases. A case is an
// AdmissionReview (a file) or an inline object with its operation and user, optional context, and
// what the webhooks are expected to answer.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { OPERATIONS, syntheticReview, type Operation } from '../../kubernetes/admission/index.js';
import type { PolicyDiagnostic } from '../engine/index.js';
import { quantityValue, wholeUnits } from '../../kubernetes/quantity/index.js';
import { parseImageReference } from '../../sources/oci/index.js';
import { NO_FLEET_STORE, ZERO, type FleetShares, type Usage } from '../../facts/quota/index.js';
import { AMOUNT_KEYS, NO_AMOUNTS, readFleetLimits, type FleetLimits } from '../../kubernetes/objects/fleet-budget.js';
import type { ImageLookup } from '../../facts/supply-chain/index.js';
import type { ClusterIdentity, RequestFacts, StorageClassInfo } from '../translate/index.js';
import { isRecord } from '../../kubernetes/objects/json.js';
import { IngressInventory } from '../../facts/fleet/index.js';
import { messageOf } from '../../operations/errors/index.js';

export interface CaseExpectation {
  allowed?: boolean;
  denied?: string[];
  warnings?: string[];
  mutations?: string[];
  patch?: unknown[];
}

export interface TestCase {
  file: string;
  line: number;
  name: string;
  /** An AdmissionReview file, relative to the test file. */
  review?: string;
  object?: Record<string, unknown>;
  oldObject?: Record<string, unknown>;
  operation?: Operation;
  subresource?: string;
  resource?: string;
  /** `scope: Cluster` / `Namespaced`: a custom resource's scope, as its CRD says (built-in kinds are known). */
  clusterScoped?: boolean;
  user?: { username: string; groups: string[] };
  dryRun?: boolean;
  namespaceLabels?: Record<string, string>;
  /** The fleet around the request, as the webhook would know it from the cluster. */
  facts: Omit<RequestFacts, 'namespaceLabels' | 'sovereignty' | 'unavailable'>;
  expect: CaseExpectation;
}

const CASE_KEYS = [
  'name', 'review', 'object', 'oldObject', 'operation', 'subresource', 'resource', 'scope', 'user', 'dryRun',
  'namespace', 'cluster', 'workspace', 'storageClasses', 'nodes', 'usage', 'fleet', 'images', 'ingresses', 'expect',
];
const EXPECT_KEYS = ['allowed', 'denied', 'warnings', 'mutations', 'patch'];

type Json = Record<string, unknown>;
const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

function readCase(raw: unknown, file: string, line: number): TestCase | string {
  if (!isRecord(raw)) return 'a case must be a map with name and expect';
  const unknown = Object.keys(raw).filter((key) => !CASE_KEYS.includes(key));
  if (unknown.length > 0) return `unknown field ${unknown.join(', ')} (a case has ${CASE_KEYS.join(', ')})`;
  const name = raw['name'];
  if (typeof name !== 'string' || name === '') return 'a case needs a name';
  const { review, object, oldObject, operation, subresource, resource, scope, user, dryRun, namespace, expect } = raw;
  if ((review === undefined) === (object === undefined && oldObject === undefined)) {
    return `case "${name}": give either review (an AdmissionReview file) or object / oldObject`;
  }
  if (review !== undefined && typeof review !== 'string') return `case "${name}": review must be a file path`;
  if (object !== undefined && !isRecord(object)) return `case "${name}": object must be a map`;
  if (oldObject !== undefined && !isRecord(oldObject)) return `case "${name}": oldObject must be a map`;
  if (operation !== undefined && !OPERATIONS.includes(operation as Operation)) return `case "${name}": operation must be one of ${OPERATIONS.join(', ')}`;
  if (subresource !== undefined && typeof subresource !== 'string') return `case "${name}": subresource must be a string`;
  if (resource !== undefined && typeof resource !== 'string') return `case "${name}": resource must be a string`;
  if (scope !== undefined && scope !== 'Cluster' && scope !== 'Namespaced') return `case "${name}": scope must be Cluster or Namespaced (as the kind's CRD says)`;
  if (dryRun !== undefined && typeof dryRun !== 'boolean') return `case "${name}": dryRun must be true or false`;
  let userInfo: TestCase['user'];
  if (typeof user === 'string') userInfo = { username: user, groups: ['system:authenticated'] };
  else if (isRecord(user) && typeof user['username'] === 'string' && (user['groups'] === undefined || isStringList(user['groups']))) {
    userInfo = { username: user['username'], groups: (user['groups'] as string[] | undefined) ?? ['system:authenticated'] };
  } else if (user !== undefined) return `case "${name}": user must be a name or {username, groups}`;
  let namespaceLabels: Record<string, string> | undefined;
  if (namespace !== undefined) {
    const labels = isRecord(namespace) ? namespace['labels'] : undefined;
    if (!isRecord(namespace) || Object.keys(namespace).some((k) => k !== 'labels') || !isRecord(labels) || !Object.values(labels).every((v) => typeof v === 'string')) {
      return `case "${name}": namespace must be {labels: {key: value}}`;
    }
    namespaceLabels = labels as Record<string, string>;
  }
  const facts = readFacts(raw, name);
  if (typeof facts === 'string') return facts;
  if (!isRecord(expect) || Object.keys(expect).length === 0) return `case "${name}": expect must say at least one of ${EXPECT_KEYS.join(', ')}`;
  const unknownExpect = Object.keys(expect).filter((key) => !EXPECT_KEYS.includes(key));
  if (unknownExpect.length > 0) return `case "${name}": unknown expectation ${unknownExpect.join(', ')} (expect has ${EXPECT_KEYS.join(', ')})`;
  for (const key of ['denied', 'warnings', 'mutations'] as const) {
    if (expect[key] !== undefined && !isStringList(expect[key])) return `case "${name}": expect.${key} must be a list of policy ids`;
  }
  if (expect['allowed'] !== undefined && typeof expect['allowed'] !== 'boolean') return `case "${name}": expect.allowed must be true or false`;
  if (expect['patch'] !== undefined && !Array.isArray(expect['patch'])) return `case "${name}": expect.patch must be a list of JSON Patch operations`;
  if (expect['allowed'] === true && isStringList(expect['denied']) && expect['denied'].length > 0) {
    return `case "${name}": expect.allowed is true but expect.denied names policies`;
  }
  return {
    file,
    line,
    name,
    ...(typeof review === 'string' ? { review } : {}),
    ...(isRecord(object) ? { object } : {}),
    ...(isRecord(oldObject) ? { oldObject } : {}),
    ...(operation ? { operation: operation as Operation } : {}),
    ...(typeof subresource === 'string' ? { subresource } : {}),
    ...(typeof resource === 'string' ? { resource } : {}),
    ...(scope === 'Cluster' || scope === 'Namespaced' ? { clusterScoped: scope === 'Cluster' } : {}),
    ...(userInfo ? { user: userInfo } : {}),
    ...(typeof dryRun === 'boolean' ? { dryRun } : {}),
    ...(namespaceLabels ? { namespaceLabels } : {}),
    facts,
    expect: expect as CaseExpectation,
  };
}

const isStringMap = (value: unknown): value is Record<string, string> =>
  isRecord(value) && Object.values(value).every((v) => typeof v === 'string');

/** cluster, workspace, storageClasses and nodes of a case: the facts the webhook reads from a cluster. */
function readFacts(raw: Json, name: string): TestCase['facts'] | string {
  const facts: TestCase['facts'] = {};
  const { cluster, workspace, storageClasses, nodes, usage, fleet, images, ingresses } = raw;
  if (cluster !== undefined) {
    const fields = ['name', 'region', 'jurisdiction', 'provider', 'environment'] as const;
    if (!isRecord(cluster) || Object.keys(cluster).some((k) => !(fields as readonly string[]).includes(k) && k !== 'labels')) {
      return `case "${name}": cluster takes ${fields.join(', ')} and labels`;
    }
    const identity: ClusterIdentity = { name: 'test-cluster', region: '', jurisdiction: '', provider: '', environment: '', labels: {} };
    for (const field of fields) if (typeof cluster[field] === 'string') identity[field] = field === 'jurisdiction' ? (cluster[field] as string).toUpperCase() : (cluster[field] as string);
    if (cluster['labels'] !== undefined && !isStringMap(cluster['labels'])) return `case "${name}": cluster.labels must be a map of strings`;
    identity.labels = (cluster['labels'] as Record<string, string> | undefined) ?? {};
    facts.cluster = identity;
  }
  if (workspace !== undefined) {
    if (!isRecord(workspace) || typeof workspace['path'] !== 'string' || (workspace['labels'] !== undefined && !isStringMap(workspace['labels']))) {
      return `case "${name}": workspace must be {path: root:org:team, labels: {...}}`;
    }
    const path = workspace['path'];
    facts.workspace = { path, logicalCluster: typeof workspace['logicalCluster'] === 'string' ? workspace['logicalCluster'] : path, labels: { [path]: (workspace['labels'] as Record<string, string> | undefined) ?? {} } };
  }
  if (storageClasses !== undefined) {
    if (!isRecord(storageClasses)) return `case "${name}": storageClasses must map names to {regions, waitForFirstConsumer, default}`;
    const classes = new Map<string, StorageClassInfo>();
    for (const [className, entry] of Object.entries(storageClasses)) {
      const e = isRecord(entry) ? entry : {};
      const regions = e['regions'] ?? [];
      if (!Array.isArray(regions) || !regions.every((r) => typeof r === 'string')) return `case "${name}": storageClasses.${className}.regions must be a list`;
      classes.set(className, { name: className, regions, waitForFirstConsumer: e['waitForFirstConsumer'] === true, isDefault: e['default'] === true });
    }
    facts.storageClass = (className) => classes.get(className);
    facts.defaultStorageClass = () => [...classes.values()].find((c) => c.isDefault);
  }
  if (nodes !== undefined) {
    if (!isRecord(nodes) || !Object.values(nodes).every((n) => isRecord(n) && isStringMap(n['labels']))) return `case "${name}": nodes must map names to {labels: {...}}`;
    const byName = nodes as Record<string, { labels: Record<string, string> }>;
    facts.nodeLabels = (node) => byName[node]?.labels;
  }
  if (usage !== undefined) {
    // What each tenant already uses: {tenant: {cpu: "3", memory: 2Gi, gpus: 1}}.
    if (!isRecord(usage)) return `case "${name}": usage must map tenants to {cpu, memory, gpus}`;
    const byTenant = new Map<string, Usage>();
    for (const [tenant, entry] of Object.entries(usage)) {
      const e = isRecord(entry) ? entry : {};
      const read = (key: string) => (e[key] === undefined ? 0n : quantityValue(e[key]));
      const [cpu, memory, gpus] = [read('cpu'), read('memory'), read('gpus')];
      if (cpu === undefined || memory === undefined || gpus === undefined) return `case "${name}": usage.${tenant} holds a value that is not a quantity`;
      byTenant.set(tenant, { cpuMillis: cpu, memoryBytes: wholeUnits(memory), gpus: wholeUnits(gpus) });
    }
    facts.quotaLedger = { used: (tenant) => byTenant.get(tenant) ?? ZERO, reserve: () => {} };
  }
  if (fleet !== undefined) {
    // What the fleet store says of each fleet budget: {tenant: {limit: {gpus: 8}, share: {gpus: 2}, used: {gpus: 6}, note: "…"}}.
    const shares = readFleetShares(fleet, name);
    if (typeof shares === 'string') return shares;
    facts.fleetShares = shares;
  }
  if (images !== undefined) {
    // What registries answer: {IMAGE: {digest: sha256:…, signature: verified | "reason", error: "…"}}.
    if (!isRecord(images)) return `case "${name}": images must map image references to {digest, signature, error}`;
    const lookups = new Map<string, ImageLookup>();
    for (const [image, entry] of Object.entries(images)) {
      const e = isRecord(entry) ? entry : {};
      let normalized: string;
      try {
        normalized = parseImageReference(image).normalized;
      } catch (error) {
        return `case "${name}": images: ${messageOf(error)}`;
      }
      const signature = e['signature'];
      lookups.set(normalized, {
        ...(typeof e['digest'] === 'string' ? { digest: e['digest'] } : {}),
        ...(typeof e['error'] === 'string' ? { resolveError: e['error'] } : {}),
        ...(signature === 'verified' ? { signature: { verified: true as const } } : typeof signature === 'string' ? { signature: { verified: false as const, reason: signature } } : {}),
      });
    }
    facts.imageLookups = lookups;
  }
  if (ingresses !== undefined) {
    // The cluster's other Ingresses, as manifests: {metadata: {name, namespace}, spec: {rules: …}}.
    const valid = (entry: unknown) => isRecord(entry) && isRecord(entry['metadata']) && typeof entry['metadata']['name'] === 'string' && typeof entry['metadata']['namespace'] === 'string';
    if (!Array.isArray(ingresses) || !ingresses.every(valid)) return `case "${name}": ingresses must be a list of Ingresses, each with metadata.name and metadata.namespace`;
    facts.inventory = new IngressInventory({ objects: ingresses as Json[] });
  }
  return facts;
}

/** Amounts in budgets.yaml's units (cpu, memory, gpus quantities; monthlyCost a decimal) → canonical integers. */
function fleetAmounts(value: unknown): FleetLimits | undefined {
  if (value === undefined) return {};
  if (!isRecord(value)) return undefined;
  const problems: string[] = [];
  const limits = readFleetLimits(value, problems);
  return problems.length > 0 ? undefined : limits;
}

/** A case's `fleet`: each tenant's fleet budget as the fleet store would give it (limit, share, fleet use, note). */
function readFleetShares(fleet: unknown, name: string): FleetShares | string {
  const shape = `case "${name}": fleet maps tenants to {limit, share, used, note}, amounts as in budgets.yaml (cpu, memory, gpus, monthlyCost)`;
  if (!isRecord(fleet)) return shape;
  const views = new Map<string, { limit: FleetLimits; share: FleetLimits; used: FleetLimits; note: string }>();
  for (const [tenant, entry] of Object.entries(fleet)) {
    if (!isRecord(entry) || Object.keys(entry).some((key) => !['limit', 'share', 'used', 'note'].includes(key))) return shape;
    const [limit, share, used] = [fleetAmounts(entry['limit']), fleetAmounts(entry['share']), fleetAmounts(entry['used'])];
    if (!limit || !share || !used) return `case "${name}": fleet.${tenant} holds an amount that is not one (cpu, memory, gpus: quantities; monthlyCost: a decimal)`;
    views.set(tenant, { limit, share, used, note: typeof entry['note'] === 'string' ? entry['note'] : '' });
  }
  return {
    view: (tenant, entry, clusterUsed) => {
      const given = views.get(tenant);
      if (!given) return NO_FLEET_STORE.view(tenant, entry, clusterUsed);
      const fleetUsed = { ...NO_AMOUNTS, ...given.used };
      for (const key of AMOUNT_KEYS) fleetUsed[key] += clusterUsed[key];
      return { budget: entry.budget, limit: given.limit, used: fleetUsed, regionUsed: fleetUsed, share: given.share, current: true, note: given.note };
    },
    grow: () => Promise.resolve(),
  };
}

/**
 * Whether a file a case names (resolved from the test file's folder) lies outside the policy directory:
 * a policy directory is a repository of its own, and its tests must pass wherever it is copied.
 */
function escapes(root: string, testFile: string, reference: string): boolean {
  const relative = path.relative(path.resolve(root), path.resolve(path.dirname(testFile), reference));
  return relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
}

/**
 * Reads one test file; problems come back as diagnostics with the case's line. With `policyDir` (the
 * policy directory), a case whose review file is outside it is a problem, not a case.
 */
export async function readTestFile(file: string, policyDir?: string): Promise<{ cases: TestCase[]; problems: PolicyDiagnostic[] }> {
  return parseTestFile(await readFile(file, 'utf8'), file, policyDir);
}

/** A test file's YAML, read: its cases' values with their lines, or why it cannot be read. */
type ReadYaml = { errors: ReadonlyArray<{ line: number; message: string }> } | { items: ReadonlyArray<{ line: number; value: unknown }> };

// Bundles carry their tests, and every webhook runs them before it activates a bundle: most test files
// are the same from one bundle to the next, and YAML is the slow part of running them. Remembered by
// text; values are copied out, so a case can never change what the next reader gets.
const readYamlByText = new LRUCache<string, ReadYaml>({ max: 512, memoMethod: (text) => readYamlUncached(text) });

const readYaml = (text: string): ReadYaml => readYamlByText.memo(text);

function readYamlUncached(text: string): ReadYaml {
  const lines = new LineCounter();
  // merge: YAML merge keys (`<<: *base`) keep variations of one object short.
  const document = parseDocument(text, { uniqueKeys: true, lineCounter: lines, merge: true });
  if (document.errors.length > 0) {
    return { errors: document.errors.map((e) => ({ line: e.linePos?.[0]?.line ?? 1, message: `invalid YAML: ${e.message.split('\n')[0]}` })) };
  }
  const root = document.contents;
  const casesNode = isMap(root) ? root.get('cases', true) : undefined;
  if (!isMap(root) || !isSeq(casesNode)) return { errors: [{ line: 1, message: 'a test file is a map with a list of cases: `cases: [...]`' }] };
  // The whole document is converted at once, so aliases (`*pod`) resolve; nodes give the lines.
  const values = (document.toJS() as { cases: unknown[] }).cases;
  return { items: casesNode.items.map((item, index) => ({ line: lines.linePos((item as YamlNode).range?.[0] ?? 0).line, value: values[index] })) };
}

/** readTestFile, from the file's text: for a bundle's tests, which are not on disk. */
export function parseTestFile(text: string, file: string, policyDir?: string): { cases: TestCase[]; problems: PolicyDiagnostic[] } {
  const read = readYaml(text);
  const problems: PolicyDiagnostic[] = [];
  const at = (line: number, message: string): PolicyDiagnostic => ({ position: { file, line, column: 1 }, message });
  if ('errors' in read) return { cases: [], problems: read.errors.map((error) => at(error.line, error.message)) };
  const cases: TestCase[] = [];
  for (const { line, value } of read.items) {
    const parsed = readCase(structuredClone(value), file, line);
    if (typeof parsed === 'string') problems.push(at(line, parsed));
    else if (policyDir !== undefined && parsed.review !== undefined && escapes(policyDir, file, parsed.review)) {
      problems.push(
        at(line, `case "${parsed.name}": review ${parsed.review} is outside the policy directory ${policyDir}: ` +
          'its tests may read only files inside it (put review files under tests/reviews/), so that it passes them wherever it is copied'),
      );
    } else cases.push(parsed);
  }
  return { cases, problems };
}

// Many cases name the same review file: parsed once per text (and copied out, as readYaml's values are).
const reviewsByText = new LRUCache<string, Json | string>({ max: 512 });

/** A review file's object, or the first YAML error's message. */
function readReview(text: string): Json | string {
  const known = reviewsByText.get(text);
  if (known !== undefined) return known;
  const document = parseDocument(text);
  const read = document.errors.length > 0 ? (document.errors[0]?.message.split('\n')[0] ?? 'invalid YAML') : (document.toJS() as Json);
  reviewsByText.set(text, read);
  return read;
}

/** The AdmissionReview a case stands for. A file case is read as it is; an inline one is built. */
export async function reviewOf(testCase: TestCase, read: (file: string) => Promise<string> = (file) => readFile(file, 'utf8')): Promise<Json> {
  if (testCase.review) {
    const file = path.resolve(path.dirname(testCase.file), testCase.review);
    const text = await read(file);
    const parsed = readReview(text);
    if (typeof parsed === 'string') throw new Error(`${file}: ${parsed}`);
    const review = structuredClone(parsed);
    if (!testCase.user) return review;
    const request = isRecord(review['request']) ? review['request'] : {};
    return { ...review, request: { ...request, userInfo: testCase.user } };
  }
  return inlineReview(testCase);
}

function inlineReview(testCase: TestCase): Json {
  const operation = testCase.operation ?? (testCase.object ? (testCase.oldObject ? 'UPDATE' : 'CREATE') : 'DELETE');
  return syntheticReview({
    uid: `policy-test:${path.basename(testCase.file)}:${testCase.line}`,
    operation,
    userInfo: testCase.user ?? { username: 'policy-test', groups: ['system:authenticated'] },
    object: operation === 'DELETE' ? null : (testCase.object ?? null),
    oldObject: testCase.oldObject ?? null,
    dryRun: testCase.dryRun ?? false,
    ...(testCase.resource ? { resource: testCase.resource } : {}),
    ...(testCase.subresource ? { subResource: testCase.subresource } : {}),
    ...(testCase.clusterScoped !== undefined ? { clusterScoped: testCase.clusterScoped } : {}),
  });
}
