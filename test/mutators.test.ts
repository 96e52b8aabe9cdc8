// Mutation policies through the real pipeline: each built-in mutator on a Pod, a Deployment and a
// CronJob; JSON Patch templates with escaping and missing parents; order, conflicts, failures.
import { describe, expect, it } from 'vitest';
import { PolicyLoadError } from '../src/policy/engine/index.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { fixture, podSpecOf, type AdmissionReviewFixture } from './helpers/fixtures.js';
import { pipelineFor, type TestPipeline } from './helpers/pipeline.js';
import { policyDir } from './helpers/policy-dir.js';
import { decodePatch, patched, type MutationResponse } from './helpers/patch.js';

type Json = Record<string, unknown>;

const mutation = (id: string, annotations: string, head = 'resource is k8s::Workload', condition = '') =>
  `@id("${id}")\n${annotations}\npermit (principal, action, ${head})${condition};\n`;

async function withMutations(files: Record<string, string>, data: Record<string, string> = {}): Promise<TestPipeline> {
  const prefixed = Object.fromEntries(Object.entries(files).map(([name, text]) => [`mutations/${name}`, text]));
  const dataFiles = Object.fromEntries(Object.entries(data).map(([name, text]) => [`data/${name}`, text]));
  return pipelineFor(policyDir({ ...prefixed, ...dataFiles }));
}

/** Mutates, checks the answer applies, and checks a second pass on the result changes nothing. */
function mutateOnce(t: TestPipeline, review: AdmissionReviewFixture): { object: Json; response: MutationResponse } {
  const { response } = t.pipeline.mutate(review).review;
  expect(response.allowed, response.status?.message).toBe(true);
  const object = patched(review.request.object as Json, response);
  const again = t.pipeline.mutate({ ...review, request: { ...review.request, object } }).review.response;
  expect(again.patch, 'a second pass yields no patch').toBeUndefined();
  return { object, response };
}

function denied(t: TestPipeline, review: AdmissionReviewFixture): string {
  const { response } = t.pipeline.mutate(review).review;
  expect(response.allowed).toBe(false);
  expect(response.patch).toBeUndefined();
  expect(response.status?.code).toBe(403);
  return response.status?.message ?? '';
}

const WORKLOADS: [string, number][] = [
  ['Pod', 12],
  ['Deployment', 22],
  ['CronJob', 72],
];
const podMetadata = (object: Json, kind: string): Json => {
  if (kind === 'Pod') return object['metadata'] as Json;
  const spec = object['spec'] as Json;
  const template = (kind === 'CronJob' ? ((spec['jobTemplate'] as Json)['spec'] as Json)['template'] : spec['template']) as Json;
  return template['metadata'] as Json;
};
const containers = (object: Json, list = 'containers') => podSpecOf(object)[list] as Json[];

