import { describe, expect, it } from 'vitest';
import { cedar } from '../cedar/index.js';
import { parseAdmissionReview } from '../../kubernetes/admission/index.js';
import { toCedarRequest } from '../translate/index.js';
import { WARM_UP_FACTS } from '../../pipeline/warm-up.js';
import { fixture, fixtureNames, STARTER_POLICIES } from '../../../test/helpers/fixtures.js';
import { policyDir, SCHEMA_TEXT, undecidedPolicies } from '../../../test/helpers/policy-dir.js';
import { loadPolicyDirectory, preparePolicySet, type CompiledPolicySet } from '../set/index.js';
import type { CedarRequest, Evaluation } from './index.js';
import { actionGraphOf, attributesOf, guardsOf, passesGuards, scopeOf, type PolicyScope } from './policy-scope.js';
import { IMPLICIT_ALLOW_ID, MAX_SUBSETS_PER_GROUP, SCHEMA_CHECK_EVERY, SCHEMA_CHECKED_FIRST } from './scoped-policy-set.js';
import { AdmissionPipeline } from '../../pipeline/index.js';

const schemaJson = cedar.schemaToJson(SCHEMA_TEXT);
if (schemaJson.type !== 'success') throw new Error('the schema does not convert');
const ACTIONS = actionGraphOf(schemaJson.json);

function scope(text: string): PolicyScope {
  const json = cedar.policyToJson(text);
  if (json.type !== 'success') throw new Error(json.errors.map((e) => e.message).join('; '));
  return scopeOf(json.json, ACTIONS);
}

const CREATE = 'k8s::Action::"create"';
const UPDATE = 'k8s::Action::"update"';
const DELETE = 'k8s::Action::"delete"';

describe('the scope of a policy', () => {
  it('reads actions from the head, expanding action groups through the schema', () => {
    expect(scope('forbid (principal, action, resource);').actions).toBe('any');
    expect(scope('forbid (principal, action == k8s::Action::"create", resource);').actions).toEqual([CREATE]);
    expect(scope('forbid (principal, action in [k8s::Action::"create", k8s::Action::"update"], resource);').actions).toEqual([CREATE, UPDATE]);
    const writes = scope('forbid (principal, action in k8s::Action::"write", resource);').actions;
    expect(writes).toContain(CREATE);
    expect(writes).toContain(UPDATE);
    expect(writes).toContain(DELETE);
    expect(writes).not.toContain('k8s::Action::"connect"');
  });

  it('reads the resource type from the head and from leading `is` tests', () => {
    expect(scope('forbid (principal, action, resource is k8s::Workload);').resourceTypes).toEqual(['k8s::Workload']);
    expect(scope('forbid (principal, action, resource is k8s::Workload in k8s::Namespace::"a");').resourceTypes).toEqual(['k8s::Workload']);
    expect(scope('forbid (principal, action, resource in k8s::Namespace::"a");').resourceTypes).toBe('any');
    expect(scope('forbid (principal, action, resource) when { resource is k8s::Resource && resource.kind == "Secret" };')).toMatchObject({
      resourceTypes: ['k8s::Resource'],
      kinds: ['Secret'],
    });
  });

  it('reads kinds and API groups from the leading tests of the first when clause, either way round', () => {
    expect(scope('forbid (principal, action, resource) when { resource.kind == "Pod" };').kinds).toEqual(['Pod']);
    expect(scope('forbid (principal, action, resource) when { "Pod" == resource.kind };').kinds).toEqual(['Pod']);
    expect(scope('forbid (principal, action, resource) when { ["Pod", "Deployment"].contains(resource.kind) };').kinds).toEqual(['Pod', 'Deployment']);
    expect(
      scope('forbid (principal, action, resource) when { resource.apiGroup == "apps" && ["Deployment", "StatefulSet"].contains(resource.kind) && resource.name == "x" };'),
    ).toMatchObject({ apiGroups: ['apps'], kinds: ['Deployment', 'StatefulSet'] });
    expect(scope('forbid (principal, action, resource) when { resource.kind == "Pod" && resource.kind == "Service" };').kinds).toEqual([]);
  });

  it('stops reading at the first test that could error or is not about the type, kind or group', () => {
    // The tag lookup errors when the tag is absent, and comes first: the policy errors (and so denies) on every kind.
    expect(scope('forbid (principal, action, resource) when { resource.getTag("x") == "y" && resource.kind == "Pod" };').kinds).toBe('any');
    expect(scope('forbid (principal, action, resource) when { resource.kind == "Pod" || resource.kind == "Job" };').kinds).toBe('any');
    expect(scope('forbid (principal, action, resource) unless { resource.kind != "Pod" };').kinds).toBe('any');
    expect(scope('forbid (principal, action, resource) when { context.subresource == "" } when { resource.kind == "Pod" };').kinds).toBe('any');
    expect(scope('forbid (principal, action, resource) when { resource.kind like "Po*" };').kinds).toBe('any');
  });
});

