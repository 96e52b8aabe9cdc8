// The worked examples of declared facts in policies/examples/ (policies/README.md, "Declaring facts").
// Each is adopted as its README line says, `cp -r policies/examples/NAME/. policies/`: here, into a copy
// of policies/. Adopted, it validates, passes its own cases with its policy matched, and denies what it
// is written for (and allows the rest) through every entry point: the pipeline, POST /validate over
// HTTPS, an audit of manifests, and an impact replay against the shipped policies. The CLI is run once
// on a copy with every example adopted, for what is the CLI's own: exit codes and output. policies/
// itself, without the copy, runs none of them.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runAudit, type AuditReport } from '../src/cli/audit/index.js';
import { createLogger } from '../src/operations/decision-log/index.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { formatPolicyFiles } from '../src/policy/format/index.js';
import { impact } from '../src/cli/impact/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { runPolicyTests, type SuiteResult } from '../src/policy/tests/index.js';
import { runCanopy, type CliResult } from './helpers/cli.js';
import { fixture, STARTER_POLICIES } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';
import { logSink } from './helpers/log-sink.js';

type Json = Record<string, unknown>;
const EXAMPLES_DIR = path.join(STARTER_POLICIES, 'examples');
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const tempDir = (what: string) => mkdtempSync(path.join(tmpdir(), `canopy-fact-examples-${what}-`));

interface Example {
  /** Its folder under policies/examples/; its policy's id is examples.NAME. */
  name: string;
  /** Where its policy and its cases land once adopted. */
  policy: string;
  tests: string;
  /** An AdmissionReview its policy denies, and one it does not: the real captured request, where one fits. */
  matching: () => Json;
  compliant: () => Json;
  /** Part of the denial message: the advice with the facts filled in. */
  advice: string;
  /** Its policy's @severity, as an audit reports it. */
  severity: string;
  /**
   * The shipped policies that already deny the matching request, in a namespace at the default Pod
   * Security levels (data/pod-security.yaml: enforce baseline): the example's policy denies it too,
   * beside them. Asserted exactly, so that the example's own policy is still proven to deny it.
   */
  shippedDenials?: string[];
  /** The compliant object is a Pod, which the restricted level reports (warn and audit by default): an audit lists it as warning. */
  compliantWarned?: true;
  /**
   * The shipped packs' rules that warn for the compliant object as a manifest, beside the restricted
   * level: an audit judges the object itself, where the captured request may touch only a subresource,
   * which those rules leave alone. Asserted exactly, so that nothing else reports the compliant object.
   */
  compliantPackWarnings?: string[];
}

const warnedCompliant = (example: Example) => (example.compliantWarned ? 1 : 0);

/** An audited object's warnings other than the restricted Pod Security level's, sorted. */
const nonRestrictedWarnings = (result: AuditReport['results'][number]) =>
  result.warnings.map((w) => w.policy).filter((p) => !p.startsWith('pod-security.restricted.')).sort();

/** Every policy that denies an example's matching request once it is adopted, sorted by id as denials are. */
const adoptedDenials = (example: Example) => [`examples.${example.name}`, ...(example.shippedDenials ?? [])].sort();

const requestOf = (review: Json) => review['request'] as Json;
const objectOf = (review: Json) => requestOf(review)['object'] as Json;

/** A captured request (../shared/fixtures), its object changed by `edit`. */
function captured(n: number, edit: (object: Json) => void = () => {}): Json {
  const review = fixture(n) as unknown as Json;
  edit(objectOf(review));
  return review;
}