describe.each(WORKLOADS)('built-in mutators on a %s', (kind, number) => {
  it('set-metadata adds labels and annotations to the object, escaping "/" in keys', async () => {
    const t = await withMutations({
      'labels.cedar': mutation('labels', `@mutator("set-metadata")\n@params("{labels: {canopy.io/region: eu-west-1}, annotations: {canopy.io/owner: '{{ request.userInfo.username }}'}}")`),
    });
    const { object, response } = mutateOnce(t, fixture(number));
    expect(decodePatch(response)).toContainEqual({ op: 'add', path: '/metadata/labels/canopy.io~1region', value: 'eu-west-1' });
    const metadata = object['metadata'] as Json;
    expect(metadata['labels']).toMatchObject({ 'canopy.io/region': 'eu-west-1' });
    expect(metadata['annotations']).toMatchObject({ 'canopy.io/owner': 'kubernetes-admin' });
  });

  it('set-metadata with target pods labels the pods the object makes', async () => {
    const t = await withMutations({ 'pods.cedar': mutation('pods', '@mutator("set-metadata")\n@params("{labels: {cost-center: c42}, target: pods}")') });
    const { object } = mutateOnce(t, fixture(number));
    expect(podMetadata(object, kind)['labels']).toMatchObject({ 'cost-center': 'c42' });
    if (kind !== 'Pod') expect((object['metadata'] as Json)['labels'] ?? {}).not.toHaveProperty('cost-center');
  });

  it('set-metadata without overwrite keeps a label that is there, with overwrite replaces it', async () => {
    const review = fixture(number);
    (review.request.object?.['metadata'] as Json)['labels'] = { app: 'mine' };
    const keep = await withMutations({ 'keep.cedar': mutation('keep', '@mutator("set-metadata")\n@params("{labels: {app: other}, overwrite: false}")') });
    expect(keep.pipeline.mutate(review).review.response.patch).toBeUndefined();
    const replace = await withMutations({ 'replace.cedar': mutation('replace', '@mutator("set-metadata")\n@params("{labels: {app: other}}")') });
    const { object, response } = mutateOnce(replace, review);
    expect(decodePatch(response)).toEqual([{ op: 'replace', path: '/metadata/labels/app', value: 'other' }]);
    expect((object['metadata'] as Json)['labels']).toMatchObject({ app: 'other' });
  });

  it('default-resources fills only what containers lack, init containers included, from policy data', async () => {
    const t = await withMutations(
      { 'defaults.cedar': mutation('defaults', '@mutator("default-resources")\n@params("{{ data.defaults.resources }}")') },
      { 'defaults.yaml': 'resources:\n  requests: {cpu: 50m, memory: 64Mi}\n  limits: {memory: 1Gi}\n' },
    );
    const review = fixture(number);
    const spec = podSpecOf(review.request.object as Json);
    spec['initContainers'] = [{ name: 'init', image: 'busybox', resources: { limits: { cpu: '20m' } } }];
    const { object } = mutateOnce(t, review);
    // A CPU limit but no request: Kubernetes uses the limit as the request, so none is added.
    expect(containers(object, 'initContainers')[0]?.['resources']).toEqual({ limits: { cpu: '20m', memory: '1Gi' }, requests: { memory: '64Mi' } });
    for (const container of containers(object)) {
      const resources = container['resources'] as { requests: Json; limits: Json };
      expect(resources.requests['cpu']).toBeDefined();
      expect(resources.limits['memory']).toBeDefined();
    }
  });

  it('default-resources never adds a limit below an existing request', async () => {
    const t = await withMutations({ 'defaults.cedar': mutation('defaults', '@mutator("default-resources")\n@params("{limits: {memory: 1Mi}}")') });
    const review = fixture(number);
    containers(review.request.object as Json).forEach((c) => (c['resources'] = { requests: { memory: '64Mi' } }));
    expect(t.pipeline.mutate(review).review.response).toEqual({ uid: review.request.uid, allowed: true });
  });

  it('node-affinity adds a required term where there is none, creating the missing parents', async () => {
    const t = await withMutations({
      'eu.cedar': mutation('eu-only', '@mutator("node-affinity")\n@params("{key: topology.kubernetes.io/region, operator: In, values: [eu-west-1, eu-central-1]}")'),
    });
    const { object } = mutateOnce(t, fixture(number));
    expect(podSpecOf(object)['affinity']).toEqual({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/region', operator: 'In', values: ['eu-west-1', 'eu-central-1'] }] }],
        },
      },
    });
  });

  it('node-affinity adds its expression to every existing term, so no term escapes it', async () => {
    const t = await withMutations({ 'eu.cedar': mutation('eu-only', '@mutator("node-affinity")\n@params("{key: region, operator: In, values: [eu]}")') });
    const review = fixture(number);
    const gpu = { key: 'gpu', operator: 'Exists' };
    podSpecOf(review.request.object as Json)['affinity'] = {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [gpu] }, { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }] } },
    };
    const { object } = mutateOnce(t, review);
    const terms = ((podSpecOf(object)['affinity'] as Json)['nodeAffinity'] as Json)['requiredDuringSchedulingIgnoredDuringExecution'] as { nodeSelectorTerms: Json[] };
    const eu = { key: 'region', operator: 'In', values: ['eu'] };
    expect(terms.nodeSelectorTerms[0]?.['matchExpressions']).toEqual([gpu, eu]);
    expect(terms.nodeSelectorTerms[1]?.['matchExpressions']).toEqual([eu]);
  });

  it('two node-affinity mutations add up in the same term', async () => {
    const t = await withMutations({
      'eu.cedar': mutation('eu-only', '@mutator("node-affinity")\n@params("{key: region, operator: In, values: [eu]}")'),
      'ssd.cedar': mutation('ssd-only', '@mutator("node-affinity")\n@params("{key: disk, operator: In, values: [ssd]}")'),
    });
    const { object } = mutateOnce(t, fixture(number));
    const required = ((podSpecOf(object)['affinity'] as Json)['nodeAffinity'] as Json)['requiredDuringSchedulingIgnoredDuringExecution'];
    expect(required).toEqual({
      nodeSelectorTerms: [{ matchExpressions: [{ key: 'region', operator: 'In', values: ['eu'] }, { key: 'disk', operator: 'In', values: ['ssd'] }] }],
    });
  });

  it('replace-image pins an image in containers and init containers', async () => {
    const review = fixture(number);
    const image = containers(review.request.object as Json)[0]?.['image'] as string;
    podSpecOf(review.request.object as Json)['initContainers'] = [{ name: 'init', image }];
    const pinned = `${image.split(':')[0]}@sha256:${'a'.repeat(64)}`;
    const t = await withMutations({ 'pin.cedar': mutation('pin', `@mutator("replace-image")\n@params("{images: {'${image}': '${pinned}'}}")`) });
    const { object } = mutateOnce(t, review);
    expect(containers(object)[0]?.['image']).toBe(pinned);
    expect(containers(object, 'initContainers')[0]?.['image']).toBe(pinned);
  });
});

