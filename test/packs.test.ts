// Policy packs (policies/packs/NAME/): a folder of policies, facts, data and tests that data/packs.yaml
// switches on or off, and whose rules' modes it sets, without an edit of the pack's Cedar. A pack that
// is off is still validated and its tests do not run; a mistake in packs.yaml refuses the whole set,
// naming the file; a pack's facts and data travel with it, also in a bundle.
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyLoadError } from '../src/policy/engine/index.js';
import { checkPolicySet, loadPolicyDirectory, policyFilesOf, policySourceFromFiles } from '../src/policy/set/index.js';
import { AdmissionPipeline } from '../src/pipeline/index.js';
import { runPolicyTests, runPolicyTestsFromFiles } from '../src/policy/tests/index.js';
import { runCanopy } from './helpers/cli.js';
import { STARTER_POLICIES } from './helpers/fixtures.js';
import { packsOf, packsOff, policyDir } from './helpers/policy-dir.js';
import { admissionReview } from './helpers/review.js';

type Json = Record<string, unknown>;

// A small pack of its own, so that these tests hold whatever the shipped packs say: a Service may
// not expose the ports its data forbids (a fact reading the pack's data), and every Service is warned
// that it has no owner annotation.
const PACK: Record<string, string> = {
  'packs/ports/facts/ports.yaml': `facts:
  - name: forbiddenPorts
    type: Set<Long>
    kinds: [Service]
    groups: [""]
    cel: object.spec.?ports.orValue([]).map(p, p.port).filter(p, p in params['ports-data'].forbidden)
`,
  'packs/ports/data/ports-data.yaml': 'forbidden: [22, 23]\n',
  'packs/ports/network/ports.cedar': `@id("ports.forbidden")
@advice("Do not expose ports {{ resource.facts.forbiddenPorts }}.")
forbid (principal, action in [k8s::Action::"create", k8s::Action::"update"], resource is k8s::Resource)
when { resource.facts has forbiddenPorts && !resource.facts.forbiddenPorts.isEmpty() };
`,
  'packs/ports/network/owner.cedar': `@id("ports.owner")
@mode("warn")
@advice("Say who owns this Service.")
forbid (principal, action == k8s::Action::"create", resource is k8s::Resource)
when { resource.kind == "Service" };
`,
  'packs/ports/network/ports.test.yaml': `cases:
  - name: ssh is denied
    object: {apiVersion: v1, kind: Service, metadata: {name: ssh, namespace: team-a}, spec: {ports: [{port: 22}]}}
    expect: {allowed: false, denied: [ports.forbidden], warnings: [ports.owner]}
`,
};