const EXAMPLES: Example[] = [
  {
    name: 'added-capabilities',
    policy: 'baseline/added-capabilities.cedar',
    tests: 'baseline/added-capabilities.test.yaml',
    // kubectl debug web: an ephemeral container, as captured; then as --profile=netadmin makes it.
    compliant: () => captured(80),
    matching: () =>
      captured(80, (pod) => {
        const debugger_ = ((pod['spec'] as Json)['ephemeralContainers'] as Json[])[0]!;
        debugger_['securityContext'] = { capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } };
      }),
    advice: 'this workload adds NET_ADMIN, NET_RAW: remove the others',
    severity: 'high',
    // NET_ADMIN and NET_RAW are beyond the runtime's defaults: the Pod Security baseline denies them too.
    shippedDenials: ['pod-security.baseline.capabilities'],
    compliantWarned: true,
    // The captured request is an UPDATE of the ephemeralcontainers subresource, which the best-practices
    // pack does not judge; audited, the Pod web itself (as kubectl created it) has no
    // app.kubernetes.io/name label, no probe on nginx, and mounts its service account token.
    compliantPackWarnings: ['best-practices.automount-token', 'best-practices.require-labels', 'best-practices.require-probes'],
  },
];

/** Every file of a folder, by path relative to it. */
function filesOf(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((relative) => statSync(path.join(dir, relative)).isFile()).sort();
}

/** A copy of policies/ with these examples adopted: `cp -r policies/examples/NAME/. policies/`, refusing to overwrite. */
function adopt(names: readonly string[]): string {
  const dir = tempDir('policies');
  cpSync(STARTER_POLICIES, dir, { recursive: true });
  for (const name of names) cpSync(path.join(EXAMPLES_DIR, name), dir, { recursive: true, force: false, errorOnExist: true });
  return dir;
}