describe('the attributes a policy reads', () => {
  const attributes = (text: string) => {
    const json = cedar.policyToJson(text);
    if (json.type !== 'success') throw new Error(json.errors.map((e) => e.message).join('; '));
    return attributesOf(json.json);
  };

  it('names every attribute read with `.` or `has`, on whatever it is read', () => {
    expect(attributes('forbid (principal, action, resource);')).toEqual([]);
    expect(
      attributes(
        'forbid (principal, action, resource is k8s::Workload) when { resource.facts has psPrivileged && !resource.facts.psPrivileged.isEmpty() } ' +
          'unless { context has podSecurity && context.podSecurity.exceptions.contains("x") };',
      ),
    ).toEqual(['exceptions', 'facts', 'podSecurity', 'psPrivileged']);
    expect(attributes('forbid (principal, action, resource) when { context.cluster.region == principal.name && resource.hasTag("a") };')).toEqual(['cluster', 'name', 'region']);
  });

  it('is all when the context or a facts record is used whole, where leaving attributes out could change the answer', () => {
    expect(attributes('forbid (principal, action, resource) when { context == {"operation": "CREATE"} };')).toBe('all');
    expect(attributes('forbid (principal, action, resource is k8s::Workload) when { resource.facts == resource.facts };')).toBe('all');
    expect(attributes('forbid (principal, action, resource is k8s::Workload) when { [resource.facts].isEmpty() };')).toBe('all');
    // A record inside the context used whole is kept whole (only the context's own attributes are left out).
    expect(attributes('forbid (principal, action, resource) when { context has podSecurity && context.podSecurity == context.podSecurity };')).toEqual(['podSecurity']);
  });
});

