// Declared facts (policies/facts/*.yaml): CEL to see, Cedar to decide. What an author gets wrong is
// refused at load with the file named; what cannot be computed for a request fails closed, naming the
// fact, unless the policy says @onError("skip"); only the facts the applicable policies read are
// computed; expressions are bounded (cost budget, nesting, RE2); policies never see Secret payloads or
// environment values; and a facts change swaps in atomically, through the directory watcher and bundles.
import { cpSync, mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle, BundleSync, HttpBundleSource, createBundleStore, PolicyDirectoryWatcher, signBundle } from '../src/sources/bundle/index.js';
import { createLogger } from '../src/operations/decision-log/index.js';
import { loadPolicyDirectory } from '../src/policy/set/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { generateKeyPairSync } from 'node:crypto';
import { runCanopy } from './helpers/cli.js';
import { fixture, STARTER_POLICIES } from './helpers/fixtures.js';
import { startServer, type TestServer } from './helpers/https.js';
import { logSink } from './helpers/log-sink.js';
import { admissionReview } from './helpers/review.js';
import { packsOff } from './helpers/policy-dir.js';

type Json = Record<string, unknown>;
const logger = createLogger(logSink().stream);

/** The shipped policies plus `files` (relative path → text). */
function withFiles(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'canopy-facts-'));
  cpSync(STARTER_POLICIES, dir, { recursive: true });
  for (const [relative, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, relative)), { recursive: true });
    writeFileSync(path.join(dir, relative), text);
  }
  return dir;
}


const SERVICE_FACTS = `facts:
  - name: loadBalancer
    type: Bool
    kinds: [Service]
    groups: [""]
    description: the Service is of type LoadBalancer
    cel: object.spec.type == 'LoadBalancer'
  - name: servicePorts
    type: Set<Long>
    kinds: [Service]
    cel: object.spec.ports.map(p, p.port)
`;
const NO_LB = `@id("example.no-load-balancer")
@advice("Services of type LoadBalancer are not allowed here.")
forbid (principal, action in [k8s::Action::"create", k8s::Action::"update"], resource is k8s::Resource)
when { resource.facts has loadBalancer && resource.facts.loadBalancer };
`;

const service = (spec: Json, name = 'web'): Json => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'team-a' }, spec });
const pod = (containers: Json[], name = 'app'): Json => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'team-a', labels: { team: 'a' } }, spec: { containers } });
const container = (extra: Json = {}): Json => ({ name: 'app', image: 'registry.example.com/team-a/app:1.0', resources: { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '8Mi' } }, ...extra });

async function pipelineFor(dir: string): Promise<AdmissionPipeline> {
  const pipeline = new AdmissionPipeline();
  await pipeline.activate(await loadPolicyDirectory(dir));
  return pipeline;
}

describe('declared facts through POST /validate over HTTPS', () => {
  let server: TestServer;
  const validate = async (object: Json, options: Parameters<typeof admissionReview>[1] = {}) => {
    const result = await server.post('/validate', JSON.stringify(admissionReview(object, options)));
    expect(result.status).toBe(200);
    return (result.json() as { response: { allowed: boolean; status?: { message: string } } }).response;
  };

  beforeAll(async () => {
    server = await startServer({ policies: withFiles({ 'facts/services.yaml': SERVICE_FACTS, 'network/no-load-balancer.cedar': NO_LB }), workers: 1 });
  });
  afterAll(async () => server.close());

  it('denies what a policy judges from a declared fact, and allows what it does not match', async () => {
    const denied = await validate(service({ type: 'LoadBalancer', ports: [{ port: 443 }] }));
    expect(denied.allowed).toBe(false);
    // The shipped best-practices pack denies it too: team-a is not a namespace that may have a LoadBalancer.
    expect(denied.status?.message).toBe(
      'Canopy denied this request: [best-practices.load-balancer] Services of type LoadBalancer are not allowed in namespace team-a: set spec.type to ClusterIP and publish the Service through the shared Ingress, or ask the platform team to list the namespace in loadBalancerNamespaces or label it canopy.io/load-balancers=allowed. [example.no-load-balancer] Services of type LoadBalancer are not allowed here.',
    );
    expect((await validate(service({ type: 'ClusterIP', ports: [{ port: 80 }] }))).allowed).toBe(true);
  });

  it('fails closed when a fact cannot be computed for the request, naming the fact and the reason', async () => {
    const response = await validate(service({ ports: [{ port: 80 }] }));
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('[example.no-load-balancer] could not be evaluated (fact "loadBalancer" could not be computed: ');
    expect(response.status?.message).toMatch(/No such key: type/);
  });

  it('computes no fact for a kind it is not declared for: a Pod is judged as before', async () => {
    const response = await validate(pod([container()]));
    expect(response.allowed).toBe(true);
  });
});