describe('JSON Patch templates', () => {
  it('writes values from the request and policy data, escaping "~" and "/" and creating missing maps', async () => {
    const t = await withMutations(
      {
        'crd.cedar': mutation(
          'crd-settings',
          "@patch(\"[{op: add, path: /spec/settings/a~0b~1c, value: '{{ data.settings.mode }}'}, {op: add, path: /metadata/annotations/example.com~1namespace, value: '{{ request.namespace }}'}]\")",
          'resource is k8s::Resource',
          ' when { resource.kind == "Widget" }',
        ),
      },
      { 'settings.json': '{"mode": {"level": 3}}' },
    );
    const review = fixture(28);
    review.request['kind'] = { group: 'example.com', version: 'v1', kind: 'Widget' };
    review.request['resource'] = { group: 'example.com', version: 'v1', resource: 'widgets' };
    review.request.object = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'team-a' } };
    const { object, response } = mutateOnce(t, review);
    expect(decodePatch(response)).toEqual([
      { op: 'add', path: '/spec', value: {} },
      { op: 'add', path: '/spec/settings', value: {} },
      { op: 'add', path: '/spec/settings/a~0b~1c', value: { level: 3 } },
      { op: 'add', path: '/metadata/annotations', value: {} },
      { op: 'add', path: '/metadata/annotations/example.com~1namespace', value: 'team-a' },
    ]);
    expect(object['spec']).toEqual({ settings: { 'a~b/c': { level: 3 } } });
  });

  it('reads the facts Cedar sees about the object', async () => {
    const t = await withMutations({
      'facts.cedar': mutation('facts', "@patch(\"[{op: add, path: /metadata/annotations/canopy.io~1images, value: '{{ resource.kind }}: {{ resource.images[0] }}'}]\")"),
    });
    const { object } = mutateOnce(t, fixture(22));
    expect((object['metadata'] as Json)['annotations']).toMatchObject({ 'canopy.io/images': 'Deployment: registry.example.com/team-a/api:1.4.2' });
  });

  it('appends to a list only when the value is not there yet', async () => {
    const t = await withMutations({
      'toleration.cedar': mutation('toleration', "@patch(\"[{op: add, path: /spec/tolerations/-, value: {key: dedicated, operator: Equal, value: batch, effect: NoSchedule}}]\")", 'resource is k8s::Workload', ' when { resource.kind == "Pod" }'),
    });
    const { object } = mutateOnce(t, fixture(12));
    const tolerations = podSpecOf(object)['tolerations'] as Json[];
    expect(tolerations.filter((item) => item['key'] === 'dedicated')).toHaveLength(1);
  });

  it('runs mutations in @order, then by id, each seeing the changes before it', async () => {
    const t = await withMutations({
      'b.cedar': mutation('b-copy', "@order(\"2\")\n@mutator(\"set-metadata\")\n@params(\"{annotations: {copied: '{{ object.metadata.labels.stage }}'}}\")"),
      'a.cedar': mutation('z-stage', '@order("1")\n@mutator("set-metadata")\n@params("{labels: {stage: beta}}")'),
    });
    const { object } = mutateOnce(t, fixture(12));
    expect((object['metadata'] as Json)['annotations']).toMatchObject({ copied: 'beta' });
    expect(t.pipeline.mutate(fixture(12)).decision.applied).toEqual(['z-stage', 'b-copy']);
  });

  it('applies a mutation only when its Cedar condition holds', async () => {
    const t = await withMutations({ 'c.cedar': mutation('only-cronjobs', '@mutator("set-metadata")\n@params("{labels: {batch: yes}}")', 'resource is k8s::Workload', ' when { resource.kind == "CronJob" }') });
    expect(t.pipeline.mutate(fixture(12)).review.response.patch).toBeUndefined();
    expect(t.pipeline.mutate(fixture(72)).review.response.patch).toBeDefined();
  });
});

