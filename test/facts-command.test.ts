// `canopy facts FILE...`: every fact Cedar sees about a request, built-in and declared, for
// AdmissionReviews and manifests, as text and as JSON; never a Secret's data or an environment value.
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCanopy, type CliResult } from './helpers/cli.js';
import { FIXTURE_DIR, STARTER_POLICIES } from './helpers/fixtures.js';

const DEPLOYMENT_CREATE = `${FIXTURE_DIR}021-Deployment-CREATE.json`; // replicas 2, label app=api, by kubernetes-admin
const DEPLOYMENT_UPDATE = `${FIXTURE_DIR}031-Deployment-UPDATE.json`; // replicas 3 → 5, image 1.4.2 → 1.5.0
const SECRET_CREATE = `${FIXTURE_DIR}067-Secret-CREATE.json`; // data password czNjcjN0 (s3cr3t), stringData in last-applied

const FACTS = `facts:
  - name: replicas
    type: Long
    kinds: [Deployment, StatefulSet]
    groups: [apps]
    description: how many pods the controller keeps running
    cel: object.spec.replicas
  - name: scale
    type: String
    kinds: [Deployment]
    cel: "object.spec.replicas >= 5 ? 'large' : object.spec.nothing.here"
  - name: broken
    type: String
    kinds: ["*"]
    description: reads a field no object has
    cel: object.spec.nothing.here
  - name: annotations
    type: Set<String>
    kinds: ["*"]
    cel: object.metadata.?annotations.orValue({}).map(k, k + '=' + object.metadata.annotations[k])
  - name: secretValues
    type: Set<String>
    kinds: [Secret]
    cel: object.?data.orValue({}).map(k, object.data[k])
  - name: envValues
    type: Set<String>
    kinds: [Deployment]
    cel: containers.map(c, c.?env.orValue([]).map(e, e.?value.orValue(''))).flatten()
`;
const REPLICAS_POLICY = `@id("example.replicas")
@advice("At most 10 replicas.")
forbid (principal, action, resource is k8s::Workload)
when { resource.facts has replicas && resource.facts.replicas > 10 };
`;

const MANIFESTS = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, team: shop}
spec:
  replicas: 7
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:latest
          env: [{name: PASSWORD, value: hunter2-env-value}]
          securityContext: {privileged: true}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