describe('the guards of a policy', () => {
  const guards = (when: string) => {
    const json = cedar.policyToJson(`forbid (principal, action, resource is k8s::Workload) when { ${when} };`);
    if (json.type !== 'success') throw new Error(json.errors.map((e) => e.message).join('; '));
    return guardsOf(json.json.conditions?.[0]?.body);
  };
  const facts = ['resource', 'facts'];

  it('reads the attribute tests that lead the first when clause, past narrowing tests', () => {
    expect(guards('resource.kind == "Pod" && resource.facts has a && !resource.facts.a.isEmpty() && resource.facts has b && resource.facts.b && context has quota && context.subresource == "" && resource.facts has c')).toEqual([
      { path: [...facts, 'a'], test: 'present' },
      { path: [...facts, 'a'], test: 'non-empty' },
      { path: [...facts, 'b'], test: 'present' },
      { path: [...facts, 'b'], test: 'true' },
      { path: ['context', 'quota'], test: 'present' },
      { path: ['context', 'subresource'], test: 'equals', value: '' },
      { path: [...facts, 'c'], test: 'present' },
    ]);
    expect(guards('resource.facts has r && resource.facts.r != "" && 3 == resource.facts.n && resource.facts.b != false')).toEqual([
      { path: [...facts, 'r'], test: 'present' },
      { path: [...facts, 'r'], test: 'differs', value: '' },
      { path: [...facts, 'n'], test: 'equals', value: 3 },
      { path: [...facts, 'b'], test: 'differs', value: false },
    ]);
    expect(guards('context has supplyChain && context.supplyChain.requireDigest && !resource.imagesWithoutDigest.isEmpty()')).toEqual([
      { path: ['context', 'supplyChain'], test: 'present' },
      { path: ['context', 'supplyChain', 'requireDigest'], test: 'true' },
      { path: ['resource', 'imagesWithoutDigest'], test: 'non-empty' },
    ]);
  });

  it('stops at the first other test: what follows it is only reached when that test holds', () => {
    expect(guards('resource.facts.n > 3 && resource.facts has a')).toEqual([]);
    expect(guards('resource.facts.r == resource.facts.s && resource.facts has a')).toEqual([]);
    expect(guards('resource.facts has a || resource.facts has b')).toEqual([]);
    expect(guards('resource.facts has a && resource.facts.a.isEmpty()')).toEqual([{ path: [...facts, 'a'], test: 'present' }]);
  });

  it('fails a request only where Cedar would find a guard false without an error', () => {
    const all = guards('resource.facts has a && !resource.facts.a.isEmpty() && resource.facts has b && resource.facts.b && context has quota');
    const request = (resourceFacts: Record<string, unknown> | undefined, context: Record<string, unknown> = { quota: {} }) => ({
      resource: resourceFacts === undefined ? {} : { facts: resourceFacts },
      context,
    });
    expect(passesGuards(all, request({ a: ['x'], b: true }))).toBe(true);
    expect(passesGuards(all, request({ a: [], b: true }))).toBe(false);
    expect(passesGuards(all, request({ a: ['x'], b: false }))).toBe(false);
    expect(passesGuards(all, request({ a: ['x'] }))).toBe(false);
    expect(passesGuards(all, request({ a: ['x'], b: true }, {}))).toBe(false);
    // No facts record at all: `resource.facts has a` would error in Cedar, so Cedar is asked.
    expect(passesGuards(all, request(undefined))).toBe(true);
    // A value of another type than the schema's: Cedar is asked, and reports the error.
    expect(passesGuards(all, request({ a: 'x', b: 'yes' }))).toBe(true);
  });

  it('compares with a literal only a value of the literal’s type', () => {
    const compared = guards('resource.facts has r && resource.facts.r != "" && resource.facts.n == 3');
    const request = (resourceFacts: Record<string, unknown>) => ({ resource: { facts: resourceFacts }, context: {} });
    expect(passesGuards(compared, request({ r: 'eu-west-1', n: 3 }))).toBe(true);
    expect(passesGuards(compared, request({ r: '', n: 3 }))).toBe(false);
    expect(passesGuards(compared, request({ r: 'eu-west-1', n: 4 }))).toBe(false);
    // Of another type (the schema says otherwise), or not there: Cedar is asked.
    expect(passesGuards(compared, request({ r: 'eu-west-1', n: '3' }))).toBe(true);
    expect(passesGuards(compared, request({ r: 'eu-west-1' }))).toBe(true);
  });
});

/** Policies that exercise every way the index narrows, with conditions that hold, fail and error. */
const GENERATED: Record<string, string> = {
  // Strict validation rules out most errors; arithmetic overflow it cannot (the quota facts make it happen).
  'gen.pods-overflow': 'forbid (principal, action, resource) when { resource.kind == "Pod" && context has quota && context.quota.requested.cpuMillis * 9223372036854775807 > 0 };',
  'gen.error-first': 'forbid (principal, action, resource) when { context has quota && context.quota.requested.cpuMillis * 9223372036854775807 > 0 && resource.kind == "Pod" };',
  'gen.pods-tag': 'forbid (principal, action, resource) when { resource.kind == "Pod" && resource.hasTag("app") };',
  'gen.apps-group': 'forbid (principal, action in k8s::Action::"write", resource) when { resource.apiGroup == "apps" && resource.name != "" };',
  'gen.configmap-delete': 'forbid (principal, action == k8s::Action::"delete", resource is k8s::Resource) when { ["ConfigMap", "Secret"].contains(resource.kind) && resource.name like "*-0*" };',
  'gen.workload-images': 'forbid (principal, action, resource) when { resource is k8s::Workload && resource.kind == "Deployment" && !resource.images.isEmpty() };',
  'gen.namespace-tag': 'forbid (principal, action == k8s::Action::"create", resource is k8s::Namespace) when { resource.hasTag("kubernetes.io/metadata.name") && resource.getTag("kubernetes.io/metadata.name") == "team-a" };',
  'gen.connect': 'forbid (principal, action == k8s::Action::"connect", resource) when { resource.kind == "PodExecOptions" };',
  'gen.unrelated-kind': 'forbid (principal, action, resource) when { resource.kind == "VirtualService" };',
  'gen.principal': 'forbid (principal in k8s::Group::"system:masters", action == k8s::Action::"create", resource) when { resource.kind == "Role" };',
  // Policies that read the entities a request's entities are sliced to: the principal, the cluster, the
  // namespace, the workspace chain (through `in`).
  'gen.principal-name': 'forbid (principal is k8s::User, action, resource) when { resource.kind == "ConfigMap" && principal.name like "*admin*" };',
  'gen.cluster-region': 'forbid (principal, action, resource) when { resource.kind == "Deployment" && context.cluster.region == "eu-central-1" };',
  'gen.namespace-label': 'forbid (principal, action, resource is k8s::Workload) when { context has namespace && context.namespace.hasTag("team") };',
  'gen.in-workspace': 'forbid (principal, action, resource) when { resource.kind == "Service" && resource in k8s::Workspace::"root" };',
};