/** Writes `files` (relative path → JSON or YAML text) under a new directory. */
function writeTree(what: string, files: Record<string, string>): string {
  const dir = tempDir(what);
  for (const [relative, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
    writeFileSync(path.join(dir, relative), text);
  }
  return dir;
}

/** The violating and the compliant object as manifests. */
function manifestsOf(example: Example): Record<string, string> {
  const manifest = (review: Json, name: string) => {
    const object = structuredClone(objectOf(review));
    (object['metadata'] as Json)['name'] = name;
    return stringify(object);
  };
  return {
    [`${example.name}/violating.yaml`]: manifest(example.matching(), `${example.name}-violating`),
    [`${example.name}/compliant.yaml`]: manifest(example.compliant(), `${example.name}-compliant`),
  };
}

const requestsOf = (example: Example): Record<string, string> => ({
  [`${example.name}-matching.json`]: JSON.stringify(example.matching()),
  [`${example.name}-compliant.json`]: JSON.stringify(example.compliant()),
});

async function audit(policies: string, manifests: string): Promise<AuditReport> {
  const run = await runAudit({
    policies,
    contexts: [],
    allContexts: false,
    manifests: [manifests],
    logger: createLogger(logSink().stream),
  });
  return run.report;
}

describe.each(EXAMPLES)('policies/examples/$name, adopted', (example) => {
  const id = `examples.${example.name}`;
  let dir: string;
  let pipeline: AdmissionPipeline;
  let suite: SuiteResult;
  let server: TestServer;

  beforeAll(async () => {
    dir = adopt([example.name]);
    pipeline = new AdmissionPipeline();
    await pipeline.activate(await loadPolicyDirectory(dir));
    suite = await runPolicyTests(dir, { coverage: true });
    // No cluster: the webhook knows nothing of the namespace.
    server = await startServer({ policies: dir, facts: async () => ({}) });
  });
  afterAll(async () => server?.close());

  it('adds a facts file, a policy and its cases beside the shipped files, overwriting none, and validates', async () => {
    const files = filesOf(path.join(EXAMPLES_DIR, example.name));
    expect(files).toEqual([`facts/${example.name}.yaml`, example.policy, example.tests].sort());
    for (const file of files) expect(existsSync(path.join(STARTER_POLICIES, file)), `${file} is not shipped`).toBe(false);
    // What canopy validate checks: strict validation, no policy that can never match, warm-up (activate).
    const set = await loadPolicyDirectory(dir);
    expect(set.policies.has(id)).toBe(true);
    expect(set.warnings.filter((warning) => JSON.stringify(warning).includes(example.name))).toEqual([]);
    // The example's facts come from its own file, beside the facts the shipped set declares (every
    // shipped facts/*.yaml), which are exactly those policies/ itself declares, from the same files.
    const own = set.facts.declarations.filter((d) => d.position.file === path.join(dir, `facts/${example.name}.yaml`));
    expect(own.length).toBeGreaterThan(0);
    const declared = (declarations: typeof set.facts.declarations, root: string) => declarations.map((d) => [path.relative(root, d.position.file), d.name]);
    const shipped = (await loadPolicyDirectory(STARTER_POLICIES)).facts.declarations;
    expect(shipped.length).toBeGreaterThan(0);
    expect(declared(set.facts.declarations.filter((d) => !own.includes(d)), dir)).toEqual(declared(shipped, STARTER_POLICIES));
    expect(set.facts.reads[id]).toEqual(own.map((d) => d.name).sort());
    expect((await formatPolicyFiles(dir, { check: true })).unformatted).toEqual([]);
  });

  it('passes its own cases, some denied by its policy and some not, with its policy matched (canopy test --coverage)', () => {
    expect(suite.problems).toEqual([]);
    expect(suite.results.filter((r) => !r.passed).map((r) => [r.testCase.name, r.failures, r.error])).toEqual([]);
    const own = suite.results.filter((r) => r.testCase.file.endsWith(`/${example.tests}`));
    expect(own.filter((r) => r.testCase.expect.denied?.includes(id)).length).toBeGreaterThan(0);
    expect(own.filter((r) => r.testCase.expect.allowed === true).length).toBeGreaterThan(0);
    const coverage = suite.coverage?.find((c) => c.id === id);
    expect(coverage?.matched).toBeGreaterThan(0);
    expect(coverage?.notMatched).toBeGreaterThan(0);
    expect(suite.coverage?.filter((c) => c.matched === 0)).toEqual([]);
  });

  it('denies the matching request with its advice, and allows the compliant one', () => {
    const denied = pipeline.review(example.matching()).decision;
    expect(denied.allowed).toBe(false);
    expect(denied.denials.map((hit) => hit.id)).toEqual(adoptedDenials(example));
    expect(pipeline.review(example.matching()).review.response.status?.message).toContain(example.advice);
    expect(pipeline.review(example.compliant()).decision.allowed).toBe(true);
  });

  it('answers the same over HTTPS, POST /validate', async () => {
    const validate = async (review: Json) => {
      const result = await server.post('/validate', JSON.stringify(review));
      expect(result.status).toBe(200);
      return (result.json() as { response: { allowed: boolean; status?: { message: string } } }).response;
    };
    const denied = await validate(example.matching());
    expect(denied.allowed).toBe(false);
    expect(denied.status?.message).toMatch(new RegExp(`^Canopy denied this request: \\[${escape(id)}\\] `));
    expect(denied.status?.message).toContain(example.advice);
    expect((await validate(example.compliant())).allowed).toBe(true);
  });

  it('finds the violating manifest, and only it, in an audit, by the example’s id', async () => {
    const report = await audit(dir, writeTree('manifests', manifestsOf(example)));
    expect(report.errors).toEqual([]);
    expect(report.totals).toMatchObject({ objects: 2, failing: 1, warning: warnedCompliant(example), passing: 1 - warnedCompliant(example) });
    const failing = report.results.filter((r) => r.failures.length > 0);
    expect(failing.map((r) => [r.name, r.failures.map((f) => f.policy)])).toEqual([[`${example.name}-violating`, adoptedDenials(example)]]);
    expect(failing[0]?.failures.find((f) => f.policy === id)?.message).toContain(example.advice);
    // A compliant Pod is still reported for the restricted level's warnings, and beside them only for
    // the packs' rules listed (compliantPackWarnings), exactly.
    expect(report.results.filter((r) => r.failures.length === 0).map((r) => [r.name, nonRestrictedWarnings(r)])).toEqual(
      warnedCompliant(example) ? [[`${example.name}-compliant`, example.compliantPackWarnings ?? []]] : [],
    );
  });

  it('shows its policy newly denying the matching request in an impact replay from the shipped policies', async () => {
    const requests = writeTree('requests', requestsOf(example));
    const report = await impact({ from: STARTER_POLICIES, to: dir, requests, policiesPath: 'policies' });
    expect(report.replayed).toBe(2);
    // Where the shipped policies already deny it, the change is the example's policy joining them.
    expect(report.changes.map((c) => [path.basename(c.source), c.before.allowed, c.before.denied, c.after.allowed, c.after.denied])).toEqual([
      [`${example.name}-matching.json`, !example.shippedDenials, example.shippedDenials ?? [], false, adoptedDenials(example)],
    ]);
  });
});

describe(`the canopy CLI on a copy of policies/ with all ${EXAMPLES.length} examples adopted`, () => {
  const names = EXAMPLES.map((e) => e.name);
  let dir: string;
  let reviews: string;
  const run: Record<string, CliResult> = {};

  beforeAll(async () => {
    dir = adopt(names);
    reviews = writeTree('reviews', Object.assign({}, ...EXAMPLES.map(requestsOf)) as Record<string, string>);
    const manifests = writeTree('manifests', Object.assign({}, ...EXAMPLES.map(manifestsOf)) as Record<string, string>);
    const files = (suffix: string) => names.map((name) => path.join(reviews, `${name}-${suffix}.json`));
    const commands: Record<string, string[]> = {
      validate: ['validate', dir],
      test: ['test', dir, '--coverage'],
      eval: ['eval', '--policies', dir, ...files('matching'), ...files('compliant')],
      audit: ['audit', '--policies', dir, '--manifests', manifests, '--format', 'json'],
      impact: ['impact', '--from', STARTER_POLICIES, '--to', dir, '--requests', reviews, '--format', 'json'],
      // In a namespace at Pod Security's privileged level, where no control of the shipped pack judges:
      // what the shipped policies deny at the default levels is asserted in-process, below.
      shippedEval: ['eval', '--policies', STARTER_POLICIES, '--namespace-labels', 'pod-security.kubernetes.io/enforce=privileged', ...files('matching')],
    };
    // Two at a time: each start of the CLI loads Cedar and the policies, a few seconds of one core.
    const queue = Object.entries(commands);
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) run[next[0]] = await runCanopy(next[1]);
    };
    await Promise.all([worker(), worker()]);
  });

  it('canopy validate: exit 0, the shipped policies and the examples', async () => {
    const shippedPolicies = (await loadPolicyDirectory(STARTER_POLICIES)).policies.size;
    expect(run['validate']?.stderr).toBe('');
    expect(run['validate']?.code).toBe(0);
    expect(run['validate']?.stdout).toContain(`${dir}: valid (${shippedPolicies + EXAMPLES.length} policies`);
  });

  it('canopy test --coverage: exit 0, every example case passing and every example policy matched', () => {
    const { code, stdout } = run['test']!;
    expect(code, stdout).toBe(0);
    expect(stdout).toMatch(/\d+ cases in \d+ files: \d+ passed, 0 failed/);
    for (const example of EXAMPLES) {
      expect(stdout).toContain(`${example.tests}\n`);
      expect(stdout).toMatch(new RegExp(`examples\\.${example.name} \\(policy\\): [1-9]\\d* / [1-9]\\d*`));
    }
    expect(stdout).toContain('every policy is matched by at least one case');
  });

  it('canopy eval: exit 1, each matching request denied by its example, each compliant one allowed', () => {
    const { code, stdout } = run['eval']!;
    expect(code).toBe(1);
    for (const example of EXAMPLES) {
      const matching = path.join(reviews, `${example.name}-matching.json`);
      expect(stdout).toMatch(new RegExp(`DENY  ${escape(matching)}: .*\\n {6}Canopy denied this request: \\[examples\\.${example.name}\\] `));
      expect(stdout).toContain(`ALLOW ${path.join(reviews, `${example.name}-compliant.json`)}:`);
    }
    expect(stdout).toContain(`${2 * EXAMPLES.length} judged: ${EXAMPLES.length} allowed, ${EXAMPLES.length} denied; 0 unreadable`);
    // Exit 0 when all are allowed: the same matching requests against policies/ itself, below.
  });

  it('canopy audit --manifests: each example’s violating object, named by the example’s id and severity', () => {
    const { code, stdout, stderr } = run['audit']!;
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as AuditReport;
    const warned = EXAMPLES.filter((e) => e.compliantWarned).length;
    expect(report.totals).toMatchObject({ objects: 2 * EXAMPLES.length, failing: EXAMPLES.length, warning: warned, passing: EXAMPLES.length - warned });
    expect(report.results.filter((r) => r.failures.length > 0).map((r) => [r.name, r.failures.map((f) => f.policy)]).sort()).toEqual(
      EXAMPLES.map((example) => [`${example.name}-violating`, adoptedDenials(example)]).sort(),
    );
    // The compliant objects that warn are the Pods, for the restricted level and the packs' rules listed only.
    const byName = (a: [string, string[]], b: [string, string[]]) => (a[0] < b[0] ? -1 : 1);
    expect(report.results.filter((r) => r.failures.length === 0).map((r): [string, string[]] => [r.name, nonRestrictedWarnings(r)]).sort(byName)).toEqual(
      EXAMPLES.filter((e) => e.compliantWarned).map((e): [string, string[]] => [`${e.name}-compliant`, e.compliantPackWarnings ?? []]).sort(byName),
    );
    for (const example of EXAMPLES) expect(report.byPolicy[`examples.${example.name}`], example.name).toEqual({ severity: example.severity, failures: 1, warnings: 0 });
  });

  it('canopy impact: the examples newly deny their matching requests, and nothing else changes', () => {
    const { code, stdout, stderr } = run['impact']!;
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as { replayed: number; newlyDenied: number; newlyAllowed: number; changes: { source: string; after: { denied: string[] } }[] };
    expect(report.replayed).toBe(2 * EXAMPLES.length);
    expect(report.newlyAllowed).toBe(0);
    // A matching request the shipped policies already deny changes only in who denies it: the example joins them.
    expect(report.newlyDenied).toBe(EXAMPLES.filter((e) => !e.shippedDenials).length);
    expect(report.changes.map((c) => [path.basename(c.source), c.after.denied]).sort()).toEqual(EXAMPLES.map((e) => [`${e.name}-matching.json`, adoptedDenials(e)]).sort());
  });

  it('policies/ itself runs none of them: no example policy, fact or case, and canopy eval allows the matching requests (exit 0)', async () => {
    expect(run['shippedEval']?.code, run['shippedEval']?.stdout).toBe(0);
    expect(run['shippedEval']?.stdout).toContain(`${EXAMPLES.length} judged: ${EXAMPLES.length} allowed, 0 denied`);
    expect(run['shippedEval']?.stdout).not.toContain('[examples.');
    // What canopy validate policies loads.
    const set = await loadPolicyDirectory(STARTER_POLICIES);
    expect([...set.policies.keys()].filter((id) => id.startsWith('examples.'))).toEqual([]);
    // Its own declared facts (facts/*.yaml), none of an example's.
    const exampleFactNames = new Set(EXAMPLES.flatMap((example) => [...(readFileSync(path.join(EXAMPLES_DIR, example.name, `facts/${example.name}.yaml`), 'utf8').matchAll(/^ {2}- name: (\w+)/gm))].map((m) => m[1])));
    expect(exampleFactNames.size).toBeGreaterThanOrEqual(EXAMPLES.length);
    expect(set.facts.declarations.filter((d) => exampleFactNames.has(d.name) || d.position.file.includes('/examples/'))).toEqual([]);
    const shipped = new AdmissionPipeline();
    await shipped.activate(set);
    // At the default Pod Security levels: denied only where the shipped pack already denies it, by the pack alone.
    for (const example of EXAMPLES) {
      const decision = shipped.review(example.matching()).decision;
      expect(decision.allowed, example.name).toBe(!example.shippedDenials);
      expect(decision.denials.map((hit) => hit.id), example.name).toEqual(example.shippedDenials ?? []);
    }
    const suite = await runPolicyTests(STARTER_POLICIES);
    expect(suite.files.filter((file) => file.includes('/examples/'))).toEqual([]);
  });
});