describe('declared facts in the pipeline', () => {
  it('@onError("skip") opts a policy out of failing closed: the request is allowed, the error audited', async () => {
    const skip = NO_LB.replace('@advice(', '@onError("skip")\n@advice(');
    const pipeline = await pipelineFor(withFiles({ 'facts/services.yaml': SERVICE_FACTS, 'network/no-load-balancer.cedar': skip }));
    const decision = pipeline.review(admissionReview(service({ ports: [{ port: 80 }] }))).decision;
    expect(decision.allowed).toBe(true);
    expect(decision.audits.map((hit) => [hit.id, hit.error])).toEqual([['example.no-load-balancer', expect.stringContaining('fact "loadBalancer" could not be computed')]]);
  });

  it('reads the old object’s facts on UPDATE as resource.old.facts', async () => {
    const noNewPorts = `@id("example.no-new-ports")
@advice("An update may not open ports.")
forbid (principal, action == k8s::Action::"update", resource is k8s::Resource)
when { resource.facts has servicePorts && resource has old && resource.old.facts has servicePorts && !resource.old.facts.servicePorts.containsAll(resource.facts.servicePorts) };
`;
    const pipeline = await pipelineFor(withFiles({ 'facts/services.yaml': SERVICE_FACTS, 'network/ports.cedar': noNewPorts }));
    const before = service({ type: 'ClusterIP', ports: [{ port: 80 }] });
    const opened = pipeline.review(admissionReview(service({ type: 'ClusterIP', ports: [{ port: 80 }, { port: 22 }] }), { operation: 'UPDATE', oldObject: before })).decision;
    expect(opened.denials.map((hit) => hit.id)).toEqual(['example.no-new-ports']);
    const same = pipeline.review(admissionReview(service({ type: 'ClusterIP', ports: [{ port: 80 }] }, 'web'), { operation: 'UPDATE', oldObject: before })).decision;
    expect(same.allowed).toBe(true);
  });

  it('computes the old object’s facts only where a policy that can apply reads resource.old.facts', async () => {
    const manyPorts = `@id("example.few-ports")
@advice("At most two ports.")
forbid (principal, action in [k8s::Action::"create", k8s::Action::"update"], resource is k8s::Resource)
when { resource.facts has servicePorts && resource.facts.servicePorts.containsAll([80, 443, 8080]) };
`;
    const noNewPorts = `@id("example.no-new-ports")
@advice("An update may not open ports.")
forbid (principal, action == k8s::Action::"update", resource is k8s::Resource)
when { resource.facts has servicePorts && resource has old && resource.old.facts has servicePorts && !resource.old.facts.servicePorts.containsAll(resource.facts.servicePorts) };
`;
    // The Service before the update has no ports: its servicePorts cannot be computed.
    const update = admissionReview(service({ type: 'ClusterIP', ports: [{ port: 80 }] }), { operation: 'UPDATE', oldObject: service({ type: 'ClusterIP' }) });
    // The packs switched off: their rules read resource.old.facts (an UPDATE that introduces nothing new
    // passes), and many can apply to a Service's UPDATE (best-practices.load-balancer, cloud-resources.region, ...).
    const currentOnly = await pipelineFor(packsOff(withFiles({ 'facts/services.yaml': SERVICE_FACTS, 'network/few-ports.cedar': manyPorts })));
    expect(currentOnly.review(update).decision.allowed).toBe(true);
    // With the packs on, as shipped, their rules read their own facts on the old object: only those are
    // computed for it, not servicePorts, which no policy reads there.
    const shipped = await pipelineFor(withFiles({ 'facts/services.yaml': SERVICE_FACTS, 'network/few-ports.cedar': manyPorts }));
    expect(shipped.policySet?.facts.oldReads['best-practices.load-balancer']).toEqual(expect.arrayContaining(['serviceType']));
    expect(shipped.review(update).decision.allowed).toBe(true);
    const readsOld = await pipelineFor(packsOff(withFiles({ 'facts/services.yaml': SERVICE_FACTS, 'network/few-ports.cedar': manyPorts, 'network/ports.cedar': noNewPorts })));
    const decision = readsOld.review(update).decision;
    // A fact that fails on either object fails closed every policy that reads it.
    expect(decision.denials.map((hit) => [hit.id, hit.error])).toEqual([
      ['example.few-ports', expect.stringContaining('on the object before this update')],
      ['example.no-new-ports', expect.stringContaining('on the object before this update')],
    ]);
  });

  it('computes only the facts that applicable policies read: an unread fact that would fail changes nothing', async () => {
    const facts = `${SERVICE_FACTS}  - name: broken
    type: String
    kinds: ["*"]
    cel: object.spec.nothing.here
`;
    const pipeline = await pipelineFor(withFiles({ 'facts/services.yaml': facts, 'network/no-load-balancer.cedar': NO_LB }));
    expect(pipeline.review(admissionReview(service({ type: 'ClusterIP', ports: [{ port: 80 }] }))).decision.allowed).toBe(true);
    expect(pipeline.review(admissionReview(pod([container()]))).decision.allowed).toBe(true);
  });

  it('lets policies read annotations, a controller’s pod-template labels and containers, but never env values or Secret data', async () => {
    const facts = `facts:
  - name: annotations
    type: Set<String>
    kinds: ["*"]
    cel: object.metadata.?annotations.orValue({}).map(k, k + '=' + object.metadata.annotations[k])
  - name: podLabels
    type: Set<String>
    kinds: [Deployment, Pod]
    cel: "has(object.spec.template) ? object.spec.template.metadata.labels.map(k, k) : object.metadata.labels.map(k, k)"
  - name: envValues
    type: Set<String>
    kinds: [Deployment, Pod]
    cel: containers.map(c, c.?env.orValue([]).map(e, e.?value.orValue(''))).flatten()
  - name: secretValues
    type: Set<String>
    kinds: [Secret]
    cel: object.?data.orValue({}).map(k, object.data[k])
`;
    const seen = `@id("example.seen")
@advice("{{ resource.facts }}")
@mode("audit")
forbid (principal, action, resource)
when { resource.facts has annotations || resource.facts has podLabels || resource.facts has envValues || resource.facts has secretValues };
`;
    const pipeline = await pipelineFor(withFiles({ 'facts/seen.yaml': facts, 'baseline/seen.cedar': seen }));
    const deployment = structuredClone(fixture(21).request.object) as Json;
    (deployment['metadata'] as Json)['annotations'] = { 'example.com/owner': 'team-a' };
    const spec = (((deployment['spec'] as Json)['template'] as Json)['spec'] as Json);
    (spec['containers'] as Json[])[0] = { ...((spec['containers'] as Json[])[0] as Json), env: [{ name: 'PASSWORD', value: 'hunter2' }] };
    const { cedarRequest: cedar } = pipeline.cedarRequestFor(admissionReview(deployment));
    const resource = cedar.entities.find((e) => JSON.stringify(e.uid) === JSON.stringify(cedar.resource));
    const seenFacts = (resource?.attrs as Json)['facts'] as Json;
    expect(seenFacts['annotations']).toEqual(['example.com/owner=team-a']);
    expect(seenFacts['podLabels']).toEqual(expect.arrayContaining(['app']));
    expect(seenFacts['envValues']).toEqual(['<redacted>']);
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'team-a' }, data: { password: 'aHVudGVyMg==' } };
    const { cedarRequest: secretFacts } = pipeline.cedarRequestFor(admissionReview(secret));
    const secretEntity = secretFacts.entities.find((e) => JSON.stringify(e.uid) === JSON.stringify(secretFacts.resource));
    expect(((secretEntity?.attrs as Json)['facts'] as Json)['secretValues']).toEqual(['<redacted>']);
  });

  it('redacts env values wherever a custom resource keeps its containers (a KServe predictor, a Tekton step)', async () => {
    const facts = `facts:
  - name: customEnv
    type: Set<String>
    kinds: [InferenceService, TaskRun]
    cel: "has(object.spec.predictor) ? object.spec.predictor.containers.map(c, c.env.map(e, e.name + '=' + e.value)).flatten() : object.spec.taskSpec.steps.map(s, s.env.map(e, e.name + '=' + e.value)).flatten()"
`;
    const seen = `@id("example.custom-env")\n@advice("x")\n@mode("audit")\nforbid (principal, action, resource is k8s::Resource) when { resource.facts has customEnv };\n`;
    const pipeline = await pipelineFor(withFiles({ 'facts/custom.yaml': facts, 'baseline/custom.cedar': seen }));
    const factsOf = (object: Json) => {
      const { cedarRequest } = pipeline.cedarRequestFor(admissionReview(object));
      const entity = cedarRequest.entities.find((e) => JSON.stringify(e.uid) === JSON.stringify(cedarRequest.resource));
      return ((entity?.attrs as Json)['facts'] as Json)['customEnv'];
    };
    const isvc = { apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', metadata: { name: 'm', namespace: 'team-a' }, spec: { predictor: { containers: [{ name: 'kserve-container', image: 'x', env: [{ name: 'API_KEY', value: 'hunter2' }] }] } } };
    const taskRun = { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 't', namespace: 'team-a' }, spec: { taskSpec: { steps: [{ name: 'build', image: 'x', env: [{ name: 'TOKEN', value: 's3cret' }] }] } } };
    expect(factsOf(isvc)).toEqual(['API_KEY=<redacted>']);
    expect(factsOf(taskRun)).toEqual(['TOKEN=<redacted>']);
  });

  it('stops a runaway expression at its cost budget, quickly, and denies naming the fact', async () => {
    const facts = `facts:
  - name: pairs
    type: Bool
    kinds: [Pod]
    cel: containers.all(a, containers.all(b, a.name != b.name || a == b))
`;
    const policy = `@id("example.pairs")
@advice("Container names must be unique.")
forbid (principal, action, resource is k8s::Workload) when { resource.facts has pairs && !resource.facts.pairs };
`;
    const pipeline = await pipelineFor(withFiles({ 'facts/pairs.yaml': facts, 'baseline/pairs.cedar': policy }));
    expect(pipeline.review(admissionReview(pod([container(), { ...container(), name: 'b' }]))).decision.allowed).toBe(true);
    const many = Array.from({ length: 3000 }, (_, i) => ({ ...container(), name: `c${i}` }));
    const started = process.hrtime.bigint();
    const decision = pipeline.review(admissionReview(pod(many))).decision;
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(decision.allowed).toBe(false);
    expect(decision.denials[0]?.error).toMatch(/fact "pairs" could not be computed: the expression exceeded its cost budget of 1000000 steps/);
    // 9 million steps unbounded; the budget stops it after one million (seconds would mean no bound).
    expect(ms).toBeLessThan(5000);
  });

  it('matches regular expressions with RE2: a pattern that backtracks for ever in JavaScript answers at once', async () => {
    const facts = `facts:
  - name: repeated
    type: Bool
    kinds: [Pod]
    cel: object.metadata.name.matches('^(a+)+$')
`;
    const policy = `@id("example.repeated")
@advice("No.")
forbid (principal, action, resource is k8s::Workload) when { resource.facts has repeated && resource.facts.repeated };
`;
    const pipeline = await pipelineFor(withFiles({ 'facts/re.yaml': facts, 'baseline/re.cedar': policy }));
    const started = process.hrtime.bigint();
    const decision = pipeline.review(admissionReview(pod([container()], `${'a'.repeat(40)}!`))).decision;
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(2000);
    expect(decision.allowed).toBe(true);
    expect(pipeline.review(admissionReview(pod([container()], 'aaaa'))).decision.allowed).toBe(false);
  });
});