/** The whole set in one preparsed Cedar set: what every request was evaluated against before the index. */
/** Whole sets preparsed in this thread, by id: the same revision's texts are preparsed once, not per request. */
const wholeSets = new Set<string>();

function evaluateWhole(set: CompiledPolicySet, request: CedarRequest, kind: 'validating' | 'mutations'): Evaluation {
  const id = `whole-${set.revision}-${kind}`;
  const texts = kind === 'validating' ? { ...set.texts, [IMPLICIT_ALLOW_ID]: 'permit (principal, action, resource);' } : set.mutationTexts;
  if (Object.keys(texts).length === 0) return { ok: true, satisfied: [], errors: [] };
  if (!wholeSets.has(id)) {
    const prepared = cedar.preparsePolicySet(id, { staticPolicies: texts });
    if (prepared.type === 'failure') throw new Error('cannot preparse the whole set');
    wholeSets.add(id);
  }
  const answer = cedar.statefulIsAuthorized({ ...request, preparsedPolicySetId: id, preparsedSchemaName: set.cedarSchemaName, validateRequest: true });
  if (answer.type === 'failure') return { ok: false, message: answer.errors.map((e) => e.message).join('; ') };
  return {
    ok: true,
    satisfied: answer.response.diagnostics.reason.filter((reason) => reason !== IMPLICIT_ALLOW_ID),
    errors: answer.response.diagnostics.errors.map((e) => ({ policyId: e.policyId, message: e.error.message })),
  };
}

const sorted = (evaluation: Evaluation) =>
  evaluation.ok ? { ...evaluation, satisfied: [...evaluation.satisfied].sort(), errors: [...evaluation.errors].sort((a, b) => (a.policyId < b.policyId ? -1 : 1)) } : evaluation;

describe('evaluating only the policies in scope', () => {
  it('gives the same answers as the whole set, for every real request, with and without facts', async () => {
    const starter = await loadPolicyDirectory(STARTER_POLICIES);
    const files: Record<string, string> = { 'generated.cedar': Object.entries(GENERATED).map(([id, text]) => `@id("${id}")\n@advice("${id}")\n${text}\n`).join('\n') };
    const withGenerated = await loadPolicyDirectory(policyDir(files));
    let compared = 0;
    let decided = 0;
    for (const checked of [starter, withGenerated]) {
      const set = preparePolicySet(checked);
      for (const name of fixtureNames()) {
        const request = parseAdmissionReview(fixture(name));
        for (const facts of [{}, WARM_UP_FACTS]) {
          const cedarRequest = toCedarRequest(request, facts);
          for (const kind of ['validating', 'mutations'] as const) {
            const scoped = set.engine.evaluate(cedarRequest, kind);
            expect(sorted(scoped), `${name} ${kind}`).toEqual(sorted(evaluateWhole(set, cedarRequest, kind)));
            compared += 1;
            if (scoped.ok && (scoped.satisfied.length > 0 || scoped.errors.length > 0)) decided += 1;
          }
        }
      }
    }
    expect(compared).toBe(88 * 2 * 2 * 2);
    // The comparison means something only if policies matched and errored along the way.
    expect(decided).toBeGreaterThan(100);
  });

  it('gives the same answers as the whole set checked against the schema, for the shipped set with its declared facts', async () => {
    const pipeline = new AdmissionPipeline({ decisionCacheSize: 0 });
    const set = await pipeline.activate(await loadPolicyDirectory(STARTER_POLICIES));
    let withFacts = 0;
    let denied = 0;
    // Twice over, so that most requests are evaluated past the first ones checked against the schema.
    for (let round = 0; round < 2 + SCHEMA_CHECKED_FIRST / 8; round++) {
      for (const name of fixtureNames()) {
        const { cedarRequest } = pipeline.cedarRequestFor(fixture(name), WARM_UP_FACTS);
        if (round === 0 && cedarRequest.entities.some((entity) => 'facts' in entity.attrs)) withFacts += 1;
        for (const kind of ['validating', 'mutations'] as const) {
          const scoped = set.engine.evaluate(cedarRequest, kind);
          expect(sorted(scoped), `${name} ${kind}`).toEqual(sorted(evaluateWhole(set, cedarRequest, kind)));
          if (round === 0 && kind === 'validating' && scoped.ok && scoped.satisfied.length > 0) denied += 1;
        }
      }
    }
    // The Pod Security facts were there, and policies matched.
    expect(withFacts).toBeGreaterThan(20);
    expect(denied).toBeGreaterThan(20);
  });
});

