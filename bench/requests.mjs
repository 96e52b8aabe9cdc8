// What every part of the benchmark sends and evaluates: the real AdmissionReview requests a
// kube-apiserver sent (../shared/fixtures), and the policy sets it is measured with.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { factPolicySets } from './facts.mjs';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = path.join(REPO, '..', 'shared', 'fixtures', 'admission-reviews');
const EXAMPLES = path.join(REPO, 'examples', 'admission-reviews');

/** The AdmissionReview bodies, parsed: the 88 real requests when they are beside the checkout, else the examples. */
export function admissionReviews() {
  const dir = existsSync(FIXTURES) ? FIXTURES : EXAMPLES;
  const files = readdirSync(dir).filter((name) => name.endsWith('.json')).sort();
  return { dir, reviews: files.map((name) => ({ name, body: JSON.parse(readFileSync(path.join(dir, name), 'utf8')) })) };
}

/** The label the benchmark stamps on every object so that no two requests are alike (no cache hits). */
export const UNIQUE_LABEL = 'canopy.io/bench';
/** Its value in the body text, replaced with a number on every request. */
export const UNIQUE_PLACEHOLDER = '__canopy_bench_id__';

/**
 * The same review with a label on the object it judges (the old object of a DELETE) whose value the
 * load generator replaces on every request: every request then needs its own evaluation.
 */
export function withUniqueLabel(review) {
  const copy = structuredClone(review);
  const request = copy.request;
  const judged = request.operation === 'DELETE' ? 'oldObject' : 'object';
  const object = request[judged] && typeof request[judged] === 'object' ? request[judged] : (request[judged] = {});
  object.metadata = { ...(object.metadata ?? {}), labels: { ...(object.metadata?.labels ?? {}), [UNIQUE_LABEL]: UNIQUE_PLACEHOLDER } };
  return copy;
}

/** A Cedar-shaped count of what the reviews are: kinds and operations. */
export function describeMix(reviews) {
  const counts = {};
  for (const { body } of reviews) {
    const key = `${body.request.kind.kind} ${body.request.operation}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

const SHIPPED = path.join(REPO, 'policies');

/** Policy files of the shipped set left out to make a set of exactly 10 policies. */
const NOT_IN_TEN = ['quota', path.join('sovereignty', 'binding-region.cedar')];

/** Fictional custom resource kinds, as a fleet with many operators has. */
const OTHER_KINDS = Array.from({ length: 120 }, (_, index) => `Custom${index}`);
const REAL_KINDS = ['Pod', 'Deployment', 'ConfigMap', 'Service', 'Namespace', 'Secret', 'Ingress', 'StatefulSet', 'CronJob', 'Role'];
const ACTIONS = ['create', 'update', 'delete'];

/**
 * `count` policies of the shapes platform teams write: each about one kind and one action, reading a
 * label. One in a hundred is about a kind the requests have (a handful apply to each request); the
 * rest are about other kinds, so a request should not pay for them.
 */
function generatedPolicies(count) {
  const policies = [];
  for (let n = 0; n < count; n++) {
    const real = n % 100 === 0;
    const kind = real ? REAL_KINDS[(n / 100) % REAL_KINDS.length] : OTHER_KINDS[n % OTHER_KINDS.length];
    const type = kind === 'Namespace' ? 'k8s::Namespace' : ['Pod', 'Deployment', 'StatefulSet', 'CronJob'].includes(kind) ? 'k8s::Workload' : 'k8s::Resource';
    const action = ACTIONS[n % ACTIONS.length];
    policies.push(
      `@id("generated.${n}")\n@advice("${kind} objects need the label owner-${n}")\n` +
        `forbid (principal, action == k8s::Action::"${action}", resource is ${type})\n` +
        `when { resource.kind == "${kind}" && resource.hasTag("owner-${n}") && resource.getTag("owner-${n}") == "nobody" };\n`,
    );
  }
  return policies.join('\n');
}

/**
 * Policy directories: the shipped set, a 10-policy subset of it, and that subset with 990 generated
 * policies; and with declared facts (bench/facts.mjs): the shipped set plus 30 facts and 31 policies that
 * read them, 10 policies reading one fact each, and those with 990 policies and 90 facts more.
 */
export function policySets() {
  const root = mkdtempSync(path.join(tmpdir(), 'canopy-bench-policies-'));
  const ten = path.join(root, 'ten');
  cpSync(SHIPPED, ten, { recursive: true });
  for (const part of NOT_IN_TEN) rmSync(path.join(ten, part), { recursive: true, force: true });
  const thousand = path.join(root, 'thousand');
  cpSync(ten, thousand, { recursive: true });
  writeFileSync(path.join(thousand, 'generated.cedar'), generatedPolicies(990));
  // The Pod Security pack: the shipped set as it was before it (no pod-security/ controls nor their
  // facts), and the shipped set with the whole restricted level enforced on every namespace.
  const beforePack = path.join(root, 'before-pod-security');
  cpSync(SHIPPED, beforePack, { recursive: true });
  rmSync(path.join(beforePack, 'pod-security'), { recursive: true, force: true });
  rmSync(path.join(beforePack, 'facts', 'pod-security.yaml'), { force: true });
  const restricted = path.join(root, 'restricted-enforced');
  cpSync(SHIPPED, restricted, { recursive: true });
  const data = path.join(restricted, 'data', 'pod-security.yaml');
  writeFileSync(data, readFileSync(data, 'utf8').replace(/^ {2}enforce: \w+$/m, '  enforce: restricted'));
  // The policy library: the shipped set with every pack of policies/packs/ switched off in
  // data/packs.yaml, to compare with the shipped set, where every pack is on.
  const withoutPacks = path.join(root, 'without-packs');
  cpSync(SHIPPED, withoutPacks, { recursive: true });
  const packs = readdirSync(path.join(SHIPPED, 'packs'), { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  writeFileSync(path.join(withoutPacks, 'data', 'packs.yaml'), `packs:\n${packs.map((name) => `  ${name}: {enabled: false}\n`).join('')}`);
  return { root, sets: { shipped: SHIPPED, ten, thousand, beforePack, restricted, withoutPacks, ...factPolicySets(root, SHIPPED) } };
}