describe('what a mutation never does', () => {
  const labels = mutation('labels', '@mutator("set-metadata")\n@params("{labels: {a: b}}")', 'resource');

  it.each([
    ['a DELETE', 16],
    ['a CONNECT', 50],
    ['a status subresource update', 78],
    ['a scale subresource update', 24],
  ])('patches %s', async (_what, number) => {
    const t = await withMutations({ 'labels.cedar': labels });
    const review = fixture(number);
    expect(t.pipeline.mutate(review).review.response).toEqual({ uid: review.request.uid, allowed: true });
  });

  it('changes the resources or affinity of a running Pod on UPDATE', async () => {
    const t = await withMutations({
      'r.cedar': mutation('defaults', '@mutator("default-resources")\n@params("{limits: {cpu: 2}}")'),
      'n.cedar': mutation('eu', '@mutator("node-affinity")\n@params("{key: region, operator: In, values: [eu]}")'),
    });
    const review = fixture(14);
    expect(t.pipeline.mutate(review).review.response).toEqual({ uid: review.request.uid, allowed: true });
  });
});

describe('conflicts and failures', () => {
  it('refuses at load time two mutations that write the same label with different values, naming both', async () => {
    const dir = policyDir({
      'mutations/a.cedar': mutation('region-a', '@mutator("set-metadata")\n@params("{labels: {region: eu}}")'),
      'mutations/b.cedar': mutation('region-b', '@mutator("set-metadata")\n@params("{labels: {region: us}}")'),
    });
    const error = await loadPolicyDirectory(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as Error).message).toContain(
      `${dir}/mutations/b.cedar:1:1: mutations "region-a" (${dir}/mutations/a.cedar:1) and "region-b" both write set-metadata object:labels:region with different values ("eu" and "us")`,
    );
  });

  it('denies, naming both, when two templated mutations write the same path with different values', async () => {
    const t = await withMutations({
      'a.cedar': mutation('owner-from-user', "@mutator(\"set-metadata\")\n@params(\"{labels: {owner: '{{ request.userInfo.username }}'}}\")"),
      'b.cedar': mutation('owner-from-namespace', "@mutator(\"set-metadata\")\n@params(\"{labels: {owner: '{{ request.namespace }}'}}\")"),
    });
    expect(denied(t, fixture(12))).toBe(
      'Canopy could not mutate this request: mutations [owner-from-namespace] and [owner-from-user] both write /metadata/labels/owner with different values',
    );
  });

  it('denies, naming both, when a later mutation changes what an earlier one wrote', async () => {
    const t = await withMutations({
      'a.cedar': mutation('a-settings', '@patch("[{op: add, path: /metadata/annotations/settings, value: one}]")'),
      'b.cedar': mutation('b-settings', '@patch("[{op: replace, path: /metadata/annotations, value: {settings: two}}]")'),
    });
    expect(denied(t, fixture(12))).toBe(
      'Canopy could not mutate this request: mutations [a-settings] and [b-settings] both write /metadata/annotations/settings with different values',
    );
  });

  it('denies, naming the mutation, when its patch cannot apply', async () => {
    const t = await withMutations({ 'bad.cedar': mutation('through-a-string', '@patch("[{op: add, path: /metadata/name/x, value: y}]")') });
    expect(denied(t, fixture(12))).toBe(
      'Canopy could not mutate this request: mutation [through-a-string] cannot apply: cannot write /metadata/name/x: /metadata/name is a string, not a map',
    );
  });

  it('denies, naming the mutation, when the result would be an invalid object', async () => {
    const t = await withMutations({ 'bad.cedar': mutation('groups-as-label', "@mutator(\"set-metadata\")\n@params(\"{labels: {groups: '{{ request.userInfo.groups }}'}}\")") });
    expect(denied(t, fixture(12))).toContain('mutation [groups-as-label] cannot be prepared: labels["groups"] must be a string');
    const renames = await withMutations({ 'rename.cedar': mutation('rename', '@patch("[{op: replace, path: /metadata/name, value: other}]")') });
    expect(denied(renames, fixture(12))).toContain('mutations [rename] produce an invalid object: metadata.name changed');
  });

  it('denies when a template names a value the request does not have', async () => {
    const t = await withMutations({ 'missing.cedar': mutation('needs-region', "@mutator(\"set-metadata\")\n@params(\"{labels: {region: '{{ namespace.labels.region }}'}}\")") });
    expect(denied(t, fixture(12))).toContain('mutation [needs-region] cannot be prepared: "{{ namespace.labels.region }}" has no value: namespace.labels has no "region"');
  });

  it('fails closed when a mutation condition errors, unless it says @onError("skip")', async () => {
    const overflow = ' when { resource.containers.contains("nginx") && 4611686018427387904 * 4 > 0 }';
    const t = await withMutations({ 'e.cedar': mutation('errors', '@mutator("set-metadata")\n@params("{labels: {a: b}}")', 'resource is k8s::Workload', overflow) });
    expect(denied(t, fixture(12))).toMatch(/mutation \[errors\] could not be evaluated \(integer overflow.*\), so Canopy fails closed/);
    const skip = await withMutations({ 'e.cedar': mutation('errors', '@onError("skip")\n@mutator("set-metadata")\n@params("{labels: {a: b}}")', 'resource is k8s::Workload', overflow) });
    expect(skip.pipeline.mutate(fixture(12)).review.response.allowed).toBe(true);
    expect(skip.logLines.find((l) => l['msg'] === 'mutation')?.['skipped']).toEqual([{ mutation: 'errors', error: expect.stringContaining('overflow') }]);
  });

  it('refuses malformed mutation annotations at load time with their location', async () => {
    const dir = policyDir({
      'mutations/m.cedar': [
        mutation('no-change', ''),
        mutation('both', '@patch("[{op: add, path: /a, value: 1}]")\n@mutator("set-metadata")'),
        mutation('bad-op', '@patch("[{op: move, from: /a, path: /b}]")'),
        mutation('bad-path', '@patch("[{op: add, path: metadata/labels, value: 1}]")'),
        mutation('unknown', '@mutator("make-coffee")'),
        mutation('bad-params', '@mutator("default-resources")\n@params("{requests: {cpu: lots}}")'),
        mutation('bad-template', "@mutator(\"set-metadata\")\n@params(\"{labels: {a: '{{ secrets.x }}'}}\")"),
        '@id("a-forbid")\n@mutator("set-metadata")\n@params("{labels: {a: b}}")\nforbid (principal, action, resource);\n',
      ].join('\n'),
    });
    const message = await loadPolicyDirectory(dir).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(message).toMatch(/m\.cedar:1:1: mutation "no-change": a mutation needs exactly one of @patch/);
    expect(message).toMatch(/m\.cedar:\d+:1: mutation "both": a mutation needs exactly one of @patch/);
    expect(message).toContain('mutation "bad-op": @patch operation 1: op must be add, replace or remove');
    expect(message).toContain('mutation "bad-path": @patch operation 1: path must be a JSON Pointer');
    expect(message).toContain('mutation "unknown": unknown @mutator("make-coffee"): the built-in mutators are set-metadata, default-resources, node-affinity, replace-image');
    expect(message).toContain('mutation "bad-params": requests.cpu must be a Kubernetes quantity such as 100m or 128Mi, got "lots"');
    expect(message).toContain('mutation "bad-template": template: "{{ secrets.x }}" starts with "secrets"');
    expect(message).toContain('mutation "a-forbid": mutation policies are permits');
  });
});