describe('canopy validate refuses what an author gets wrong, naming the file', () => {
  const refused = async (files: Record<string, string>) => {
    const dir = withFiles(files);
    const result = await runCanopy(['validate', dir]);
    expect(result.code).toBe(1);
    return result.stderr;
  };
  const fact = (body: string) => `facts:\n  - name: f\n${body}`;
  const reader = `@id("example.reads-f")\n@advice("x")\nforbid (principal, action, resource is k8s::Resource) when { resource.facts has f && resource.facts.f == "x" };\n`;

  it.each([
    ['a CEL syntax error', fact('    type: String\n    kinds: [Service]\n    cel: object.spec.type ==\n'), /facts\/f\.yaml:5:\d+: fact "f": CEL: /],
    ['a type mismatch', fact('    type: Long\n    kinds: [Service]\n    cel: object.metadata.name.startsWith("a")\n'), /facts\/f\.yaml:5:\d+: fact "f" is declared Long, but its CEL expression gives bool/],
    ['an unknown variable', fact('    type: String\n    kinds: [Service]\n    cel: service.spec.type\n'), /facts\/f\.yaml:5:\d+: fact "f": CEL: .*service/],
    ['an unknown type name', fact('    type: Integer\n    kinds: [Service]\n    cel: "1"\n'), /facts\/f\.yaml:2:\d+: fact "f": unknown type "Integer"; the types are Bool, Long, String, Set<String>, Set<Long>/],
    ['comprehensions nested three deep', fact('    type: Bool\n    kinds: [Pod]\n    cel: containers.all(a, containers.all(b, containers.all(c, true)))\n'), /nest more than 2 deep/],
    ['a regular expression that is not a literal', fact('    type: Bool\n    kinds: [Pod]\n    cel: object.metadata.name.matches(object.metadata.name)\n'), /must be a string literal/],
  ])('%s', async (_what, text, expected) => {
    expect(await refused({ 'facts/f.yaml': text })).toMatch(expected);
  });

  it('a duplicate fact name, naming both places', async () => {
    const one = fact('    type: String\n    kinds: [Service]\n    cel: object.spec.type\n');
    expect(await refused({ 'facts/a.yaml': one, 'facts/b.yaml': one })).toMatch(/facts\/b\.yaml:2:\d+: duplicate fact "f": also declared at .*facts\/a\.yaml:2/);
  });

  it('a policy reading a fact nobody declared, at its line and column, with the facts that are declared', async () => {
    const declared = fact('    type: String\n    kinds: [Service]\n    cel: object.spec.type\n');
    const stderr = await refused({ 'facts/f.yaml': declared, 'network/typo.cedar': reader.replace(/facts\.f\b/g, 'facts.g').replace('has f', 'has g') });
    expect(stderr).toMatch(/network\/typo\.cedar:\d+:\d+: .*g.*; the declared facts are f/);
  });

  it('accepts a correct declaration and the policy reading it', async () => {
    const dir = withFiles({ 'facts/f.yaml': fact('    type: String\n    kinds: [Service]\n    cel: object.spec.type\n'), 'network/reads.cedar': reader });
    const result = await runCanopy(['validate', dir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

// The best-practices pack switched off here: its best-practices.load-balancer denies this LoadBalancer
// Service already, and its own cases (which a bundle must pass) expect it to be the only rule denying a
// LoadBalancer, which example.no-load-balancer contradicts.
describe('a facts change swaps in atomically', () => {
  const lb = admissionReview(service({ type: 'LoadBalancer', ports: [{ port: 443 }] }));

  it('through the directory watcher: a new fact applies, a broken one is refused and the last good set keeps serving', async () => {
    const dir = packsOff(withFiles({ 'network/no-load-balancer.cedar': '// added with its fact\n' }), ['best-practices']);
    const pipeline = await pipelineFor(dir);
    const watcher = new PolicyDirectoryWatcher(dir, pipeline, logger, 60_000);
    await watcher.start();
    expect(pipeline.review(lb).decision.allowed).toBe(true);
    writeFileSync(path.join(dir, 'network/no-load-balancer.cedar'), NO_LB);
    mkdirSync(path.join(dir, 'facts'), { recursive: true });
    writeFileSync(path.join(dir, 'facts/services.yaml'), SERVICE_FACTS);
    await watcher.check();
    expect(pipeline.review(lb).decision.allowed).toBe(false);
    const good = pipeline.policySet?.revision;
    writeFileSync(path.join(dir, 'facts/services.yaml'), SERVICE_FACTS.replace("== 'LoadBalancer'", '== '));
    await watcher.check();
    watcher.stop();
    expect(watcher.status().lastReload).toMatchObject({ result: 'refused' });
    expect(pipeline.policySet?.revision).toBe(good);
    expect(pipeline.review(lb).decision.allowed).toBe(false);
  });

  it('through a signed bundle from the store: the facts travel with the policies', async () => {
    const key = generateKeyPairSync('ed25519');
    const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const built = await buildBundle(packsOff(withFiles({ 'facts/services.yaml': SERVICE_FACTS, 'network/no-load-balancer.cedar': NO_LB }), ['best-practices']), { revision: 'facts-1', createdAt: new Date() });
    const signed = (await signBundle(built.bytes, pem)).bytes;
    const storeDir = mkdtempSync(path.join(tmpdir(), 'canopy-facts-store-'));
    writeFileSync(path.join(storeDir, 'bundle.tgz'), signed);
    const store = await createBundleStore({ dir: storeDir, pollMs: 20 });
    const url = `${await store.listen({ port: 0, host: '127.0.0.1' })}/bundle.tgz`;
    try {
      const pipeline = new AdmissionPipeline();
      const sync = new BundleSync(new HttpBundleSource(url), [key.publicKey], pipeline, { stateDir: mkdtempSync(path.join(tmpdir(), 'canopy-facts-state-')), logger });
      await sync.check();
      expect(pipeline.policySet?.revision).toBe('facts-1');
      expect(pipeline.policySet?.facts.declarations.map((d) => d.name)).toEqual(expect.arrayContaining(['loadBalancer', 'servicePorts']));
      expect(pipeline.review(lb).decision.denials.map((hit) => hit.id)).toEqual(['example.no-load-balancer']);
    } finally {
      await store.close();
    }
  });
});