const service = (port: number): Json => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${port}`, namespace: 'team-a' }, spec: { ports: [{ port }] } });

async function pipelineFor(dir: string): Promise<AdmissionPipeline> {
  const pipeline = new AdmissionPipeline();
  await pipeline.activate(await loadPolicyDirectory(dir));
  return pipeline;
}

const ids = (hits: ReadonlyArray<{ id: string }>) => hits.map((hit) => hit.id);

async function loadError(files: Record<string, string>): Promise<string> {
  const error = await loadPolicyDirectory(policyDir(files)).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(PolicyLoadError);
  return (error as Error).message;
}

describe('a policy pack', () => {
  it('is on unless data/packs.yaml says otherwise: its facts read its own data, its policies deny and warn', async () => {
    const pipeline = await pipelineFor(policyDir(PACK));
    const ssh = pipeline.review(admissionReview(service(22))).decision;
    expect(ids(ssh.denials)).toEqual(['ports.forbidden']);
    expect(ssh.denials[0]?.advice).toBe('Do not expose ports 22.');
    expect(ids(ssh.warnings)).toEqual(['ports.owner']);
    expect(pipeline.review(admissionReview(service(443))).decision.allowed).toBe(true);
    expect(pipeline.policySet?.packs).toEqual([
      { name: 'ports', enabled: true, rules: [{ id: 'ports.forbidden', mode: 'enforce' }, { id: 'ports.owner', mode: 'warn' }] },
    ]);
  });

  it('switched off, none of its rules is active and its tests do not run; it is still validated', async () => {
    const off = { ...PACK, 'data/packs.yaml': 'packs:\n  ports:\n    enabled: false\n' };
    const pipeline = await pipelineFor(policyDir(off));
    const decision = pipeline.review(admissionReview(service(22))).decision;
    expect(decision.allowed).toBe(true);
    expect(decision.warnings).toEqual([]);
    expect(pipeline.policySet?.policies.has('ports.forbidden')).toBe(false);
    expect(pipeline.policySet?.packs).toEqual([{ name: 'ports', enabled: false, rules: [{ id: 'ports.forbidden', mode: 'off' }, { id: 'ports.owner', mode: 'off' }] }]);

    const suite = await runPolicyTests(policyDir(off));
    expect(suite.files).toEqual([]);
    expect(suite.results).toEqual([]);

    const broken = { ...off, 'packs/ports/network/owner.cedar': PACK['packs/ports/network/owner.cedar']?.replace('resource.kind == "Service"', 'resource.kind == 3') ?? '' };
    expect(await loadError(broken)).toMatch(/packs\/ports\/network\/owner\.cedar:\d+:\d+/);
  });

  it('sets a rule’s mode from data: enforce to warn, warn to off', async () => {
    const modes = { ...PACK, 'data/packs.yaml': 'packs:\n  ports:\n    modes:\n      ports.forbidden: warn\n      ports.owner: off\n' };
    const pipeline = await pipelineFor(policyDir(modes));
    const decision = pipeline.review(admissionReview(service(22))).decision;
    expect(decision.allowed).toBe(true);
    expect(ids(decision.warnings)).toEqual(['ports.forbidden']);
    expect(pipeline.policySet?.texts['ports.owner']).toBeUndefined();
  });

  it('refuses a packs.yaml that names a pack, a rule or a mode that does not exist, naming the file', async () => {
    const unknownPack = await loadError({ ...PACK, 'data/packs.yaml': 'packs:\n  port:\n    enabled: false\n' });
    expect(unknownPack).toMatch(/data\/packs\.yaml:1:1: packs data: packs\.port: no such pack \(no folder packs\/port\/\); the packs are ports/);
    const unknownRule = await loadError({ ...PACK, 'data/packs.yaml': 'packs:\n  ports:\n    modes:\n      ports.owners: warn\n' });
    expect(unknownRule).toContain('"ports.owners" is not a rule of pack ports (its rules are ports.forbidden, ports.owner)');
    const badMode = await loadError({ ...PACK, 'data/packs.yaml': 'packs:\n  ports:\n    modes:\n      ports.owner: deny\n' });
    expect(badMode).toContain('packs.ports.modes.ports.owner must be one of enforce, warn, audit, off');
    const badKey = await loadError({ ...PACK, 'data/packs.yaml': 'packs:\n  ports:\n    enable: false\n' });
    expect(badKey).toContain('packs.ports: unknown key "enable" (allowed: enabled, modes)');
  });

  it('refuses a data file name a pack shares with data/: params would be ambiguous', async () => {
    const message = await loadError({ ...PACK, 'data/ports-data.yaml': 'forbidden: []\n' });
    expect(message).toContain('data "ports-data" is defined by two files');
  });

  it('travels whole in a bundle’s files: facts and data of the pack, and its tests skipped when it is off', async () => {
    const files = await policyFilesOf(policyDir(PACK));
    expect([...files.keys()].sort()).toEqual(['packs/ports/data/ports-data.yaml', 'packs/ports/facts/ports.yaml', 'packs/ports/network/owner.cedar', 'packs/ports/network/ports.cedar', 'schema.cedarschema']);
    const withTests = new Map([...files, ['packs/ports/network/ports.test.yaml', PACK['packs/ports/network/ports.test.yaml'] ?? ''], ['data/packs.yaml', 'packs:\n  ports: {enabled: false}\n']]);
    const checked = checkPolicySet(policySourceFromFiles(withTests, 'bundle:1'));
    const pipeline = new AdmissionPipeline();
    await pipeline.activate(checked);
    expect((await runPolicyTestsFromFiles(withTests, pipeline, checked)).files).toEqual([]);
    withTests.set('data/packs.yaml', 'packs: {}\n');
    const on = checkPolicySet(policySourceFromFiles(withTests, 'bundle:2'));
    await pipeline.activate(on);
    const suite = await runPolicyTestsFromFiles(withTests, pipeline, on);
    expect(suite.results.map((result) => result.passed)).toEqual([true]);
  });

  it('canopy validate says which packs are on, and how many rules each has in each mode', async () => {
    const result = await runCanopy(['validate', policyDir({ ...PACK, 'data/packs.yaml': 'packs:\n  ports:\n    modes: {ports.owner: audit}\n' })]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/valid \(2 policies, 0 mutations; packs: ports \(1 enforce, 1 audit\); revision/);
  });
});

describe('the shipped packs', () => {
  const packs = packsOf(STARTER_POLICIES);
  const switched = (off: readonly string[]) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'canopy-packs-off-'));
    cpSync(STARTER_POLICIES, dir, { recursive: true });
    return packsOff(dir, off);
  };

  it.each([...packs.map((name) => [name, [name]] as const), ['every pack', packs] as const])('can be switched off (%s): the rest of policies/ still passes its own tests, every remaining policy matched', async (_what, off) => {
    const suite = await runPolicyTests(switched(off), { coverage: true });
    expect(suite.problems).toEqual([]);
    expect(suite.results.filter((result) => !result.passed).map((result) => `${result.testCase.file}:${result.testCase.line} ${result.failures.join('; ')}`)).toEqual([]);
    expect(suite.coverage?.filter((entry) => entry.matched === 0).map((entry) => entry.id)).toEqual([]);
    expect(suite.files.some((file) => off.some((name) => file.includes(`/packs/${name}/`)))).toBe(false);
    expect(suite.coverage?.some((entry) => off.some((name) => entry.id.startsWith(`${name}.`)))).toBe(false);
  });
});