describe('conditions read through the old version of an object', () => {
  /** The real Deployment UPDATE (fixture 56), its containers with or without a readiness probe, before and after. */
  const update = (probedBefore: boolean, probedAfter: boolean) => {
    const review = structuredClone(fixture(56));
    const probe = { httpGet: { path: '/healthz', port: 8080 } };
    const containersOf = (object: unknown) => (object as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } }).spec.template.spec.containers;
    for (const [object, probed] of [[review.request.object, probedAfter], [review.request.oldObject, probedBefore]] as const) {
      for (const container of containersOf(object)) if (probed) container['readinessProbe'] = probe;
    }
    return review;
  };

  it('decides a rule that spares what the old object already broke (resource.old) without Cedar, as the whole set does', async () => {
    const pipeline = new AdmissionPipeline({ decisionCacheSize: 0 });
    const set = await pipeline.activate(await loadPolicyDirectory(STARTER_POLICIES));
    for (const [before, after, warned] of [[false, false, false], [true, false, true], [false, true, false], [true, true, false]] as const) {
      const { cedarRequest } = pipeline.cedarRequestFor(update(before, after), WARM_UP_FACTS);
      const whole = evaluateWhole(set, cedarRequest, 'validating');
      const plan = set.engine.plan(cedarRequest, 'validating');
      // Every policy in scope is decided here (the plan carries its answer): Cedar is not asked.
      // The rules that read the old version are decided here: what is left for Cedar (the quota and
      // sovereignty policies, on the namespace's entities) does not need it, so it is not handed over.
      const handed = 'evaluation' in plan ? [] : plan.request.entities.map((entity) => JSON.stringify(entity.uid));
      expect(handed.filter((uid) => uid.includes('#old')), `probes before ${before}, after ${after}`).toEqual([]);
      expect(sorted(set.engine.evaluate(cedarRequest, 'validating'))).toEqual(sorted(whole));
      expect(whole.ok && whole.satisfied.includes('best-practices.require-probes')).toBe(warned);
    }
  });
});

describe('conditions on labels (Cedar tags)', () => {
  const LABEL_POLICIES = [
    '@id("labels.team")\n@advice("team")\nforbid (principal, action == k8s::Action::"create", resource is k8s::Workload) when { resource.hasTag("team") && resource.getTag("team") == "payments" };',
    // `like` is Cedar's to evaluate: only an object without the label is decided here.
    '@id("labels.tier")\n@advice("tier")\nforbid (principal, action == k8s::Action::"create", resource is k8s::Workload) when { resource.hasTag("tier") && resource.getTag("tier") like "front*" };',
  ].join('\n');
  const labelled = (labels: Record<string, string> | undefined) => {
    const review = structuredClone(fixture(11));
    const metadata = (review.request.object?.['metadata'] ?? {}) as Record<string, unknown>;
    if (labels) metadata['labels'] = labels;
    else delete metadata['labels'];
    return review;
  };

  it('decides hasTag and getTag without Cedar where certain, leaves what it cannot read to Cedar, and answers as the whole set', async () => {
    const pipeline = new AdmissionPipeline({ decisionCacheSize: 0 });
    const set = await pipeline.activate(await loadPolicyDirectory(policyDir({ 'labels.cedar': LABEL_POLICIES })));
    const cases: { labels: Record<string, string> | undefined; satisfied: string[]; cedar: boolean }[] = [
      { labels: { team: 'payments', tier: 'frontend' }, satisfied: ['labels.team', 'labels.tier'], cedar: true },
      { labels: { team: 'search' }, satisfied: [], cedar: false },
      { labels: { team: 'payments' }, satisfied: ['labels.team'], cedar: false },
      { labels: { tier: 'backend' }, satisfied: [], cedar: true },
      { labels: undefined, satisfied: [], cedar: false },
    ];
    for (const { labels, satisfied, cedar: asksCedar } of cases) {
      const { cedarRequest } = pipeline.cedarRequestFor(labelled(labels), {});
      const whole = evaluateWhole(set, cedarRequest, 'validating');
      expect(sorted(set.engine.evaluate(cedarRequest, 'validating')), JSON.stringify(labels)).toEqual(sorted(whole));
      expect(whole.ok && [...whole.satisfied].sort()).toEqual(satisfied);
      expect('evaluation' in set.engine.plan(cedarRequest, 'validating'), JSON.stringify(labels)).toBe(!asksCedar);
    }
  });
});