data: {password: bWFuaWZlc3Qtc2VjcmV0}
stringData: {token: manifest-plain-token}
`;

/** The lines of `text` after the first line matching `start`, up to the next line indented no deeper. */
function block(text: string, start: RegExp): string[] {
  const lines = text.split('\n');
  const at = lines.findIndex((line) => start.test(line));
  expect(at, `no line matching ${start} in:\n${text}`).toBeGreaterThanOrEqual(0);
  const indent = (line: string) => line.length - line.trimStart().length;
  const depth = indent(lines[at] ?? '');
  const end = lines.findIndex((line, index) => index > at && line.trim() !== '' && indent(line) <= depth);
  return lines.slice(at + 1, end === -1 ? undefined : end);
}

interface FactView {
  type: string;
  description?: string;
  value?: unknown;
  failure?: string;
}
interface EntityView {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  tags: Record<string, unknown>;
}
interface ObjectFacts {
  file: string;
  source: string;
  request: { operation: string; kind: string; namespace: string; name: string };
  principal: EntityView & { groups: string[] };
  resource: EntityView & { facts: Record<string, FactView>; old?: EntityView & { facts: Record<string, FactView> } };
  context: Record<string, unknown>;
  namespace?: EntityView;
  cluster?: EntityView;
}

const parseLines = (stdout: string): ObjectFacts[] =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as ObjectFacts);

describe('canopy facts', () => {
  let policies: string;
  let work: string;
  const facts = (args: string[], input?: string): Promise<CliResult> =>
    runCanopy(['facts', '--policies', policies, ...args], input === undefined ? {} : { input });

  beforeAll(() => {
    policies = mkdtempSync(path.join(tmpdir(), 'canopy-facts-cmd-'));
    cpSync(STARTER_POLICIES, policies, { recursive: true });
    mkdirSync(path.join(policies, 'facts'), { recursive: true });
    writeFileSync(path.join(policies, 'facts/x.yaml'), FACTS);
    writeFileSync(path.join(policies, 'baseline/replicas.cedar'), REPLICAS_POLICY);
    work = mkdtempSync(path.join(tmpdir(), 'canopy-facts-input-'));
    writeFileSync(path.join(work, 'app.yaml'), MANIFESTS);
  });

  it('prints a real AdmissionReview as Cedar sees it: the entity, its attributes, declared facts, tags, context, principal, namespace, cluster', async () => {
    const result = await facts([DEPLOYMENT_CREATE]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out.split('\n')[0]).toBe(`CREATE Deployment team-a/api  (${DEPLOYMENT_CREATE})`);
    expect(out).toMatch(/^ {2}action +k8s::Action::"create"$/m);
    const resource = block(out, /^ {2}resource +k8s::Workload::"team-a\/api"$/);
    // Built-in attributes, sets as lists, records nested.
    expect(resource).toContainEqual(expect.stringMatching(/^ {4}kind +"Deployment"$/));
    expect(resource).toContainEqual(expect.stringMatching(/^ {4}images +\["registry\.example\.com\/team-a\/api:1\.4\.2"\]$/));
    expect(resource).toContainEqual(expect.stringMatching(/^ {4}privilegedContainers +\[\]$/));
    expect(block(resource.join('\n'), /^ {4}storage$/)).toContainEqual(expect.stringMatching(/^ {6}unconstrained +false$/));
    // Declared facts, with their declared type and description.
    const declared = block(resource.join('\n'), /^ {4}facts$/);
    expect(declared).toContainEqual(expect.stringMatching(/^ {6}replicas +Long +2 +# how many pods the controller keeps running$/));
    // The fixture's container sets LOG_LEVEL: a fact reading env values sees it redacted.
    expect(declared).toContainEqual(expect.stringMatching(/^ {6}envValues +Set<String> +\["<redacted>"\]$/));
    // Labels as tags.
    expect(block(resource.join('\n'), /^ {4}tags$/)).toEqual([expect.stringMatching(/^ {6}app +"api"$/)]);
    expect(resource.some((line) => /^ {4}old\b/.test(line))).toBe(false);
    const context = block(out, /^ {2}context$/);
    expect(context).toContainEqual(expect.stringMatching(/^ {4}operation +"CREATE"$/));
    expect(context).toContainEqual(expect.stringMatching(/^ {4}namespace +k8s::Namespace::"team-a"$/));
    expect(block(out, /^ {2}principal +k8s::User::"kubernetes-admin"$/)).toContainEqual(
      expect.stringMatching(/^ {4}groups +k8s::Group::"system:masters", k8s::Group::"system:authenticated"$/),
    );
    expect(block(out, /^ {2}namespace +k8s::Namespace::"team-a"$/)).toContainEqual(expect.stringMatching(/^ {4}tags +\{\} \(no labels known/));
    expect(block(out, /^ {2}cluster +k8s::Cluster::"local"$/)).toContainEqual(expect.stringMatching(/^ {4}name +"local"$/));
  });

  it('shows a fact that could not be computed with the reason', async () => {
    const result = await facts([DEPLOYMENT_CREATE]);
    expect(result.code).toBe(0);
    const declared = block(block(result.stdout, /^ {2}resource /).join('\n'), /^ {4}facts$/);
    expect(declared).toContainEqual(expect.stringMatching(/^ {6}broken +String +could not be computed: No such key: nothing +# reads a field no object has$/));
    expect(declared).toContainEqual(expect.stringMatching(/^ {6}scale +String +could not be computed: No such key: nothing$/));
  });

  it('on UPDATE shows the old object with its own attributes and facts, and a fact that failed only before the update', async () => {
    const result = await facts([DEPLOYMENT_UPDATE]);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe(`UPDATE Deployment team-a/api  (${DEPLOYMENT_UPDATE})`);
    const resource = block(result.stdout, /^ {2}resource +k8s::Workload::"team-a\/api"$/);
    const old = block(resource.join('\n'), /^ {4}old +k8s::Workload::"team-a\/api#old"$/);
    const current = resource.slice(0, resource.findIndex((line) => /^ {4}old\b/.test(line)));
    expect(current).toContainEqual(expect.stringMatching(/^ {4}images +\["registry\.example\.com\/team-a\/api:1\.5\.0"\]$/));
    expect(old).toContainEqual(expect.stringMatching(/^ {6}images +\["registry\.example\.com\/team-a\/api:1\.4\.2"\]$/));
    const nowFacts = block(current.join('\n'), /^ {4}facts$/);
    const oldFacts = block(old.join('\n'), /^ {6}facts$/);
    expect(nowFacts).toContainEqual(expect.stringMatching(/^ {6}replicas +Long +5 /));
    expect(oldFacts).toContainEqual(expect.stringMatching(/^ {8}replicas +Long +3 /));
    expect(nowFacts).toContainEqual(expect.stringMatching(/^ {6}scale +String +"large"$/));
    expect(oldFacts).toContainEqual(expect.stringMatching(/^ {8}scale +String +could not be computed: on the object before this update: No such key: nothing$/));
    expect(block(old.join('\n'), /^ {6}tags$/)).toEqual([expect.stringMatching(/^ {8}app +"api"$/)]);
    expect(block(result.stdout, /^ {2}context$/)).toContainEqual(expect.stringMatching(/^ {4}operation +"UPDATE"$/));
  });

  it('judges a manifest file as canopy audit does: a dry-run CREATE per document, with the namespace labels given', async () => {
    const file = path.join(work, 'app.yaml');
    const result = await facts(['--namespace-labels', 'canopy.io/data-class=confidential,team=shop', file]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [deployment = '', secret = ''] = result.stdout.split('\n\n');
    expect(deployment.split('\n')[0]).toBe(`CREATE Deployment shop/web  (${file}#1, a manifest, as canopy audit judges it: a dry-run CREATE)`);
    expect(secret.split('\n')[0]).toBe(`CREATE Secret shop/creds  (${file}#2, a manifest, as canopy audit judges it: a dry-run CREATE)`);
    const resource = block(deployment, /^ {2}resource +k8s::Workload::"shop\/web"$/);
    expect(resource).toContainEqual(expect.stringMatching(/^ {4}privilegedContainers +\["web"\]$/));
    expect(resource).toContainEqual(expect.stringMatching(/^ {4}latestImages +\["docker\.io\/library\/nginx:latest"\]$/));
    expect(block(resource.join('\n'), /^ {4}facts$/)).toContainEqual(expect.stringMatching(/^ {6}replicas +Long +7 /));
    expect(block(resource.join('\n'), /^ {4}tags$/)).toEqual([expect.stringMatching(/^ {6}app +"web"$/), expect.stringMatching(/^ {6}team +"shop"$/)]);
    const context = block(deployment, /^ {2}context$/);
    expect(context).toContainEqual(expect.stringMatching(/^ {4}dryRun +true$/));
    expect(block(context.join('\n'), /^ {4}sovereignty$/)).toContainEqual(expect.stringMatching(/^ {6}dataClass +"confidential"$/));
    expect(block(deployment, /^ {2}principal +k8s::User::"canopy:audit"$/)).toContainEqual(expect.stringMatching(/^ {4}groups +k8s::Group::"system:authenticated"$/));
    expect(block(block(deployment, /^ {2}namespace +k8s::Namespace::"shop"$/).join('\n'), /^ {4}tags$/)).toEqual([
      expect.stringMatching(/^ {6}canopy\.io\/data-class +"confidential"$/),
      expect.stringMatching(/^ {6}team +"shop"$/),
    ]);
  });

  it('--json prints one object per request with the same content, and reads standard input', async () => {
    const files = await facts(['--json', DEPLOYMENT_CREATE, DEPLOYMENT_UPDATE]);
    expect(files.code).toBe(0);
    const [created, updated] = parseLines(files.stdout);
    expect(created?.request).toMatchObject({ operation: 'CREATE', kind: 'Deployment', namespace: 'team-a', name: 'api' });
    expect(created?.resource).toMatchObject({ type: 'k8s::Workload', id: 'team-a/api', tags: { app: 'api' } });
    expect(created?.resource.attributes['images']).toEqual(['registry.example.com/team-a/api:1.4.2']);
    expect(created?.resource.attributes).not.toHaveProperty('facts');
    expect(created?.resource.facts['replicas']).toEqual({ type: 'Long', description: 'how many pods the controller keeps running', value: 2 });
    expect(created?.resource.facts['broken']).toEqual({ type: 'String', description: 'reads a field no object has', failure: 'No such key: nothing' });
    expect(created?.resource.old).toBeUndefined();
    expect(created?.principal).toMatchObject({ type: 'k8s::User', id: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] });
    expect(created?.context).toMatchObject({ operation: 'CREATE', subresource: '', namespace: { __entity: { type: 'k8s::Namespace', id: 'team-a' } } });
    expect(created?.namespace).toMatchObject({ type: 'k8s::Namespace', id: 'team-a', tags: {} });
    expect(created?.cluster).toMatchObject({ type: 'k8s::Cluster', id: 'local' });
    expect(updated?.resource.old?.facts['replicas']?.value).toBe(3);
    expect(updated?.resource.old?.facts['scale']?.failure).toBe('on the object before this update: No such key: nothing');

    const stdin = await facts(['--json', '-'], MANIFESTS);
    expect(stdin.code).toBe(0);
    expect(parseLines(stdin.stdout).map((view) => [view.file, view.source, view.request.kind])).toEqual([
      ['stdin#1', 'manifest', 'Deployment'],
      ['stdin#2', 'manifest', 'Secret'],
    ]);
  });

  it('never prints a Secret’s data, its last-applied stringData, or an environment value', async () => {
    const file = path.join(work, 'app.yaml');
    for (const args of [[SECRET_CREATE, file], ['--json', SECRET_CREATE, file]]) {
      const result = await facts(args);
      expect(result.code).toBe(0);
      // The facts that read them are there, redacted.
      expect(result.stdout).toMatch(/secretValues/);
      expect(result.stdout).toMatch(/envValues/);
      expect(result.stdout).toContain('<redacted>');
      for (const secret of ['czNjcjN0', 's3cr3t', 'YXBw', 'bWFuaWZlc3Qtc2VjcmV0', 'manifest-secret', 'manifest-plain-token', 'hunter2-env-value']) {
        expect(result.stdout).not.toContain(secret);
        expect(result.stderr).not.toContain(secret);
      }
    }
  });

  it('exits 2 with a clear message on unreadable input, still printing what it could read', async () => {
    writeFileSync(path.join(work, 'broken.json'), '{"kind": "AdmissionReview",');
    writeFileSync(path.join(work, 'no-kind.yaml'), 'spec: {replicas: 1}\n');
    writeFileSync(path.join(work, 'old-review.json'), JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }));
    const missing = path.join(work, 'missing.json');
    const result = await facts([path.join(work, 'broken.json'), path.join(work, 'no-kind.yaml'), path.join(work, 'old-review.json'), missing, DEPLOYMENT_CREATE]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`canopy facts: ${path.join(work, 'broken.json')}: not JSON: `);
    expect(result.stderr).toContain(`canopy facts: ${path.join(work, 'no-kind.yaml')}: neither an AdmissionReview nor a Kubernetes object (no apiVersion and kind)`);
    expect(result.stderr).toContain(`canopy facts: ${path.join(work, 'old-review.json')}: not a valid AdmissionReview v1: apiVersion must be "admission.k8s.io/v1"`);
    expect(result.stderr).toContain(`canopy facts: ${missing}: cannot read: ENOENT`);
    expect(result.stdout.split('\n')[0]).toBe(`CREATE Deployment team-a/api  (${DEPLOYMENT_CREATE})`);

    const labels = await facts(['--namespace-labels', 'team', DEPLOYMENT_CREATE]);
    expect(labels.code).toBe(2);
    expect(labels.stderr).toBe('canopy facts: --namespace-labels: expected key=value[,key=value...], got "team"\n');
  });

  it('exits 2 on unusable policies, naming the directory', async () => {
    const broken = mkdtempSync(path.join(tmpdir(), 'canopy-facts-bad-'));
    cpSync(policies, broken, { recursive: true });
    writeFileSync(path.join(broken, 'facts/x.yaml'), FACTS.replace('cel: object.spec.replicas', 'cel: object.spec.replicas =='));
    const result = await runCanopy(['facts', '--policies', broken, DEPLOYMENT_CREATE]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(new RegExp(`^canopy facts: ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: policy set does not validate[\\s\\S]*facts/x\\.yaml:\\d+:\\d+: fact "replicas": CEL`));
  });
});