/** 2 × 64 Pods, each breaking its own combination of seven controls. */
const breaking = (n: number) => {
  const review = fixture(11);
  const object = structuredClone(review.request.object) as { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } };
  const bit = (b: number) => (n >> b) % 2 === 1;
  if (bit(2)) object.spec['hostNetwork'] = true;
  for (const container of object.spec.containers) {
    container['securityContext'] = {
      privileged: bit(0),
      ...(bit(3) ? { allowPrivilegeEscalation: false } : {}),
      ...(bit(4) ? { runAsNonRoot: true } : {}),
      ...(bit(5) ? { runAsUser: 0 } : {}),
      ...(bit(6) ? { procMount: 'Unmasked' } : {}),
    };
    if (bit(1)) container['ports'] = [{ containerPort: 80, hostPort: 8080 }];
  }
  return { ...review, request: { ...review.request, object } };
};

describe('policies left out by their guards', () => {
  it('decides a Pod’s controls without Cedar where their conditions are certain, as the whole set does', async () => {
    const pipeline = new AdmissionPipeline({ decisionCacheSize: 0 });
    const set = await pipeline.activate(await loadPolicyDirectory(STARTER_POLICIES));
    const before = set.engine.preparsedSets;
    for (let n = 0; n < 2 * MAX_SUBSETS_PER_GROUP; n++) {
      const { cedarRequest } = pipeline.cedarRequestFor(breaking(n), WARM_UP_FACTS);
      expect(sorted(set.engine.evaluate(cedarRequest, 'validating')), `${n}`).toEqual(sorted(evaluateWhole(set, cedarRequest, 'validating')));
    }
    // The controls' conditions (facts, the subresource, the namespace's exceptions) are all certain here.
    expect(set.engine.preparsedSets - before).toBeLessThanOrEqual(1);
  });

  it('evaluates a Pod against the controls it breaks only, answers as the whole set does, and bounds the sets it prepares', async () => {
    const pipeline = new AdmissionPipeline({ decisionCacheSize: 0 });
    // Each control with a test conditions.ts cannot read (`in`) after its guards: Cedar decides them.
    const dir = undecidedPolicies();
    const set = await pipeline.activate(await loadPolicyDirectory(dir));
    const pod = breaking;
    const before = set.engine.preparsedSets;
    let denied = 0;
    for (let n = 0; n < 2 * MAX_SUBSETS_PER_GROUP; n++) {
      const { cedarRequest } = pipeline.cedarRequestFor(pod(n), WARM_UP_FACTS);
      const scoped = set.engine.evaluate(cedarRequest, 'validating');
      expect(sorted(scoped), `${n}`).toEqual(sorted(evaluateWhole(set, cedarRequest, 'validating')));
      if (scoped.ok && scoped.satisfied.includes('pod-security.baseline.privileged')) denied += 1;
    }
    expect(denied).toBe(MAX_SUBSETS_PER_GROUP);
    // Each combination its own smaller set, up to the bound; the rest use the whole group's set.
    const prepared = set.engine.preparsedSets - before;
    expect(prepared).toBeGreaterThan(MAX_SUBSETS_PER_GROUP / 2);
    expect(prepared).toBeLessThanOrEqual(MAX_SUBSETS_PER_GROUP + 1);
  });
});

describe('requests checked against the schema', () => {
  it('checks the first requests of each group and one in SCHEMA_CHECK_EVERY after, and refuses one the schema does not accept', async () => {
    const set = preparePolicySet(await loadPolicyDirectory(STARTER_POLICIES));
    const good = toCedarRequest(parseAdmissionReview(fixture(11)), WARM_UP_FACTS);
    // What a translation bug would build: an attribute the schema does not declare, named as one a policy reads.
    const bad = (): CedarRequest => ({
      ...good,
      entities: good.entities.map((entity) => ('type' in entity.uid && entity.uid.type === 'k8s::Workload' ? { ...entity, attrs: { ...entity.attrs, latestImages: 'nginx:latest' } } : entity)),
    });
    const outcomes: boolean[] = [];
    for (let n = 0; n < SCHEMA_CHECKED_FIRST + SCHEMA_CHECK_EVERY + 1; n++) outcomes.push(set.engine.evaluate(bad(), 'validating').ok);
    const refused = outcomes.flatMap((ok, n) => (ok ? [] : [n]));
    // The first ones, and the 64th after them; the others are evaluated without the schema...
    expect(refused).toEqual([...Array.from({ length: SCHEMA_CHECKED_FIRST }, (_, n) => n), SCHEMA_CHECK_EVERY, 2 * SCHEMA_CHECK_EVERY].filter((n) => n < outcomes.length));
    const failure = set.engine.evaluate(bad(), 'validating');
    expect(failure).toMatchObject({ ok: true });
    // ...where the value of the wrong type makes the policy that reads it fail, which denies (decide.ts).
    expect(failure.ok && failure.errors.map((e) => e.policyId)).toContain('supply-chain.no-latest');
    expect(outcomes.length).toBeGreaterThan(SCHEMA_CHECK_EVERY);
    const checked = preparePolicySet(await loadPolicyDirectory(STARTER_POLICIES));
    expect(checked.engine.evaluate(bad(), 'validating')).toMatchObject({ ok: false, message: expect.stringContaining('does not match the policy schema') });
    expect(checked.engine.evaluate(good, 'validating')).toMatchObject({ ok: true });
  });

  it('makes one small Cedar set per group of requests that the same policies apply to, and none for requests no policy applies to', async () => {
    const few = ['gen.pods-overflow', 'gen.error-first', 'gen.pods-tag', 'gen.unrelated-kind'];
    const files: Record<string, string> = { 'generated.cedar': few.map((id) => `@id("${id}")\n@advice("${id}")\n${GENERATED[id]}\n`).join('\n') };
    const set = preparePolicySet(await loadPolicyDirectory(policyDir(files)));
    const evaluateFixture = (n: number) => set.engine.evaluate(toCedarRequest(parseAdmissionReview(fixture(n)), WARM_UP_FACTS), 'validating');
    // Pod CREATE: pods-overflow, error-first and pods-tag.
    expect(sorted(evaluateFixture(11))).toMatchObject({ ok: true, satisfied: ['gen.pods-tag'], errors: [{ policyId: 'gen.error-first' }, { policyId: 'gen.pods-overflow' }] });
    expect(set.engine.preparsedSets).toBe(1);
    expect(evaluateFixture(12)).toMatchObject({ ok: true }); // another Pod CREATE: the same set
    expect(set.engine.preparsedSets).toBe(1);
    // A Service CREATE: only error-first applies (it errors before it reads the kind).
    const service = evaluateFixture(29);
    expect(set.engine.preparsedSets).toBe(2);
    expect(service).toEqual({ ok: true, satisfied: [], errors: [expect.objectContaining({ policyId: 'gen.error-first' })] });
    // A Pod DELETE: the same three policies as a Pod CREATE (none names an action), so the same set.
    evaluateFixture(15);
    expect(set.engine.preparsedSets).toBe(2);

    // In the starter set no policy applies to deleting a ConfigMap: Cedar is not asked at all.
    const starter = preparePolicySet(await loadPolicyDirectory(STARTER_POLICIES));
    expect(starter.engine.evaluate(toCedarRequest(parseAdmissionReview(fixture(59))), 'validating')).toEqual({ ok: true, satisfied: [], errors: [] });
    expect(starter.engine.preparsedSets).toBe(0);
  });
});
